//! What the steps of one job share: [`JobRun`] (context, repository client,
//! job, log, effective configuration, working copy, sandbox) and the job's
//! event log, [`Log`], through which every step reports its start and end.

use std::time::Instant;

use super::git::WorkingCopy;
use super::run::PipelineContext;
use super::steps::WorkDir;
use crate::github::RepoClient;
use crate::jobs::{Job, JobEnd, JobEvent, Store};
use crate::repoconfig::Effective;
use crate::report::JobReporter;
use crate::sandbox::{Sandbox, SandboxError};

/// One job once its working copy and sandbox exist: what the sandbox and ship
/// steps share. [`JobRun::clean_up`] removes the sandbox and the working
/// copy; on any other way out their own `Drop` does.
pub(crate) struct JobRun<'a> {
    pub ctx: &'a PipelineContext,
    pub repo: &'a RepoClient,
    pub job: &'a Job,
    pub log: Log<'a>,
    /// `.github/maxion.yml` resolved within the operator's bounds.
    pub eff: Effective,
    /// The agent the job runs: the operator's, or the one the repository
    /// picked within `MAXION_ALLOWED_AGENTS`.
    pub agent: super::agent::AgentProfile,
    pub wc: WorkingCopy,
    /// The working copy's directories on the host (removed when dropped).
    pub dir: WorkDir,
    pub sandbox: Sandbox,
    /// The job's egress listener and model gateway, when it has one.
    pub egress: Option<std::sync::Arc<crate::egress::JobEgress>>,
    /// The agent's last final message, for the pull request's "Agent summary".
    pub agent_summary: Option<String>,
}

impl JobRun<'_> {
    /// Removes the sandbox, then the working copy.
    pub(crate) async fn clean_up(self) {
        if let Err(e) = self.sandbox.remove().await {
            tracing::warn!(job = %self.job.id, error = %e, "removing the sandbox failed; the next start-up sweep removes it");
        }
        self.dir.remove().await;
    }
}

/// The job's event log: into the store and the reporter at once.
pub(crate) struct Log<'a> {
    pub store: &'a Store,
    pub job: &'a Job,
    pub reporter: &'a mut JobReporter,
    /// Lines for the pull request's description (model usage, blocked hosts).
    pub pr_notes: Vec<String>,
}

impl Log<'_> {
    pub(crate) async fn event(&mut self, event: JobEvent) {
        if let JobEvent::StepFinished { step, ok, duration_ms, .. } = &event {
            crate::metrics::step_finished(step, *ok, std::time::Duration::from_millis(*duration_ms));
        }
        if let Err(e) = self.store.append_event(self.job.id, &event).await {
            tracing::warn!(job = %self.job.id, error = format!("{e:#}"), "storing a job event failed");
        }
        self.reporter.record(&event);
    }

    /// A line in the job's log (the job page shows it).
    pub(crate) async fn info(&mut self, message: String) {
        self.event(JobEvent::Info { message }).await;
    }

    pub(crate) async fn step_started(&mut self, step: &str) -> Instant {
        let _ = self.store.set_step(self.job.id, step).await;
        self.event(JobEvent::StepStarted { step: step.to_owned() }).await;
        Instant::now()
    }

    pub(crate) async fn step_finished(&mut self, step: &str, ok: bool, exit_code: Option<i64>, started: Instant) {
        let duration_ms = started.elapsed().as_millis() as u64;
        let event = JobEvent::StepFinished { step: step.to_owned(), ok, exit_code, duration_ms, stopped: None };
        self.event(event).await;
    }

    /// The step ended the way `result` did: passed, failed, or stopped by
    /// a cancellation or the job's deadline (shown as such, not as failed).
    pub(crate) async fn step_ended<T>(&mut self, step: &str, started: Instant, result: &Result<T, JobEnd>) {
        let (ok, stopped) = match result {
            Ok(_) => (true, None),
            Err(end) => (false, end.step_stop()),
        };
        let duration_ms = started.elapsed().as_millis() as u64;
        self.event(JobEvent::StepFinished { step: step.to_owned(), ok, exit_code: None, duration_ms, stopped }).await;
    }
}

/// A failure in `step` from an error, its message masked.
pub(crate) fn failed(e: impl std::fmt::Display, step: &str) -> JobEnd {
    JobEnd::failed(crate::masker::global().mask(&e.to_string()), Some(step))
}

/// A git failure in `step`; one that outlasted the retries says the git
/// host kept failing (the job itself was fine).
pub(crate) fn git_failed(e: super::git::GitError, step: &str) -> JobEnd {
    match e {
        super::git::GitError::HostKeptFailing { op, attempts, last } => {
            let last = crate::masker::global().mask(&last);
            JobEnd::failed(crate::report::text::git_host_kept_failing(&op, attempts, &last), Some(step))
        }
        other => failed(other, step),
    }
}

/// For `map_err`: an `anyhow` error (with its causes) as a failure in `step`.
pub(crate) fn failed_in(step: &str) -> impl Fn(anyhow::Error) -> JobEnd + '_ {
    move |e| failed(format!("{e:#}"), step)
}

impl From<SandboxError> for JobEnd {
    fn from(e: SandboxError) -> Self {
        match e {
            SandboxError::Cancelled => JobEnd::Cancelled { by: None },
            SandboxError::TimedOut(after) => JobEnd::TimedOut { after },
            other => JobEnd::failed(crate::masker::global().mask(&other.to_string()), None),
        }
    }
}
