//! A job that crash recovery ended without running it again (its instance
//! died once too often, or someone had asked to cancel it): nothing of the
//! pipeline runs, so this shows the end where users look, the status comment
//! and the job's open check runs, which would otherwise say "working" forever
//! (or, when the job was interrupted before it created one, a new run with
//! its end).

use chrono::Utc;

use crate::github::{CheckOutput, CheckRun, CheckRunSpec, CheckStatus, GitHubError, RepoClient};
use crate::jobs::{Job, JobEnd};

use super::text::{self, Phase, StatusView};
use super::{CHECK_NAME, ReportConfig, show_ended_before_start};

/// Edits the status comment to `end` and completes the job's check runs
/// still open on the default branch's head (where the job started; if the
/// branch moved since, the old commit's run is not found) and on the head of
/// the branch it pushed. A head commit's run that was not created yet stays
/// uncreated: the pull request exists, its checks lack Maxion's. A job with
/// no run at all gets one on the default branch's head, completed.
pub async fn show_recovered_end(
    repo: &RepoClient,
    cfg: &ReportConfig,
    job: &Job,
    end: JobEnd,
) -> Result<(), GitHubError> {
    let phase = Phase::Ended(end);
    let view = StatusView {
        job_id: job.id,
        job_url: cfg.job_url(job.id),
        phase: phase.clone(),
        steps: Vec::new(),
        notes: Vec::new(),
    };
    show_ended_before_start(repo, cfg, job, phase.clone()).await?;
    let external_id = job.id.to_string();
    let mut own = Vec::new();
    for git_ref in std::iter::once(&job.spec.repo.default_branch).chain(job.branch.as_ref()) {
        for run in repo.list_check_runs(git_ref, CHECK_NAME).await? {
            let mine = run.external_id.as_deref() == Some(external_id.as_str());
            if mine && !own.iter().any(|o: &CheckRun| o.id == run.id) {
                own.push(run);
            }
        }
    }
    let conclusion = phase.conclusion();
    let spec = CheckRunSpec {
        status: Some(CheckStatus::Completed),
        conclusion,
        completed_at: Some(Utc::now()),
        output: Some(CheckOutput {
            title: text::check_title(&view),
            summary: text::check_summary(&view),
            text: text::check_text(&view),
            annotations: Vec::new(),
        }),
        actions: text::check_actions(&phase),
        ..CheckRunSpec::default()
    };
    if own.is_empty() {
        // The job's run is created by its first update that goes out; one
        // interrupted before that has none yet, so it gets one with its end.
        let Some(sha) = repo.branch_head(&job.spec.repo.default_branch).await? else { return Ok(()) };
        let new = CheckRunSpec {
            name: CHECK_NAME.into(),
            head_sha: sha,
            details_url: Some(view.job_url.clone()),
            external_id: Some(external_id),
            started_at: job.started_at,
            ..spec
        };
        repo.create_check_run(&new).await?;
        return Ok(());
    }
    for run in own.iter().filter(|r| r.status != CheckStatus::Completed) {
        repo.update_check_run(run.id, &spec).await?;
    }
    Ok(())
}
