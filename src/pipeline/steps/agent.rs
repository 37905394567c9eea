//! The agent step: the coding agent runs in the sandbox on a prompt (the
//! brief, or a fix round's prompt). The one place that starts an agent, so
//! what an agent needs (a gateway, another kind of agent) is added here.

use super::exec::run_step_read;
use crate::jobs::{Failure, JobEnd};
use crate::pipeline::job_run::JobRun;
use crate::sandbox::ExecRequest;

/// Where the prompt file lives inside the sandbox ($HOME is a tmpfs).
const PROMPT_PATH: &str = "/home/sandbox/.maxion-prompt.md";

/// Runs the agent as step `step` (`agent`, `fix 1`, ...) on `prompt`; the
/// job fails, naming the cause, when the agent does not succeed. Returns the
/// agent's final message (for the pull request's "Agent summary").
pub(crate) async fn run_agent(run: &mut JobRun<'_>, prompt: &str, step: &str) -> Result<Option<String>, JobEnd> {
    run.sandbox.upload_file(PROMPT_PATH, prompt.as_bytes(), 0o644).await?;
    let agent = &run.agent;
    let mut req = ExecRequest::new(agent.argv()).env("MAXION_PROMPT_FILE", PROMPT_PATH);
    for (name, value) in agent.env() {
        req = req.env(name, value);
    }
    if let Some(egress) = &run.egress {
        for (name, value) in egress.agent_env() {
            req = req.env(name, value);
        }
    }
    for (name, value) in &run.ctx.agent_secrets {
        req = req.secret_env(name.clone(), value.clone());
    }
    // The agent's output is read as it comes: readable events in the log,
    // its final message for the PR body, a named cause when it fails.
    let mut transcript = agent.transcript();
    let calls_before = run.egress.as_ref().map(|e| e.totals().calls);
    let result = run_step_read(&mut run.log, &run.sandbox, step, req, None, Some(&mut transcript)).await?;
    // What the gateway saw of this run's model calls names an upstream
    // failure better than the agent's words (a failure from an earlier run
    // does not count: this one made no call).
    let failing = run.egress.as_ref().filter(|e| Some(e.totals().calls) != calls_before).and_then(|e| e.failing());
    match transcript.failure(result.exit_code()).map(|f| f.as_the_gateway_saw(failing)) {
        None => Ok(transcript.summary().map(str::to_owned)),
        Some(f) => Err(JobEnd::Failed(Failure {
            reason: crate::masker::global().mask(&f.describe(&agent.name)),
            step: Some(step.to_owned()),
            last_lines: transcript.last_lines(),
        })),
    }
}
