//! The control loop: acts on what intake recorded — admits new
//! jobs (permission check, `eyes`, the queued status comment), answers
//! `/maxion status|cancel|retry|help`, cancels on label removal, retries and
//! cancels from check-run buttons.
//!
//! Webhook handlers never call GitHub; they store a control request in the
//! delivery's transaction (`jobs::request`). This task claims requests with a
//! lease, in arrival order per issue, and marks each processed once. Every
//! action is idempotent (reactions, comments found again by marker, state
//! moves guarded by the current state), so a crash between acting and
//! marking repeats the action without doubling its effect. A failure is
//! retried with backoff, a few times, then recorded.

mod actions;
pub mod permissions;
mod summary;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::github::{GitHubApp, RepoPermission};
use crate::jobs::{ClaimedRequest, ControlAction, ControlOutcome, JobState, Store};
use crate::report::ReportConfig;
use crate::worker::Canceller;
use permissions::PermissionCache;

/// Tries of one request before it is given up.
const MAX_ATTEMPTS: i64 = 5;
/// Loops per instance: one slow GitHub call does not hold up other issues
/// (the claim keeps each issue's requests in order whatever the count).
const LOOPS: usize = 4;

#[derive(Debug, Clone)]
pub struct ControlSettings {
    /// `MAXION_REQUIRED_PERMISSION`.
    pub required: RepoPermission,
    pub command: String,
    pub trigger_label: String,
    /// What a repository's `.github/maxion.yml` may ask for (shown by `help`).
    pub bounds: crate::repoconfig::Bounds,
    /// Jobs run at once per instance (for the wait estimate).
    pub workers: usize,
    pub report: ReportConfig,
    /// Lease owner id.
    pub instance_id: String,
    /// One refusal per (user, issue) in this window; more are silent.
    pub refusal_window: Duration,
    /// Replies to open commands (`status`, `help`) from someone who may not
    /// start jobs, per (user, issue) in the same window.
    pub outsider_replies: i64,
    pub permission_ttl: Duration,
    /// How long a claimed request is held before another instance may take it.
    pub lease: Duration,
    /// How often an idle loop looks for requests it was not woken for.
    pub poll: Duration,
}

impl ControlSettings {
    pub fn new(settings: &crate::config::Settings, report: ReportConfig, instance_id: String) -> Self {
        ControlSettings {
            required: settings.required_permission,
            command: settings.command.clone(),
            trigger_label: settings.trigger_label.clone(),
            bounds: crate::repoconfig::Bounds::from_settings(&settings.pipeline),
            workers: settings.workers,
            report,
            instance_id,
            refusal_window: Duration::from_secs(3600),
            outsider_replies: 5,
            permission_ttl: Duration::from_secs(300),
            lease: Duration::from_secs(120),
            poll: Duration::from_secs(2),
        }
    }
}

/// What the loop works with.
pub struct Control {
    pub app: GitHubApp,
    pub store: Store,
    pub settings: ControlSettings,
    /// Jobs running on this instance, to stop them at once.
    pub canceller: Option<Canceller>,
    /// Wakes idle workers after a job is admitted.
    pub jobs_available: Arc<Notify>,
    permissions: PermissionCache,
}

impl Control {
    pub fn new(
        app: GitHubApp,
        store: Store,
        settings: ControlSettings,
        canceller: Option<Canceller>,
        jobs_available: Arc<Notify>,
    ) -> Self {
        let permissions = PermissionCache::new(settings.permission_ttl);
        Control { app, store, settings, canceller, jobs_available, permissions }
    }

    /// Runs until `shutdown`; `wake` is signalled when intake stores a request.
    /// Aborting the returned task stops every loop.
    pub fn spawn(self, wake: Arc<Notify>, shutdown: CancellationToken) -> JoinHandle<()> {
        let control = Arc::new(self);
        tokio::spawn(async move {
            match control.store.release_control_requests(&control.settings.instance_id).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(requests = n, "taking up control requests a previous run left unfinished"),
                Err(e) => tracing::warn!(error = format!("{e:#}"), "releasing control requests failed"),
            }
            let mut loops = tokio::task::JoinSet::new();
            for _ in 0..LOOPS {
                loops.spawn(Arc::clone(&control).run(Arc::clone(&wake), shutdown.clone()));
            }
            while loops.join_next().await.is_some() {}
        })
    }

    async fn run(self: Arc<Self>, wake: Arc<Notify>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let notified = wake.notified();
            let claimed = match self.store.claim_control_request(&self.settings.instance_id, self.settings.lease).await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "claiming a control request failed");
                    None
                }
            };
            match claimed {
                // Cut short at shutdown: the request stays leased and is
                // handled again (every action is idempotent).
                Some(req) => tokio::select! {
                    () = self.handle(req) => {}
                    () = shutdown.cancelled() => {}
                },
                None => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep(self.settings.poll) => {}
                        () = shutdown.cancelled() => {}
                    }
                }
            }
        }
    }

    async fn handle(&self, req: ClaimedRequest) {
        let result = self.process(&req).await;
        let finish = match result {
            Ok(outcome) => self.store.finish_control_request(req.id, outcome).await,
            Err(e) if req.attempts < MAX_ATTEMPTS => {
                let delay = Duration::from_secs(1 << req.attempts.clamp(0, 6));
                tracing::warn!(
                    request = req.id,
                    attempt = req.attempts,
                    error = format!("{e:#}"),
                    "control request failed; retrying later"
                );
                self.store.postpone_control_request(req.id, delay).await
            }
            Err(e) => {
                let reason = crate::masker::global().mask(&format!("{e:#}"));
                tracing::error!(request = req.id, error = %reason, "control request failed for good");
                if let ControlAction::Admit { job } = req.request.action {
                    let why = crate::report::text::admission_failed(&reason);
                    let _ = self.store.transition(job, JobState::Received, JobState::Failed, Some(&why)).await;
                }
                self.store.finish_control_request(req.id, ControlOutcome::Failed).await
            }
        };
        if let Err(e) = finish {
            tracing::error!(request = req.id, error = format!("{e:#}"), "recording a control request's end failed");
        }
    }
}
