//! The agent step: the coding agent runs in the sandbox on a prompt (the
//! brief, or a fix round's prompt). The one place that starts an agent, so
//! what an agent needs (a gateway, another kind of agent) is added here.

use super::exec::run_step;
use crate::jobs::{Failure, JobEnd};
use crate::pipeline::job_run::JobRun;
use crate::report::text;
use crate::sandbox::ExecRequest;

/// Where the prompt file lives inside the sandbox ($HOME is a tmpfs).
const PROMPT_PATH: &str = "/home/sandbox/.maxion-prompt.md";

/// Runs the agent as step `step` (`agent`, `fix 1`, ...) on `prompt`; the
/// job fails when the agent does not exit with 0.
pub(crate) async fn run_agent(run: &mut JobRun<'_>, prompt: &str, step: &str) -> Result<(), JobEnd> {
    run.sandbox.upload_file(PROMPT_PATH, prompt.as_bytes(), 0o644).await?;
    let agent = &run.ctx.agent;
    let mut req = ExecRequest::new(agent.argv()).env("MAXION_PROMPT_FILE", PROMPT_PATH);
    for (name, value) in &run.ctx.agent_secrets {
        req = req.secret_env(name.clone(), value.clone());
    }
    let result = run_step(&mut run.log, &run.sandbox, step, req, None).await?;
    if !result.passed() {
        return Err(JobEnd::Failed(Failure {
            reason: text::agent_failed(&agent.name, &result.outcome),
            step: Some(step.to_owned()),
            last_lines: result.last_lines(),
        }));
    }
    Ok(())
}
