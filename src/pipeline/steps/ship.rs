//! The ship phase: bring the agent's work back onto the host working copy
//! (`collect.rs`; never the sandbox's `.git`), commit as the App's bot, push with a freshly minted
//! token, and open the pull request or reuse the open one for the branch.
//! Touches: the working copy, host git, GitHub pulls.

use super::verify::{VerifyResult, all_passed};
use crate::github::{NewPullRequest, Permissions, PullRequestUpdate};
use crate::jobs::{Failure, JobEnd};
use crate::pipeline::brief::Gathered;
use crate::pipeline::git::{CoAuthor, Identity, SCRATCH_DIR, WorkingCopy, commit_message};
use crate::pipeline::job_run::{JobRun, failed, git_failed};
use crate::pipeline::sanitize::sanitize;
use crate::repoconfig::FailurePolicy;
use crate::report::text::{self, PullRequestBody};

/// Ships the agent's work as step `ship`. Returns the PR URL, or `None` when
/// the agent changed nothing.
pub(crate) async fn ship(
    run: &mut JobRun<'_>,
    gathered: &Gathered,
    verify: &[VerifyResult],
) -> Result<Option<String>, JobEnd> {
    let started = run.log.step_started("ship").await;
    let result = ship_inner(run, gathered, verify).await;
    run.log.step_ended("ship", started, &result).await;
    result
}

async fn ship_inner(
    run: &mut JobRun<'_>,
    gathered: &Gathered,
    verify: &[VerifyResult],
) -> Result<Option<String>, JobEnd> {
    let JobRun { ctx, repo, job, log, eff, wc, dir, sandbox, agent_summary, agent: run_agent, .. } = run;
    let (ctx, repo, job) = (*ctx, *repo, *job);
    let collected = super::collect::collect(sandbox, wc, dir).await?;
    log.info(collected.to_string()).await;

    // Protected paths (`.github/workflows/**` unless configured): checked
    // before anything is committed or pushed.
    let staged = wc.stage_changes().await.map_err(|e| failed(e, "ship"))?;
    let violations = eff.protected.violations(staged.paths());
    if !violations.is_empty() {
        return Err(JobEnd::Failed(Failure {
            reason: text::protected_paths_changed(&violations),
            step: Some("ship".into()),
            last_lines: Vec::new(),
        }));
    }

    let agent_message = read_scratch(wc, "commit-message.txt").await;
    let agent_body = read_scratch(wc, "pr-body.md").await;
    let title = job.spec.issue_title.clone();
    let number = job.spec.issue_number;
    let message = commit_message(agent_message.as_deref(), &title, number.0);
    let bot = repo.bot_identity().await.map_err(|e| failed(e, "ship"))?;
    let author = Identity { name: bot.login.clone(), email: bot.email.clone() };
    let co_author = CoAuthor { login: job.spec.sender_login.clone(), id: job.spec.sender_id };
    let Some(sha) =
        wc.commit_staged(staged, &message, &author, Some(&co_author)).await.map_err(|e| failed(e, "ship"))?
    else {
        log.info(text::nothing_changed()).await;
        return Ok(None);
    };
    let token = ctx
        .app
        .token_for(repo.installation_id(), &repo.name, Permissions::contents_write())
        .await
        .map_err(|e| failed(e, "push"))?;
    // The branch's pull request is looked up while the push runs: one round
    // trip to GitHub less on the way to the pull request.
    let (pushed, existing) =
        tokio::join!(wc.push(&sha, &gathered.clone_url, &token), repo.list_pulls_by_head(wc.branch()));
    pushed.map_err(|e| git_failed(e, "push"))?;
    drop(token);
    log.info(text::pushed(&sha, wc.branch())).await;

    let draft = !all_passed(verify) && eff.on_verify_failure != FailurePolicy::Ready;
    let agent_body = agent_body.map(|b| sanitize(&b));
    let summary = agent_summary.as_deref().map(sanitize);
    let results: Vec<_> = verify.iter().map(VerifyResult::for_report).collect();
    let job_url = ctx.report.job_url(job.id);
    let body = crate::masker::global().mask(&text::pull_request_body(&PullRequestBody {
        agent_body: agent_body.as_deref(),
        agent_summary: summary.as_deref(),
        issue_number: job.spec.issue_number,
        verify: &results,
        job_url: &job_url,
        agent: &run_agent.name,
        requested_by: &job.spec.sender_login,
        notes: &log.pr_notes,
    }));
    let pr_title = message.lines().next().unwrap_or(&title).to_owned();
    let existing = existing.map_err(|e| failed(e, "pull request"))?;
    let open = existing.into_iter().find(|p| p.state == "open");
    let pr = match open {
        // A follow-up adds commits to the pull request as the people
        // reviewing it left it: its title and description stay theirs.
        Some(p) if job.spec.follow_up.is_some() => p,
        None if job.spec.follow_up.is_some() => {
            return Err(failed(text::pull_request_closed(&sha, wc.branch()), "pull request"));
        }
        Some(p) => {
            let update = PullRequestUpdate { title: Some(pr_title), body: Some(body), ..Default::default() };
            repo.update_pull(p.number, &update).await.map_err(|e| failed(e, "pull request"))?
        }
        None => {
            let new = NewPullRequest {
                title: pr_title,
                head: wc.branch().to_owned(),
                base: gathered.default_branch.clone(),
                body,
                draft,
            };
            repo.create_pull(&new).await.map_err(|e| failed(e, "pull request"))?
        }
    };
    // The head commit's check run after the PR: with mutations spaced 1 s
    // apart, the PR (what the user waits for) goes first.
    if let Err(e) = log.reporter.pushed(&sha).await {
        tracing::warn!(job = %job.id, error = %e, "creating the head commit's check run failed");
    }
    if let Err(e) = repo.request_reviewers(pr.number, std::slice::from_ref(&job.spec.sender_login), &[]).await {
        tracing::warn!(job = %job.id, error = %e, "requesting a review failed");
    }
    if let Err(e) = ctx.store.set_pull_request(job.id, wc.branch(), pr.number).await {
        tracing::warn!(job = %job.id, error = format!("{e:#}"), "recording the pull request failed");
    }
    log.info(text::pull_request_line(pr.number, &pr.html_url)).await;
    Ok(Some(pr.html_url))
}

async fn read_scratch(wc: &WorkingCopy, name: &str) -> Option<String> {
    tokio::fs::read_to_string(wc.dir().join(SCRATCH_DIR).join(name)).await.ok().filter(|t| !t.trim().is_empty())
}
