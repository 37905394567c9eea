//! SHIP: bring the agent's work back onto the host working copy
//! (`collect.rs`; never the sandbox's `.git`), commit as the App's bot, push with a freshly minted
//! token, and open the pull request or reuse the open one for the branch.
//! Touches: the working copy, host git, GitHub pulls.

use std::fmt::Write as _;

use super::brief::Gathered;
use super::git::{CoAuthor, Identity, SCRATCH_DIR, WorkingCopy, commit_message};
use super::run::{Log, PipelineContext, Stop, VerifyResult};
use super::sanitize::sanitize;
use crate::github::{NewPullRequest, Permissions, PullRequestUpdate, RepoClient};
use crate::jobs::{Job, JobEvent};
use crate::repoconfig::{Effective, FailurePolicy};
use crate::sandbox::Sandbox;

/// Returns the PR URL, or `None` when the agent changed nothing.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn ship(
    ctx: &PipelineContext,
    repo: &RepoClient,
    job: &Job,
    log: &mut Log<'_>,
    sandbox: &Sandbox,
    wc: &WorkingCopy,
    gathered: &Gathered,
    verify: &[VerifyResult],
    eff: &Effective,
) -> Result<Option<String>, Stop> {
    let started = std::time::Instant::now();
    log.event(JobEvent::StepStarted { step: "ship".into() }).await;
    let result = ship_inner(ctx, repo, job, log, sandbox, wc, gathered, verify, eff).await;
    let ok = result.is_ok();
    let duration_ms = started.elapsed().as_millis() as u64;
    log.event(JobEvent::StepFinished { step: "ship".into(), ok, exit_code: None, duration_ms }).await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn ship_inner(
    ctx: &PipelineContext,
    repo: &RepoClient,
    job: &Job,
    log: &mut Log<'_>,
    sandbox: &Sandbox,
    wc: &WorkingCopy,
    gathered: &Gathered,
    verify: &[VerifyResult],
    eff: &Effective,
) -> Result<Option<String>, Stop> {
    let collected = super::collect::collect(sandbox, wc).await?;
    log.event(JobEvent::Info { message: collected.to_string() }).await;

    // Protected paths (`.github/workflows/**` unless configured): checked
    // before anything is committed or pushed.
    let changed = wc.changed_paths().await.map_err(|e| Stop::failed(e, Some("ship")))?;
    let violations = eff.protected.violations(&changed);
    if !violations.is_empty() {
        return Err(Stop::Failed {
            reason: crate::report::text::protected_paths_changed(&violations),
            step: Some("ship".into()),
            last_lines: Vec::new(),
        });
    }

    let agent_message = read_scratch(wc, "commit-message.txt").await;
    let agent_body = read_scratch(wc, "pr-body.md").await;
    let title = job.spec.issue_title.clone();
    let number = job.spec.issue_number;
    let message = commit_message(agent_message.as_deref(), &title, number.0);
    let bot = repo.bot_identity().await.map_err(|e| Stop::failed(e, Some("ship")))?;
    let author = Identity { name: bot.login.clone(), email: bot.email.clone() };
    let co_author = CoAuthor { login: job.spec.sender_login.clone(), id: job.spec.sender_id };
    let Some(sha) =
        wc.commit_all(&message, &author, Some(&co_author)).await.map_err(|e| Stop::failed(e, Some("ship")))?
    else {
        log.event(JobEvent::Info { message: "the agent changed nothing; no branch, no pull request".into() }).await;
        return Ok(None);
    };
    let token = ctx
        .app
        .token_for(repo.installation_id(), &repo.name, Permissions::contents_write())
        .await
        .map_err(|e| Stop::failed(e, Some("push")))?;
    wc.push(&sha, &gathered.clone_url, &token).await.map_err(|e| Stop::git(e, "push"))?;
    drop(token);
    log.event(JobEvent::Info { message: format!("pushed {sha} to {}", wc.branch()) }).await;

    let verified = verify.iter().all(|v| v.passed);
    let draft = !verified && eff.on_verify_failure != FailurePolicy::Ready;
    let body = pr_body(ctx, job, agent_body.as_deref(), verify);
    let pr_title = message.lines().next().unwrap_or(&title).to_owned();
    let existing = repo.list_pulls_by_head(wc.branch()).await.map_err(|e| Stop::failed(e, Some("pull request")))?;
    let open = existing.into_iter().find(|p| p.state == "open");
    let pr = match open {
        // A follow-up adds commits to the pull request as the people
        // reviewing it left it: its title and description stay theirs.
        Some(p) if job.spec.follow_up.is_some() => p,
        None if job.spec.follow_up.is_some() => {
            return Err(Stop::failed(
                format!("pushed {sha} to {}, but its pull request is no longer open", wc.branch()),
                Some("pull request"),
            ));
        }
        Some(p) => {
            let update = PullRequestUpdate { title: Some(pr_title), body: Some(body), ..Default::default() };
            repo.update_pull(p.number, &update).await.map_err(|e| Stop::failed(e, Some("pull request")))?
        }
        None => {
            let new = NewPullRequest {
                title: pr_title,
                head: wc.branch().to_owned(),
                base: gathered.default_branch.clone(),
                body,
                draft,
            };
            repo.create_pull(&new).await.map_err(|e| Stop::failed(e, Some("pull request")))?
        }
    };
    // The head commit's check run after the PR: with mutations spaced 1 s
    // apart, the PR (what the user waits for) goes first.
    if let Some(r) = log.reporter.as_deref_mut()
        && let Err(e) = r.pushed(&sha).await
    {
        tracing::warn!(job = %job.id, error = %e, "creating the head commit's check run failed");
    }
    if let Err(e) = repo.request_reviewers(pr.number, std::slice::from_ref(&job.spec.sender_login), &[]).await {
        tracing::warn!(job = %job.id, error = %e, "requesting a review failed");
    }
    if let Err(e) = ctx.store.set_pull_request(job.id, wc.branch(), pr.number).await {
        tracing::warn!(job = %job.id, error = format!("{e:#}"), "recording the pull request failed");
    }
    log.event(JobEvent::Info { message: format!("pull request #{}: {}", pr.number, pr.html_url) }).await;
    Ok(Some(pr.html_url))
}

async fn read_scratch(wc: &WorkingCopy, name: &str) -> Option<String> {
    tokio::fs::read_to_string(wc.dir().join(SCRATCH_DIR).join(name)).await.ok().filter(|t| !t.trim().is_empty())
}

fn pr_body(ctx: &PipelineContext, job: &Job, agent_body: Option<&str>, verify: &[VerifyResult]) -> String {
    let mut b = String::new();
    if let Some(text) = agent_body {
        let _ = writeln!(b, "{}\n", sanitize(text).trim_end());
    }
    let _ = writeln!(b, "Closes #{}\n", job.spec.issue_number);
    if verify.is_empty() {
        b.push_str("No verification commands were configured or detected.\n\n");
    } else {
        if !verify.iter().all(|v| v.passed) {
            b.push_str("**Verification still fails** after the fix rounds; this pull request is a draft for a human to finish.\n\n");
        }
        b.push_str("| Command | Result | Duration |\n|---|---|---|\n");
        for v in verify {
            let result = if v.passed {
                "passed".to_owned()
            } else {
                v.exit_code.map_or("did not finish".to_owned(), |c| format!("failed (exit code {c})"))
            };
            let _ = writeln!(
                b,
                "| `{}` | {result} | {:.1} s |",
                v.command.replace('|', "\\|").replace('`', "'"),
                v.duration.as_secs_f64()
            );
        }
        b.push('\n');
    }
    let _ = writeln!(
        b,
        "Job: {} · agent: `{}` · requested by @{}",
        ctx.report.job_url(job.id),
        ctx.agent.name,
        job.spec.sender_login
    );
    crate::masker::global().mask(&b)
}
