//! The pipeline of one job: status comment (posted at admission), brief, host git,
//! sandbox (setup, agent), verify with fix rounds, ship (commit and push from
//! the host, open or reuse the PR). [`run_job`] is what the worker pool runs;
//! every dependency comes in through [`PipelineContext`].
//!
//! Touches: GitHub (through `RepoClient`), the job store (events, step),
//! the data dir (mirrors, working copies), one Docker container per job.

use std::sync::Arc;
use std::time::{Duration, Instant};

use secrecy::SecretString;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::agent::AgentProfile;
use super::brief::{self, GatherRequest, Limits, PullRequestState, VerifyFailure};
use super::detect::{CommandKind, CommandPlan, PlannedCommand};
use super::git::{MirrorCache, WorkingCopy, branch_name};
use super::plan::{TimedPlan, apply_config, repo_config};
use crate::github::{GitHubApp, RepoClient};
use crate::jobs::{Job, JobEvent, JobState, Store};
use crate::repoconfig::{Bounds, FailurePolicy};
use crate::report::text::{self, Phase};
use crate::report::{JobReporter, ReportConfig};
use crate::sandbox::{ExecRequest, OutputEvent, Sandbox, SandboxError, SandboxSettings};
use crate::worker::JobOutcome;

/// Where the prompt file lives inside the sandbox ($HOME is a tmpfs).
const PROMPT_PATH: &str = "/home/sandbox/.maxion-prompt.md";

/// Everything a job needs, shared by all jobs of the instance.
pub struct PipelineContext {
    pub app: GitHubApp,
    pub store: Store,
    pub docker: bollard::Docker,
    pub mirrors: MirrorCache,
    pub report: ReportConfig,
    pub sandbox: SandboxSettings,
    pub agent: AgentProfile,
    /// Agent secrets (name, value), registered with the masker at start-up.
    pub agent_secrets: Vec<(String, SecretString)>,
    /// The operator's defaults and limits for `.github/maxion.yml` (fix
    /// rounds, draft policy, network, job and step timeouts).
    pub bounds: Bounds,
    /// Configured verification commands; empty: detected from the repository.
    pub verify_commands: Vec<String>,
    pub data_dir: std::path::PathBuf,
}

/// How a pipeline step ended early.
#[derive(Debug)]
pub(crate) enum Stop {
    Cancelled,
    TimedOut(Duration),
    Failed { reason: String, step: Option<String>, last_lines: Vec<String> },
}

impl Stop {
    pub(crate) fn failed(e: impl std::fmt::Display, step: Option<&str>) -> Self {
        Stop::Failed {
            reason: crate::masker::global().mask(&e.to_string()),
            step: step.map(str::to_owned),
            last_lines: Vec::new(),
        }
    }
}

impl Stop {
    /// A git failure; one that outlasted the retries says the git host kept
    /// failing (the job itself was fine).
    pub(crate) fn git(e: super::git::GitError, step: &str) -> Self {
        match e {
            super::git::GitError::HostKeptFailing { op, attempts, last } => Stop::Failed {
                reason: crate::report::text::git_host_kept_failing(&op, attempts, &crate::masker::global().mask(&last)),
                step: Some(step.to_owned()),
                last_lines: Vec::new(),
            },
            other => Stop::failed(other, Some(step)),
        }
    }
}

impl From<SandboxError> for Stop {
    fn from(e: SandboxError) -> Self {
        match e {
            SandboxError::Cancelled => Stop::Cancelled,
            SandboxError::TimedOut(d) => Stop::TimedOut(d),
            other => Stop::failed(other, None),
        }
    }
}

/// One verification command's result.
#[derive(Debug, Clone)]
pub struct VerifyResult {
    pub command: String,
    pub exit_code: Option<i64>,
    pub passed: bool,
    pub duration: Duration,
    pub tail: String,
}

/// The job's event log: into the store and the reporter at once.
pub(crate) struct Log<'a> {
    pub store: &'a Store,
    pub job: &'a Job,
    pub reporter: Option<&'a mut JobReporter>,
}

impl Log<'_> {
    pub(crate) async fn event(&mut self, event: JobEvent) {
        if let Err(e) = self.store.append_event(self.job.id, &event).await {
            tracing::warn!(job = %self.job.id, error = format!("{e:#}"), "storing a job event failed");
        }
        if let Some(r) = self.reporter.as_deref_mut() {
            r.record(&event);
        }
    }

    pub(crate) async fn step_started(&mut self, step: &str) -> Instant {
        let _ = self.store.set_step(self.job.id, step).await;
        self.event(JobEvent::StepStarted { step: step.to_owned() }).await;
        Instant::now()
    }

    pub(crate) async fn step_finished(&mut self, step: &str, ok: bool, exit_code: Option<i64>, started: Instant) {
        let duration_ms = started.elapsed().as_millis() as u64;
        self.event(JobEvent::StepFinished { step: step.to_owned(), ok, exit_code, duration_ms }).await;
    }
}

/// Runs one job to its end. Never panics on GitHub, git or Docker failures:
/// they become the outcome's reason, also shown on GitHub.
pub async fn run_job(ctx: Arc<PipelineContext>, job: Job, cancel: CancellationToken) -> JobOutcome {
    let repo = match ctx.app.repo(job.spec.installation_id, &job.spec.repo.full_name) {
        Ok(r) => r,
        Err(e) => return JobOutcome::failed(crate::masker::global().mask(&e.to_string())),
    };
    // The control loop acknowledged the job and posted its status comment at
    // admission; this finds that comment again by its marker.
    let mut reporter = match JobReporter::resume(repo.clone(), ctx.report.clone(), &job, None).await {
        Ok(r) => r,
        Err(e) => return JobOutcome::failed(format!("cannot post the status comment: {e}")),
    };
    let result = run_steps(&ctx, &repo, &job, &mut reporter, &cancel).await;
    let (outcome, phase) = match result {
        Ok(Shipped { pull_request, verified }) => {
            if verified || pull_request.is_none() {
                (JobOutcome::succeeded(), Phase::Succeeded { pull_request })
            } else {
                let reason = format!(
                    "verification still fails after the fix rounds; draft PR {}",
                    pull_request.clone().unwrap_or_default()
                );
                (
                    JobOutcome::failed(reason.clone()),
                    Phase::Failed { reason, step: Some("verify".into()), last_lines: Vec::new() },
                )
            }
        }
        Err(Stop::Cancelled) => {
            // Someone asked (`/maxion cancel`, the check run's button), or shutdown.
            let by = ctx.store.cancel_requested_by(job.id).await.ok().flatten();
            let reason = by.as_deref().map(text::cancelled_by);
            (
                JobOutcome { state: JobState::Cancelled, reason: Some(reason.clone().unwrap_or("cancelled".into())) },
                Phase::Cancelled { reason },
            )
        }
        Err(Stop::TimedOut(after)) => (
            JobOutcome {
                state: JobState::TimedOut,
                reason: Some(format!("job deadline of {} s passed", after.as_secs())),
            },
            Phase::TimedOut { after },
        ),
        Err(Stop::Failed { reason, step, last_lines }) => {
            (JobOutcome::failed(reason.clone()), Phase::Failed { reason, step, last_lines })
        }
    };
    reporter.finish(phase, Vec::new()).await;
    outcome
}

/// What shipping produced.
pub(crate) struct Shipped {
    pub pull_request: Option<String>,
    pub verified: bool,
}

async fn run_steps(
    ctx: &PipelineContext,
    repo: &RepoClient,
    job: &Job,
    reporter: &mut JobReporter,
    cancel: &CancellationToken,
) -> Result<Shipped, Stop> {
    // Brief, at the default branch head.
    let limits = Limits::default();
    let configured = (!ctx.verify_commands.is_empty()).then(|| CommandPlan {
        setup: Vec::new(),
        verify: ctx
            .verify_commands
            .iter()
            .map(|c| PlannedCommand {
                kind: CommandKind::Test,
                run: c.clone(),
                reason: "MAXION_VERIFY_COMMANDS".into(),
            })
            .collect(),
    });
    let req = GatherRequest {
        issue_number: job.spec.issue_number,
        instructions: job.spec.instructions.as_deref(),
        triggered_by: &job.spec.sender_login,
        trigger_comment_id: job.spec.trigger_comment_id,
        include_untrusted_comments: false,
        commands: configured,
        limits: &limits,
    };
    let mut gathered = brief::gather(repo, &req).await.map_err(|e| Stop::failed(format!("{e:#}"), Some("brief")))?;
    // A follow-up works on the branch of the pull request Maxion opened
    // (admission checked there is one); anything else on a new branch.
    let follow_up_branch = match &job.spec.follow_up {
        Some(f) => {
            let branch = ctx.store.maxion_pull_branch(job.spec.repo.id, job.spec.issue_number).await;
            let branch = branch
                .map_err(|e| Stop::failed(format!("{e:#}"), Some("brief")))?
                .ok_or_else(|| Stop::failed("no Maxion branch is recorded for this pull request", Some("brief")))?;
            gathered.input.follow_up =
                Some(PullRequestState { head_branch: branch.clone(), source: f.source, anchor: f.anchor.clone() });
            Some(branch)
        }
        None => None,
    };
    reporter.started(&gathered.head_sha).await.map_err(|e| Stop::failed(e, Some("brief")))?;
    let mut log = Log { store: &ctx.store, job, reporter: Some(reporter) };
    let eff = repo_config(ctx, repo, &mut log, &gathered.head_sha).await?;
    let plan = apply_config(&eff, &mut gathered);
    let t = log.step_started("brief").await;
    let brief_text = brief::assemble(&gathered.input, &limits);
    let summary = brief::task_summary(&gathered.input);
    log.event(JobEvent::Info { message: format!("brief assembled: {} bytes", brief_text.len()) }).await;
    if let Err(e) = ctx.store.set_brief(job.id, &brief_text).await {
        tracing::warn!(job = %job.id, error = format!("{e:#}"), "storing the brief failed");
    }
    log.step_finished("brief", true, None, t).await;
    if cancel.is_cancelled() {
        return Err(Stop::Cancelled);
    }

    // Host git: mirror and working copy.
    let t = log.step_started("checkout").await;
    let branch = follow_up_branch
        .clone()
        .unwrap_or_else(|| branch_name(&eff.branch_prefix, job.spec.issue_number.0, &job.spec.issue_title));
    let token = ctx
        .app
        .token_for(repo.installation_id(), repo_name(repo), crate::github::Permissions::contents_read())
        .await
        .map_err(|e| Stop::failed(e, Some("checkout")))?;
    let full_name = repo.full_name();
    let mirror =
        ctx.mirrors.sync(&full_name, &gathered.clone_url, &token).await.map_err(|e| Stop::git(e, "checkout"))?;
    drop(token);
    let work_dir = ctx.data_dir.join("work").join(format!("job-{}-{}", job.id, job.attempts));
    let _ = tokio::fs::remove_dir_all(&work_dir).await;
    let wc = match follow_up_branch {
        Some(_) => mirror.prepare_existing(&work_dir, &branch).await,
        None => mirror.prepare_new_branch_at(&work_dir, &gathered.default_branch, &gathered.head_sha, &branch).await,
    }
    .map_err(|e| Stop::failed(e, Some("checkout")))?;
    drop(mirror);
    log.step_finished("checkout", true, None, t).await;

    // Sandbox: always removed, whatever happens inside.
    let mut settings = ctx.sandbox.clone();
    settings.network = eff.network;
    settings.job_deadline = eff.job_timeout;
    settings.exec_timeout = eff.job_timeout;
    let sandbox = Sandbox::start(&ctx.docker, &settings, &job.id.to_string(), cancel.clone()).await?;
    let inside = in_sandbox(ctx, &mut log, &sandbox, &wc, &brief_text, &summary, &plan, eff.fix_rounds).await;
    let shipped = match inside {
        Ok(verify) if eff.on_verify_failure == FailurePolicy::NoPr && !verify.iter().all(|v| v.passed) => {
            Err(Stop::Failed {
                reason: text::no_pr_on_failure(eff.fix_rounds),
                step: Some("verify".into()),
                last_lines: verify.iter().filter(|v| !v.passed).flat_map(|v| last_lines(&v.tail)).collect(),
            })
        }
        Ok(verify) => {
            let r = super::ship::ship(ctx, repo, job, &mut log, &sandbox, &wc, &gathered, &verify, &eff).await;
            r.map(|pr| Shipped { verified: verify.iter().all(|v| v.passed), pull_request: pr })
        }
        Err(e) => Err(e),
    };
    if let Err(e) = sandbox.remove().await {
        tracing::warn!(job = %job.id, error = %e, "removing the sandbox failed; the next start-up sweep removes it");
    }
    let _ = wc.remove().await;
    shipped
}

fn repo_name(repo: &RepoClient) -> &str {
    &repo.name
}

#[allow(clippy::too_many_arguments)]
async fn in_sandbox(
    ctx: &PipelineContext,
    log: &mut Log<'_>,
    sandbox: &Sandbox,
    wc: &WorkingCopy,
    brief_text: &str,
    summary: &str,
    plan: &TimedPlan,
    fix_rounds: u32,
) -> Result<Vec<VerifyResult>, Stop> {
    // The base commit's files stream from `git archive` straight into the
    // sandbox (never written on the host), then the small `.git` follows.
    let (archive, files) = wc.archive().map_err(|e| Stop::failed(e, Some("checkout")))?;
    let uploaded = sandbox.upload_tar(crate::sandbox::WORKSPACE, files).await;
    archive.finish().await.map_err(|e| Stop::failed(e, Some("checkout")))?;
    uploaded?;
    sandbox.upload_dir(wc.dir(), crate::sandbox::WORKSPACE).await?;
    for cmd in &plan.setup {
        let (ok, code, _, _) = run_logged(log, sandbox, "setup", sh(&cmd.run), Some(cmd.timeout)).await?;
        if !ok {
            return Err(Stop::Failed {
                reason: format!("setup command `{}` failed (exit code {code:?})", cmd.run),
                step: Some("setup".into()),
                last_lines: Vec::new(),
            });
        }
    }
    run_agent(ctx, log, sandbox, brief_text, "agent").await?;
    let mut results = verify(log, sandbox, plan).await?;
    for round in 1..=fix_rounds {
        if results.iter().all(|r| r.passed) {
            break;
        }
        let failures: Vec<VerifyFailure> = results
            .iter()
            .filter(|r| !r.passed)
            .map(|r| VerifyFailure { command: r.command.clone(), exit_code: r.exit_code, output_tail: r.tail.clone() })
            .collect();
        let prompt = brief::fix_prompt(summary, &failures);
        run_agent(ctx, log, sandbox, &prompt, &format!("fix {round}")).await?;
        results = verify(log, sandbox, plan).await?;
    }
    Ok(results)
}

fn sh(cmd: &str) -> ExecRequest {
    ExecRequest::new(["sh", "-c", cmd])
}

async fn run_agent(
    ctx: &PipelineContext,
    log: &mut Log<'_>,
    sandbox: &Sandbox,
    prompt: &str,
    step: &str,
) -> Result<(), Stop> {
    sandbox.upload_file(PROMPT_PATH, prompt.as_bytes(), 0o644).await?;
    let mut req = ExecRequest::new(ctx.agent.argv()).env("MAXION_PROMPT_FILE", PROMPT_PATH);
    for (name, value) in &ctx.agent_secrets {
        req = req.secret_env(name.clone(), value.clone());
    }
    let (ok, code, _, tail) = run_logged(log, sandbox, step, req, None).await?;
    if !ok {
        return Err(Stop::Failed {
            reason: format!("the agent ({}) failed (exit code {code:?})", ctx.agent.name),
            step: Some(step.to_owned()),
            last_lines: last_lines(&tail),
        });
    }
    Ok(())
}

fn last_lines(tail: &str) -> Vec<String> {
    tail.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().map(str::to_owned).collect()
}

async fn verify(log: &mut Log<'_>, sandbox: &Sandbox, plan: &TimedPlan) -> Result<Vec<VerifyResult>, Stop> {
    let mut results = Vec::new();
    for cmd in &plan.verify {
        let req = sh(&cmd.run).env("CI", "true");
        let (passed, exit_code, duration, tail) = run_logged(log, sandbox, "verify", req, Some(cmd.timeout)).await?;
        results.push(VerifyResult { command: cmd.run.clone(), exit_code, passed, duration, tail });
    }
    Ok(results)
}

/// Runs one exec as a step; its output goes to the store and the reporter.
/// Returns (passed, exit code, duration, output tail).
async fn run_logged(
    log: &mut Log<'_>,
    sandbox: &Sandbox,
    step: &str,
    mut req: ExecRequest,
    timeout: Option<Duration>,
) -> Result<(bool, Option<i64>, Duration, String), Stop> {
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
                Some(ev) = rx.recv() => forward(log, step, ev, &mut tail).await,
            }
        }
    };
    drop(tx);
    while let Ok(ev) = rx.try_recv() {
        forward(log, step, ev, &mut tail).await;
    }
    match result {
        Ok(r) => {
            let code = match r.outcome {
                crate::sandbox::ExecOutcome::Exited { code } => Some(code),
                _ => None,
            };
            let ok = r.outcome.succeeded();
            if !ok {
                log.event(JobEvent::Info { message: format!("{step}: {}", r.outcome.describe()) }).await;
            }
            log.step_finished(step, ok, code, started).await;
            Ok((ok, code, r.duration, tail))
        }
        Err(e) => {
            log.step_finished(step, false, None, started).await;
            Err(e.into())
        }
    }
}

async fn forward(log: &mut Log<'_>, step: &str, ev: OutputEvent, tail: &mut String) {
    tail.push_str(&ev.text);
    if tail.len() > 16_000 {
        let cut = super::sanitize::tail_at(tail, 8_000).to_owned();
        *tail = cut;
    }
    log.event(JobEvent::Output { step: step.to_owned(), stream: ev.stream, text: ev.text }).await;
}

/// Failure wrapper for ship steps.
pub(crate) fn ship_err(step: &str) -> impl Fn(anyhow::Error) -> Stop + '_ {
    move |e| Stop::failed(format!("{e:#}"), Some(step))
}
