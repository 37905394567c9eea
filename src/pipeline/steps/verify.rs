//! The verify step: the repository's own commands, run in the sandbox after
//! the agent (and after each fix round).

use std::time::Duration;

use super::exec::{run_step, sh};
use crate::jobs::JobEnd;
use crate::pipeline::job_run::JobRun;
use crate::pipeline::plan::TimedPlan;
use crate::report::text::CommandResult;

/// One verification command's result.
#[derive(Debug, Clone)]
pub struct VerifyResult {
    pub command: String,
    pub exit_code: Option<i64>,
    pub passed: bool,
    pub duration: Duration,
    pub tail: String,
}

impl VerifyResult {
    /// The result as the pull request's description shows it.
    pub(crate) fn for_report(&self) -> CommandResult<'_> {
        CommandResult {
            command: &self.command,
            passed: self.passed,
            exit_code: self.exit_code,
            duration: self.duration,
        }
    }
}

/// Runs every verification command (each one, even after a failure).
pub(crate) async fn verify(run: &mut JobRun<'_>, plan: &TimedPlan) -> Result<Vec<VerifyResult>, JobEnd> {
    let mut results = Vec::new();
    for cmd in &plan.verify {
        let req = sh(&cmd.run).env("CI", "true");
        let r = run_step(&mut run.log, &run.sandbox, "verify", req, Some(cmd.timeout)).await?;
        results.push(VerifyResult {
            command: cmd.run.clone(),
            exit_code: r.exit_code(),
            passed: r.passed(),
            duration: r.duration,
            tail: r.tail,
        });
    }
    Ok(results)
}

/// Whether every command passed (none: vacuously).
pub(crate) fn all_passed(results: &[VerifyResult]) -> bool {
    results.iter().all(|v| v.passed)
}
