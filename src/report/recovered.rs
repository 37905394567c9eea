//! A job that crash recovery ended without running it again (its instance
//! died once too often, or someone had asked to cancel it): nothing of the
//! pipeline runs, so this shows the end where users look, the status comment
//! and the job's open check runs, which would otherwise say "working" forever.

use chrono::Utc;

use crate::github::{CheckOutput, CheckRun, CheckRunSpec, CheckStatus, GitHubError, RepoClient};
use crate::jobs::{Job, JobEnd};

use super::text::{self, Phase, StatusView};
use super::{CHECK_NAME, ReportConfig, show_ended_before_start};

/// Edits the status comment to `end` and completes the job's check runs
/// still open on the default branch's head (where the job started; if the
/// branch moved since, the old commit's run is not found) and on the head of
/// the branch it pushed. A head commit's run that was not created yet stays
/// uncreated: the pull request exists, its checks lack Maxion's.
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
    let mut open = Vec::new();
    for git_ref in std::iter::once(&job.spec.repo.default_branch).chain(job.branch.as_ref()) {
        for run in repo.list_check_runs(git_ref, CHECK_NAME).await? {
            let mine = run.external_id.as_deref() == Some(external_id.as_str());
            if mine && run.status != CheckStatus::Completed && !open.iter().any(|o: &CheckRun| o.id == run.id) {
                open.push(run);
            }
        }
    }
    let conclusion = phase.conclusion();
    for run in open {
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
        repo.update_check_run(run.id, &spec).await?;
    }
    Ok(())
}
