//! The sandbox phase: start the job's container, put the working copy in
//! it, run the setup commands, the agent, and verification with its fix
//! rounds.

use tokio_util::sync::CancellationToken;

use super::agent::run_agent;
use super::exec::{run_step, sh};
use super::verify::{VerifyResult, all_passed, verify};
use crate::jobs::{Failure, Job, JobEnd};
use crate::pipeline::brief::{self, VerifyFailure};
use crate::pipeline::job_run::{JobRun, failed};
use crate::pipeline::plan::TimedPlan;
use crate::pipeline::run::PipelineContext;
use crate::repoconfig::Effective;
use crate::report::text;
use crate::sandbox::{Sandbox, WORKSPACE};

/// Starts the job's sandbox with the network and deadline the repository's
/// configuration resolved to.
pub(crate) async fn start(
    ctx: &PipelineContext,
    job: &Job,
    eff: &Effective,
    cancel: &CancellationToken,
) -> Result<Sandbox, JobEnd> {
    let mut settings = ctx.sandbox.clone();
    settings.network = eff.network;
    settings.job_deadline = eff.job_timeout;
    settings.exec_timeout = eff.job_timeout;
    Ok(Sandbox::start(&ctx.docker, &settings, &job.id.to_string(), cancel.clone()).await?)
}

/// Uploads the working copy, runs setup, the agent and verification with up
/// to `fix_rounds` fix rounds; returns the last verification's results.
pub(crate) async fn work(
    run: &mut JobRun<'_>,
    brief_text: &str,
    summary: &str,
    plan: &TimedPlan,
) -> Result<Vec<VerifyResult>, JobEnd> {
    upload(run).await?;
    for cmd in &plan.setup {
        let result = run_step(&mut run.log, &run.sandbox, "setup", sh(&cmd.run), Some(cmd.timeout)).await?;
        if !result.passed() {
            return Err(JobEnd::Failed(Failure {
                reason: text::setup_failed(&cmd.run, &result.outcome),
                step: Some("setup".into()),
                last_lines: Vec::new(),
            }));
        }
    }
    run.agent_summary = run_agent(run, brief_text, "agent").await?;
    let mut results = verify(run, plan).await?;
    for round in 1..=run.eff.fix_rounds {
        if all_passed(&results) {
            break;
        }
        let failures: Vec<VerifyFailure> = results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| VerifyFailure { command: r.command.clone(), exit_code: r.exit_code, output_tail: r.tail.clone() })
            .collect();
        let prompt = brief::fix_prompt(summary, &failures);
        if let Some(summary) = run_agent(run, &prompt, &format!("fix {round}")).await? {
            run.agent_summary = Some(summary);
        }
        results = verify(run, plan).await?;
    }
    Ok(results)
}

/// The base commit's files stream from `git archive` straight into the
/// sandbox (never written on the host), and at the same time the `.git`
/// (its pack is as large as the files, compressed): two extractions into
/// different paths, each its own process, so neither waits for the other.
async fn upload(run: &mut JobRun<'_>) -> Result<(), JobEnd> {
    let (archive, files) = run.wc.archive().map_err(|e| failed(e, "checkout"))?;
    let sandbox = &run.sandbox;
    let files_in = async {
        let uploaded = sandbox.upload_tar(WORKSPACE, files).await;
        archive.finish().await.map_err(|e| failed(e, "checkout"))?;
        uploaded?;
        super::collect::note_base(sandbox).await;
        Ok::<(), JobEnd>(())
    };
    let (files_in, git_in) = tokio::join!(files_in, sandbox.upload_dir(run.wc.dir(), WORKSPACE));
    files_in?;
    Ok(git_in?)
}
