//! The pipeline of one job: status comment (posted at admission), brief,
//! host git, sandbox (setup, agent), verify with fix rounds, ship (commit and
//! push from the host, open or reuse the PR). [`run_job`] is what the worker
//! pool runs; every dependency comes in through [`PipelineContext`]; each
//! phase is a file of `steps`.
//!
//! Touches: GitHub (through `RepoClient`), the job store (events, step),
//! the data dir (mirrors, working copies), one Docker container per job.

use std::sync::Arc;

use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

use super::agent::AgentProfile;
use super::git::MirrorCache;
use super::job_run::{JobRun, Log, failed};
use super::steps::{brief, checkout, sandbox, ship, verify::all_passed};
use crate::github::{GitHubApp, RepoClient};
use crate::jobs::{Job, JobEnd, Store};
use crate::repoconfig::{Bounds, FailurePolicy};
use crate::report::text;
use crate::report::{JobReporter, ReportConfig};
use crate::sandbox::SandboxSettings;
use crate::worker::JobOutcome;

/// Everything a job needs, shared by all jobs of the instance.
pub struct PipelineContext {
    pub app: GitHubApp,
    pub store: Store,
    pub docker: bollard::Docker,
    pub mirrors: MirrorCache,
    pub report: ReportConfig,
    pub sandbox: SandboxSettings,
    /// Agent secrets (name, value), registered with the masker at start-up.
    pub agent_secrets: Vec<(String, SecretString)>,
    /// The operator's defaults and limits for `.github/maxion.yml` (fix
    /// rounds, draft policy, network, job and step timeouts, the agent).
    pub bounds: Bounds,
    /// Configured verification commands; empty: detected from the repository.
    pub verify_commands: Vec<String>,
    pub data_dir: std::path::PathBuf,
    /// The egress proxy and LLM gateway (networks `filtered` and `open`).
    pub egress: Option<crate::egress::EgressService>,
}

/// Runs one job to its end. Never panics on GitHub, git or Docker failures:
/// they become the outcome's reason, also shown on GitHub.
pub async fn run_job(ctx: Arc<PipelineContext>, job: Job, cancel: CancellationToken) -> JobOutcome {
    let repo = match ctx.app.repo(job.spec.installation_id, &job.spec.repo.full_name) {
        Ok(r) => r,
        Err(e) => return outcome(&JobEnd::failed(crate::masker::global().mask(&e.to_string()), None)),
    };
    // The control loop acknowledged the job and posted its status comment at
    // admission; this finds that comment again by its marker.
    let mut reporter = match JobReporter::resume(repo.clone(), ctx.report.clone(), &job, None).await {
        Ok(r) => r,
        Err(e) => return outcome(&JobEnd::failed(text::status_comment_unavailable(&e), None)),
    };
    let end = match run_steps(&ctx, &repo, &job, &mut reporter, &cancel).await {
        Ok(end) | Err(end) => end,
    };
    let end = match end {
        // Someone asked (`/maxion cancel`, the check run's button), or shutdown.
        JobEnd::Cancelled { by: None } => {
            JobEnd::Cancelled { by: ctx.store.cancel_requested_by(job.id).await.ok().flatten() }
        }
        end => end,
    };
    let result = outcome(&end);
    // Durable before GitHub is told: a process killed while showing the end
    // leaves it to the next start's recovery, which records and shows it,
    // rather than running the job again. Not for a stop nobody asked for
    // (shutdown, a lost lease): that job goes back to the queue or is another
    // instance's now.
    if !matches!(end, JobEnd::Cancelled { by: None })
        && let Err(e) =
            ctx.store.record_pending_end(job.id, job.attempts, result.state, result.reason.as_deref(), &end).await
    {
        tracing::warn!(job = %job.id, error = format!("{e:#}"), "recording the job's end before showing it failed");
    }
    reporter.finish(end, Vec::new()).await;
    result
}

/// Shows on GitHub how crash recovery ended job `id` without running it
/// (failed as interrupted, cancelled as asked, or the end its run recorded
/// before its process died while showing it): the worker pool calls it for
/// each job its recovery ended.
pub async fn report_recovered_end(ctx: Arc<PipelineContext>, id: crate::jobs::JobId) {
    let job = match ctx.store.get_job(id).await {
        Ok(Some(job)) => job,
        Ok(None) => return,
        Err(e) => return tracing::warn!(job = %id, error = format!("{e:#}"), "reading a recovered job failed"),
    };
    let recorded = match ctx.store.pending_end(id).await {
        Ok(end) => end.filter(|end| end.state() == job.state),
        Err(e) => {
            tracing::warn!(job = %id, error = format!("{e:#}"), "reading a recovered job's recorded end failed");
            None
        }
    };
    let end = match (recorded, job.state) {
        (Some(end), _) => end,
        (None, crate::jobs::JobState::Failed) => JobEnd::failed(job.error.clone().unwrap_or_default(), None),
        (None, crate::jobs::JobState::Cancelled) => {
            JobEnd::Cancelled { by: ctx.store.cancel_requested_by(id).await.ok().flatten() }
        }
        _ => return,
    };
    let shown = match ctx.app.repo(job.spec.installation_id, &job.spec.repo.full_name) {
        Ok(repo) => crate::report::show_recovered_end(&repo, &ctx.report, &job, end).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = shown {
        tracing::warn!(job = %id, error = %crate::masker::global().mask(&e), "showing a recovered job's end on GitHub failed");
    }
}

/// What the worker pool records for an end: its state and its reason.
fn outcome(end: &JobEnd) -> JobOutcome {
    JobOutcome { state: end.state(), reason: text::end_reason(end) }
}

/// The phases in order; `Err` is an end before the last phase.
async fn run_steps(
    ctx: &PipelineContext,
    repo: &RepoClient,
    job: &Job,
    reporter: &mut JobReporter,
    cancel: &CancellationToken,
) -> Result<JobEnd, JobEnd> {
    let gathered = brief::gather(ctx, repo, job, reporter).await?;
    let mut log = Log { store: &ctx.store, job, reporter, pr_notes: Vec::new() };
    let (briefed, eff) = brief::assemble(ctx, repo, &mut log, gathered).await?;
    if cancel.is_cancelled() {
        return Err(JobEnd::Cancelled { by: None });
    }
    let (wc, dir) = checkout::checkout(ctx, repo, &mut log, &briefed, &eff.branch_prefix).await?;
    // From here on the working copy is removed however the job ends: by
    // `clean_up`, or by `dir`'s drop on an early return.
    let sandbox = sandbox::start(ctx, job, &eff, cancel).await?;
    let limits = super::usage::limits(&eff, job.spec.installation_id.db());
    let egress = crate::egress::for_job(ctx.egress.as_ref(), &ctx.store, job.id, &sandbox, &eff.network, &limits).await;
    let agent = AgentProfile::for_kind(&eff.agent.kind).with_model(eff.agent.model.clone());
    let mut run = JobRun { ctx, repo, job, log, eff, agent, wc, dir, sandbox, egress: None, agent_summary: None };
    let result = match egress {
        Ok(egress) => {
            run.egress = egress;
            work_and_ship(&mut run, &briefed).await
        }
        Err(e) => Err(failed(format!("{e:#}"), "sandbox")),
    };
    run.clean_up().await;
    result
}

/// Inside the sandbox, then (unless the repository asked for no PR after a
/// failed verification) ship.
async fn work_and_ship(run: &mut JobRun<'_>, briefed: &brief::Briefed) -> Result<JobEnd, JobEnd> {
    let verify = sandbox::work(run, &briefed.text, &briefed.summary, &briefed.plan).await;
    let verify = super::usage::after_sandbox(run, verify).await?;
    let verified = all_passed(&verify);
    if run.eff.on_verify_failure == FailurePolicy::NoPr && !verified {
        return Err(JobEnd::Failed(crate::jobs::Failure {
            reason: text::no_pr_on_failure(run.eff.fix_rounds),
            step: Some("verify".into()),
            last_lines: verify
                .iter()
                .filter(|v| !v.passed)
                .flat_map(|v| super::steps::exec::last_lines(&v.tail))
                .collect(),
        }));
    }
    let pull_request = ship::ship(run, &briefed.gathered, &verify).await?;
    Ok(match pull_request {
        Some(url) if !verified => JobEnd::failed(text::draft_after_failed_verification(&url), Some("verify")),
        pull_request => JobEnd::Succeeded { pull_request },
    })
}
