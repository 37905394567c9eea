//! One command in the sandbox as a step of the job: its output streams to
//! the job's log, its end is recorded, and the caller gets a [`StepResult`].

use std::time::Duration;

use tokio::sync::mpsc;

use crate::jobs::{JobEnd, JobEvent};
use crate::pipeline::agent::Transcript;
use crate::pipeline::job_run::Log;
use crate::report::text;
use crate::sandbox::{ExecOutcome, ExecRequest, OutputEvent, OutputStream, Sandbox};

/// How many bytes of a step's output [`StepResult::tail`] keeps (at least half of it).
const TAIL_BYTES: usize = 16_000;
/// How many lines of a failing step's output a failure report shows.
const LAST_LINES: usize = 30;

/// How a command the sandbox survived ended.
#[derive(Debug, Clone)]
pub(crate) struct StepResult {
    pub outcome: ExecOutcome,
    pub duration: Duration,
    /// The end of the step's output (masked).
    pub tail: String,
}

impl StepResult {
    pub(crate) fn passed(&self) -> bool {
        self.outcome.succeeded()
    }

    /// The exit code, when the command exited on its own.
    pub(crate) fn exit_code(&self) -> Option<i64> {
        match self.outcome {
            ExecOutcome::Exited { code } => Some(code),
            _ => None,
        }
    }
}

pub(crate) fn last_lines(tail: &str) -> Vec<String> {
    let lines: Vec<&str> = tail.lines().collect();
    lines[lines.len().saturating_sub(LAST_LINES)..].iter().map(|l| (*l).to_owned()).collect()
}

/// `sh -c cmd`: the repository's own commands are shell lines.
pub(crate) fn sh(cmd: &str) -> ExecRequest {
    ExecRequest::new(["sh", "-c", cmd])
}

/// Runs one exec as the step `step`. `Err` when the sandbox itself is gone
/// (cancelled, past the job's deadline, lost): the step is then recorded as
/// stopped or failed and the job ends with that.
pub(crate) async fn run_step(
    log: &mut Log<'_>,
    sandbox: &Sandbox,
    step: &str,
    req: ExecRequest,
    timeout: Option<Duration>,
) -> Result<StepResult, JobEnd> {
    run_step_read(log, sandbox, step, req, timeout, None).await
}

/// [`run_step`] for an agent: its output goes through `transcript`, which
/// turns the agent's structured output into readable lines for the log.
pub(crate) async fn run_step_read(
    log: &mut Log<'_>,
    sandbox: &Sandbox,
    step: &str,
    mut req: ExecRequest,
    timeout: Option<Duration>,
    mut transcript: Option<&mut Transcript>,
) -> Result<StepResult, JobEnd> {
    if let Some(t) = timeout {
        req = req.timeout(t);
    }
    let started = log.step_started(step).await;
    let (tx, mut rx) = mpsc::channel::<OutputEvent>(64);
    let mut tail = String::new();
    let result = {
        let exec = sandbox.exec(req, &tx);
        tokio::pin!(exec);
        loop {
            tokio::select! {
                r = &mut exec => break r,
                Some(ev) = rx.recv() => forward(log, step, ev, &mut tail, transcript.as_deref_mut()).await,
            }
        }
    };
    drop(tx);
    while let Ok(ev) = rx.try_recv() {
        forward(log, step, ev, &mut tail, transcript.as_deref_mut()).await;
    }
    if let Some(t) = transcript {
        for e in t.finish() {
            let text = e.render() + "\n";
            log.event(JobEvent::Output { step: step.to_owned(), stream: OutputStream::Stdout, text }).await;
        }
    }
    match result {
        Ok(r) => {
            let result = StepResult { outcome: r.outcome, duration: r.duration, tail };
            if !result.passed() {
                log.info(text::step_did_not_succeed(step, &result.outcome)).await;
            }
            log.step_finished(step, result.passed(), result.exit_code(), started).await;
            Ok(result)
        }
        Err(e) => {
            let end = JobEnd::from(e);
            log.step_ended::<()>(step, started, &Err(end.clone())).await;
            Err(end)
        }
    }
}

async fn forward(
    log: &mut Log<'_>,
    step: &str,
    ev: OutputEvent,
    tail: &mut String,
    transcript: Option<&mut Transcript>,
) {
    if let Some(t) = transcript {
        let stream = ev.stream;
        for e in t.feed(&ev.text, stream == OutputStream::Stderr) {
            log.event(JobEvent::Output { step: step.to_owned(), stream, text: e.render() + "\n" }).await;
        }
        return;
    }
    tail.push_str(&ev.text);
    if tail.len() > TAIL_BYTES {
        let cut = crate::pipeline::sanitize::tail_at(tail, TAIL_BYTES / 2).to_owned();
        *tail = cut;
    }
    log.event(JobEvent::Output { step: step.to_owned(), stream: ev.stream, text: ev.text }).await;
}
