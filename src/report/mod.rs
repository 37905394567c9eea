//! Progress reporting: keeps GitHub in sync with one job. The `eyes` reaction
//! on receipt; one status comment per job, posted at admission
//! ([`post_status_comment`], its id kept with the job) and edited in place from
//! then on — this module is the only writer of that comment; and check runs
//! named `maxion` on the base commit and, once pushed, on the head commit.
//! Updates go through a [`Coalescer`]; the final state is always delivered.
//! Check runs are created by the coalesced updates too, never on the job's
//! way: with GitHub's one-second spacing of mutating calls, each call made
//! before the pull request would delay it by a second.
//! All wording lives in [`text`]. Talks to GitHub only through [`RepoClient`].

pub mod annotate;
mod recovered;
pub mod text;

pub use recovered::show_recovered_end;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use crate::github::{
    Annotation, CheckOutput, CheckRunSpec, CheckStatus, Coalescer, CommentId, GitHubError, IssueNumber, Reaction,
    RepoClient,
};
use crate::jobs::{Job, JobEnd, JobEvent, JobId, JobState, StepStop};
use text::{Phase, StatusView, StepLine, StepState};

/// The check run's name on GitHub.
pub const CHECK_NAME: &str = "maxion";

#[derive(Debug, Clone)]
pub struct ReportConfig {
    /// `MAXION_PUBLIC_URL`, without a trailing slash.
    pub public_url: String,
    /// At most one progress edit of the status comment per job per interval.
    pub update_interval: Duration,
    /// No progress edit before a job has been reported this long: a quick
    /// job's comment goes from queued to its result in one edit.
    pub progress_after: Duration,
}

/// The production value of [`ReportConfig::progress_after`]: a job that is
/// done within half a minute makes no progress edit at all (👀 and the queued
/// comment already say it was seen; the job page shows its live steps).
pub const PROGRESS_AFTER: Duration = Duration::from_secs(30);
/// The production value of [`ReportConfig::update_interval`].
pub const UPDATE_INTERVAL: Duration = Duration::from_secs(10);

impl ReportConfig {
    pub fn job_url(&self, id: JobId) -> String {
        format!("{}/jobs/{id}", self.public_url.trim_end_matches('/'))
    }
}

/// `eyes` on the triggering comment, or on the issue for a label trigger.
pub async fn acknowledge(repo: &RepoClient, job: &Job) -> Result<(), GitHubError> {
    match job.spec.trigger_comment_id {
        Some(id) => repo.add_comment_reaction(id, Reaction::Eyes).await,
        None => repo.add_issue_reaction(job.spec.issue_number, Reaction::Eyes).await,
    }
}

fn queued_view(cfg: &ReportConfig, job: &Job, position: Option<usize>) -> StatusView {
    StatusView {
        job_id: job.id,
        job_url: cfg.job_url(job.id),
        phase: Phase::Queued { position },
        steps: Vec::new(),
        notes: Vec::new(),
    }
}

/// Admission: posts the job's status comment in the queued state and returns
/// its id, which the store keeps with the job. `repeated` (a second attempt
/// after a crash or an error) first looks for the comment the first attempt
/// may have posted, by its hidden marker, so there is never a second one.
pub async fn post_status_comment(
    repo: &RepoClient,
    cfg: &ReportConfig,
    job: &Job,
    position: Option<usize>,
    repeated: bool,
) -> Result<CommentId, GitHubError> {
    let (marker, body) = (text::marker(job.id), text::status_comment(&queued_view(cfg, job, position)));
    let comment = if repeated {
        repo.upsert_marked_comment(job.spec.issue_number, &marker, &body).await?
    } else {
        repo.create_marked_comment(job.spec.issue_number, &marker, &body).await?
    };
    Ok(comment.id)
}

/// A job that ends before a worker started it (cancelled while queued): its
/// status comment shows the final phase.
pub async fn show_ended_before_start(
    repo: &RepoClient,
    cfg: &ReportConfig,
    job: &Job,
    phase: Phase,
) -> Result<(), GitHubError> {
    let view = StatusView { phase, ..queued_view(cfg, job, None) };
    edit_status_comment(repo, job, &view).await.map(drop)
}

/// Edits the job's status comment by the id stored at admission; finds it by
/// its marker (or posts it) when there is no id, or when someone deleted it.
async fn edit_status_comment(repo: &RepoClient, job: &Job, view: &StatusView) -> Result<CommentId, GitHubError> {
    let body = text::status_comment(view);
    if let Some(id) = job.status_comment_id {
        match repo.update_comment(id, &body).await {
            Ok(c) => return Ok(c.id),
            Err(GitHubError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(repo.upsert_marked_comment(job.spec.issue_number, &text::marker(job.id), &body).await?.id)
}

/// What the coalesced sink needs besides the view.
#[derive(Default)]
struct Targets {
    comment_id: Option<CommentId>,
    /// Where the comment is posted again if someone deleted it: the issue
    /// and the comment's marker.
    repost: Option<(IssueNumber, String)>,
    /// This job's check runs by commit (created, or made before a restart
    /// and taken over), completed at the end.
    check_runs: Vec<(String, u64)>,
    /// The base commit's run, not created yet: the first update that goes
    /// out creates it (in progress, with its `Cancel` button), which is the
    /// final one for a job quicker than the quiet period.
    base_run: Option<CheckRunSpec>,
    /// The head commit's check run, created with the final state: a job
    /// pushes only after verifying, so it would be in progress for seconds.
    head_run: Option<CheckRunSpec>,
    /// Annotations for the final update of the last check run.
    annotations: Vec<Annotation>,
}

/// Reports one running job. Create with [`JobReporter::resume`], end with [`JobReporter::finish`].
pub struct JobReporter {
    repo: RepoClient,
    cfg: ReportConfig,
    job_id: JobId,
    issue: IssueNumber,
    view: StatusView,
    started: Option<Instant>,
    step_started: HashMap<String, Instant>,
    targets: Arc<Mutex<Targets>>,
    updates: Coalescer<StatusView>,
}

impl JobReporter {
    /// Takes over the status comment posted at admission when a worker
    /// starts the job: edits it by its stored id (back to queued, `position`
    /// 1-based, which also clears what an interrupted earlier run showed).
    pub async fn resume(
        repo: RepoClient,
        cfg: ReportConfig,
        job: &Job,
        position: Option<usize>,
    ) -> Result<Self, GitHubError> {
        let view = queued_view(&cfg, job, position);
        let issue = job.spec.issue_number;
        // A first run finds the comment as admission posted it: nothing to
        // clear, so no edit (each is one more mutating call, a second apart).
        let comment_id = match job.status_comment_id {
            Some(id) if job.attempts <= 1 => id,
            _ => edit_status_comment(&repo, job, &view).await?,
        };
        let targets = Arc::new(Mutex::new(Targets {
            comment_id: Some(comment_id),
            repost: Some((issue, text::marker(job.id))),
            ..Default::default()
        }));
        let updates =
            Coalescer::spawn_quiet(cfg.update_interval, cfg.progress_after, sink(repo.clone(), Arc::clone(&targets)));
        Ok(Self {
            repo,
            cfg,
            job_id: job.id,
            issue,
            view,
            started: None,
            step_started: HashMap::new(),
            targets,
            updates,
        })
    }

    pub fn job_id(&self) -> JobId {
        self.job_id
    }

    /// The job started on `base_sha`: it gets its one check run there. A
    /// restarted job (new process, or requeued after losing its lease) takes
    /// over the run it made before, found by `external_id`, instead of adding
    /// a second; otherwise the run is created by the first update that goes
    /// out (see [`Targets::base_run`]), so the job does not wait for it. A
    /// completed run is left alone: GitHub does not reopen a completed run.
    pub async fn started(&mut self, base_sha: &str) -> Result<(), GitHubError> {
        self.started = Some(Instant::now());
        self.view.phase = Phase::Running { step: None, elapsed: Duration::ZERO };
        if !self.has_run(base_sha) {
            let taken_over = self.own_open_run(base_sha).await?;
            let spec = self.check_spec(base_sha);
            let mut t = self.targets.lock().unwrap_or_else(|e| e.into_inner());
            match taken_over {
                Some(id) => t.check_runs.push((base_sha.to_owned(), id)),
                None => t.base_run = Some(spec),
            }
        }
        self.updates.update(self.view.clone());
        Ok(())
    }

    /// Whether this job has, or is about to create, its run on `sha`.
    fn has_run(&self, sha: &str) -> bool {
        let t = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        t.check_runs.iter().any(|(s, _)| s == sha)
            || [&t.base_run, &t.head_run].into_iter().flatten().any(|spec| spec.head_sha == sha)
    }

    /// A branch was pushed: the head commit gets its own check run, which will
    /// carry the verification results and the final conclusion. It is
    /// created with the final state (one call instead of a create and an
    /// update seconds apart), unless this job already has one in progress
    /// there (made before a restart), which is kept in sync instead.
    pub async fn pushed(&mut self, head_sha: &str) -> Result<(), GitHubError> {
        self.refresh_elapsed();
        if self.has_run(head_sha) {
            return Ok(());
        }
        if let Some(id) = self.own_open_run(head_sha).await? {
            self.targets.lock().unwrap_or_else(|e| e.into_inner()).check_runs.push((head_sha.to_owned(), id));
            return Ok(());
        }
        let spec = self.check_spec(head_sha);
        self.targets.lock().unwrap_or_else(|e| e.into_inner()).head_run = Some(spec);
        Ok(())
    }

    /// This job's check run on `sha` that is still open, if any.
    async fn own_open_run(&self, sha: &str) -> Result<Option<u64>, GitHubError> {
        let external_id = self.job_id.to_string();
        Ok(self
            .repo
            .list_check_runs(sha, CHECK_NAME)
            .await?
            .into_iter()
            .filter(|r| r.external_id.as_deref() == Some(external_id.as_str()) && r.status != CheckStatus::Completed)
            .max_by_key(|r| r.id)
            .map(|r| r.id))
    }

    fn check_spec(&self, sha: &str) -> CheckRunSpec {
        CheckRunSpec {
            name: CHECK_NAME.into(),
            head_sha: sha.into(),
            status: Some(CheckStatus::InProgress),
            details_url: Some(self.view.job_url.clone()),
            external_id: Some(self.job_id.to_string()),
            started_at: Some(Utc::now()),
            output: Some(CheckOutput {
                title: text::check_title(&self.view),
                summary: text::check_summary(&self.view),
                text: None,
                annotations: Vec::new(),
            }),
            actions: text::check_actions(&self.view.phase),
            ..Default::default()
        }
    }

    fn refresh_elapsed(&mut self) {
        if let (Phase::Running { elapsed, .. }, Some(t)) = (&mut self.view.phase, self.started) {
            *elapsed = t.elapsed();
        }
    }

    /// Folds a job event into the view and schedules a (coalesced) update.
    pub fn record(&mut self, event: &JobEvent) {
        match event {
            JobEvent::StepStarted { step } => {
                self.step_started.insert(step.clone(), Instant::now());
                self.view.steps.retain(|s| !(s.name == *step && s.state == StepState::Running));
                self.view.steps.push(StepLine { name: step.clone(), state: StepState::Running, duration: None });
                if let Phase::Running { step: current, .. } = &mut self.view.phase {
                    *current = Some(step.clone());
                }
            }
            JobEvent::StepFinished { step, ok, duration_ms, stopped, .. } => {
                let state = match stopped {
                    Some(stop) => stop_state(*stop),
                    None if *ok => StepState::Passed,
                    None => StepState::Failed,
                };
                let duration = Some(Duration::from_millis(*duration_ms));
                match self.view.steps.iter_mut().rev().find(|s| s.name == *step && s.state == StepState::Running) {
                    Some(line) => {
                        line.state = state;
                        line.duration = duration;
                    }
                    None => self.view.steps.push(StepLine { name: step.clone(), state, duration }),
                }
            }
            // A running job that lost its lease waits in the queue again.
            JobEvent::StateChanged { to: JobState::Queued, .. } => {
                self.started = None;
                self.view.phase = Phase::Queued { position: None };
            }
            // Output, info and other state changes do not change what GitHub shows.
            _ => return,
        }
        self.refresh_elapsed();
        self.updates.update(self.view.clone());
    }

    /// Delivers the final state: comment, and every check run completed with
    /// the end's conclusion (`annotations` on the last one).
    pub async fn finish(mut self, end: JobEnd, annotations: Vec<Annotation>) {
        // A step still running at the end was interrupted: by the job's end
        // when it was cancelled or ran out of time, else by a failure.
        let interrupted = end.step_stop().map_or(StepState::Failed, stop_state);
        self.view.phase = Phase::Ended(end);
        for s in self.view.steps.iter_mut().filter(|s| s.state == StepState::Running) {
            s.state = interrupted;
            s.duration = self.step_started.get(&s.name).map(|t| t.elapsed());
        }
        self.targets.lock().unwrap_or_else(|e| e.into_inner()).annotations = annotations;
        self.updates.finish(self.view.clone()).await;
        tracing::debug!(job = %self.job_id, issue = %self.issue, "final status reported");
    }

    /// Adds a line shown under the headline from now on (e.g. a clamped
    /// configuration request); it stays in the final report.
    pub fn note(&mut self, text: String) {
        if !self.view.notes.contains(&text) {
            self.view.notes.push(text);
            self.refresh_elapsed();
            self.updates.update(self.view.clone());
        }
    }

    /// A new place in the queue (1-based) while the job waits.
    pub fn queue_position(&mut self, position: usize) {
        if let Phase::Queued { position: p } = &mut self.view.phase {
            *p = Some(position);
            self.updates.update(self.view.clone());
        }
    }

    /// Refreshes the elapsed time shown while running (call every minute or so).
    pub fn tick(&mut self) {
        if matches!(self.view.phase, Phase::Running { .. }) {
            self.refresh_elapsed();
            self.updates.update(self.view.clone());
        }
    }

    pub fn config(&self) -> &ReportConfig {
        &self.cfg
    }
}

fn stop_state(stop: StepStop) -> StepState {
    match stop {
        StepStop::Cancelled => StepState::Cancelled,
        StepStop::TimedOut => StepState::TimedOut,
    }
}

/// The coalescer's sink: edits the comment; creates the base commit's check
/// run with the first update (in progress, or with the final state); with
/// the final state completes the check runs (and creates the head commit's).
/// Progress goes to the comment only: every edit of a check run is one more
/// mutating call spaced a second apart, and the job page shows the live
/// steps. Failures are logged, not raised: the next update (or the final
/// one) supersedes them.
fn sink(
    repo: RepoClient,
    targets: Arc<Mutex<Targets>>,
) -> impl FnMut(StatusView) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + 'static {
    move |view: StatusView| {
        let repo = repo.clone();
        let is_final = view.phase.is_final();
        let (comment_id, repost, runs, base_run, head_run, annotations) = {
            let mut t = targets.lock().unwrap_or_else(|e| e.into_inner());
            // The base run stays pending until it is created: a restart of
            // the job meanwhile sees it and does not look for another.
            let base_run = t.base_run.clone();
            if is_final {
                let runs = t.check_runs.iter().map(|(_, id)| *id).collect();
                (t.comment_id, t.repost.clone(), runs, base_run, t.head_run.take(), t.annotations.clone())
            } else {
                (t.comment_id, t.repost.clone(), Vec::new(), base_run, None, Vec::new())
            }
        };
        let targets = Arc::clone(&targets);
        Box::pin(async move {
            if let Some(id) = comment_id {
                let body = text::status_comment(&view);
                let edited = match (repo.update_comment(id, &body).await, repost) {
                    // Deleted (it was taken over by id, unseen): post it again.
                    (Err(GitHubError::NotFound { .. }), Some((issue, marker))) => {
                        repo.upsert_marked_comment(issue, &marker, &body).await.map(|c| {
                            targets.lock().unwrap_or_else(|e| e.into_inner()).comment_id = Some(c.id);
                        })
                    }
                    (result, _) => result.map(drop),
                };
                if let Err(e) = edited {
                    tracing::warn!(error = %e, job = %view.job_id, "updating the status comment failed");
                }
            }
            let output = |annotations: Vec<Annotation>| CheckOutput {
                title: text::check_title(&view),
                summary: text::check_summary(&view),
                text: text::check_text(&view),
                annotations,
            };
            if !is_final {
                if let Some(spec) = base_run {
                    let spec = CheckRunSpec {
                        output: Some(output(Vec::new())),
                        actions: text::check_actions(&view.phase),
                        ..spec
                    };
                    match repo.create_check_run(&spec).await {
                        Ok(run) => {
                            let mut t = targets.lock().unwrap_or_else(|e| e.into_inner());
                            t.base_run = None;
                            t.check_runs.push((spec.head_sha, run.id));
                        }
                        // Still pending: the next update tries again.
                        Err(e) => tracing::warn!(error = %e, job = %view.job_id, "creating the check run failed"),
                    }
                }
                return;
            }
            targets.lock().unwrap_or_else(|e| e.into_inner()).base_run = None;
            let conclusion = view.phase.conclusion();
            let completed = |spec: CheckRunSpec, annotations| CheckRunSpec {
                status: Some(if conclusion.is_some() { CheckStatus::Completed } else { CheckStatus::InProgress }),
                conclusion,
                completed_at: conclusion.map(|_| Utc::now()),
                output: Some(output(annotations)),
                actions: text::check_actions(&view.phase),
                ..spec
            };
            // The annotations go on the last run written: the head commit's
            // when there is one.
            let creations: Vec<CheckRunSpec> = base_run.into_iter().chain(head_run).collect();
            let last = if creations.is_empty() { runs.len().saturating_sub(1) } else { usize::MAX };
            for (i, run) in runs.iter().enumerate() {
                let notes = if i == last { annotations.clone() } else { Vec::new() };
                if let Err(e) = repo.update_check_run(*run, &completed(CheckRunSpec::default(), notes)).await {
                    tracing::warn!(error = %e, job = %view.job_id, "updating check run failed");
                }
            }
            let n = creations.len();
            for (i, spec) in creations.into_iter().enumerate() {
                let notes = if i + 1 == n { annotations.clone() } else { Vec::new() };
                if let Err(e) = repo.create_check_run(&completed(spec, notes)).await {
                    tracing::warn!(error = %e, job = %view.job_id, "creating a check run with the final state failed");
                }
            }
        })
    }
}
