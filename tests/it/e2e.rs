//! End to end: a labelled issue becomes a verified pull request, through the
//! real service, real Docker sandboxes, host git against the fake GitHub's
//! git server, and the scripted test agent.

use std::time::Duration;

use maxion::config::RawSettings;
use maxion::jobs::{IssueNumber, JobEvent, JobState};

use crate::support::docker::job_containers;
use crate::support::fake_github::Pull;
use crate::support::service::TestService;
use crate::support::service_jobs::JOB_LIMIT;
use crate::support::wait::until;

/// The operator's verify command is `command`.
fn verifying(command: &'static str) -> impl FnOnce(&mut RawSettings) {
    move |r| r.maxion_verify_commands = Some(command.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn labelled_issue_becomes_a_verified_pull_request() {
    let Some(e) = TestService::with_docker(|_| {}).await else { return };
    let script = "write ok.txt all good\ncommit feat: add the ok file (#1)\nbody Adds ok.txt.";
    let (issue, job) = e.run_to_success("Add the ok file", script).await;

    let pulls = e.gh.pulls(e.repo);
    assert_eq!(pulls.len(), 1, "exactly one pull request");
    let pr = &pulls[0];
    assert_eq!(pr.head, "maxion/issue-1-add-the-ok-file");
    assert_eq!(pr.base, "main");
    assert!(!pr.draft, "verification passed: not a draft");
    assert_eq!(pr.title, "feat: add the ok file (#1)");
    let body = pr.body.clone().unwrap_or_default();
    assert!(body.contains("Closes #1"), "{body}");
    assert!(body.contains("Adds ok.txt."), "{body}");
    assert!(body.contains("| `test -f ok.txt` | passed |"), "{body}");
    assert!(pr.requested_reviewers.contains(&"alice".to_owned()));
    assert_eq!(e.gh.file(e.repo, &pr.head, "ok.txt").as_deref(), Some(&b"all good\n"[..]));
    assert!(e.gh.file(e.repo, &pr.head, ".maxion/commit-message.txt").is_none(), "scratch files are never committed");

    let status = e.only_comment(issue);
    assert!(status.history.len() > 1, "the status comment was edited");
    assert!(status.body.contains(&format!("/pull/{}", pr.number)) || status.body.contains(&pr.number.to_string()));

    let runs = e.gh.check_runs(e.repo);
    assert_eq!(runs.len(), 2, "base and head check runs: {runs:?}");
    assert!(runs.iter().all(|r| r.conclusion.as_deref() == Some("success")), "{runs:?}");
    assert!(runs.iter().any(|r| r.head_sha == pr.head_sha));

    // The API shows the brief the agent was given and the pull request the job opened.
    let detail = e.api_job(job.id).await;
    let brief = detail["brief"].as_str().unwrap_or_default();
    assert!(brief.contains("Add the ok file"), "the brief names the issue: {detail}");
    assert!(brief.contains("test -f ok.txt"), "the brief lists the verification command: {brief}");
    assert_eq!(detail["pr_number"].as_u64(), Some(pr.number), "{detail}");
    assert_eq!(detail["branch"].as_str(), Some(pr.head.as_str()), "{detail}");
    let (status, list) = e.api("/api/jobs?per_page=10").await;
    assert_eq!(status, 200);
    assert!(list["jobs"][0].get("brief").is_none(), "the list leaves briefs out: {list}");
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_jobs_on_two_workers_all_succeed_two_at_a_time() {
    let Some(e) = TestService::with_docker(|r| r.maxion_workers = Some("2".into())).await else { return };
    let mut issues = Vec::new();
    for title in ["First of three", "Second of three", "Third of three"] {
        issues.push(e.label_issue(title, "write ok.txt all good").await);
    }
    let mut jobs = Vec::new();
    for issue in &issues {
        let job = e.job_for(*issue).await;
        jobs.push(e.wait_terminal(job.id, JOB_LIMIT * 2).await);
    }
    for job in &jobs {
        assert_eq!(job.state, JobState::Succeeded, "job {} error: {:?}", job.id, job.error);
    }
    let pulls = e.gh.pulls(e.repo);
    assert_eq!(pulls.len(), 3, "one pull request per issue");
    for issue in &issues {
        assert_eq!(e.own_comments(*issue).len(), 1, "one status comment on issue #{issue}");
    }
    // The pool ran two at once and never three: the most jobs running at any
    // job's start, from the stored start and finish times.
    let spans: Vec<_> =
        jobs.iter().map(|j| (j.started_at.expect("started"), j.finished_at.expect("finished"))).collect();
    let most = spans.iter().map(|(at, _)| spans.iter().filter(|(s, f)| s <= at && at < f).count()).max();
    assert_eq!(most, Some(2), "{spans:?}");
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_verification_gets_a_fix_round_then_a_ready_pr() {
    let Some(e) = TestService::with_docker(verifying("grep -q good ok.txt")).await else { return };
    let (issue, job) = e.run_to_success("Fix later", "write-bad-then-fix ok.txt good bad").await;
    let pr = e.pull_for(issue);
    assert_eq!(e.gh.file(e.repo, &pr.head, "ok.txt").as_deref(), Some(&b"good\n"[..]));
    assert!(!pr.draft);
    assert!(e.steps_started(job.id).await.iter().any(|s| s == "fix 1"), "a fix round ran");
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verification_that_never_passes_gives_a_draft_and_failure() {
    let Some(e) = TestService::with_docker(verifying("grep -q good ok.txt")).await else { return };
    let (_, job) = e.run_to_end("Never good", "bad-always ok.txt bad").await;
    assert_eq!(job.state, JobState::Failed);
    let pulls = e.gh.pulls(e.repo);
    assert_eq!(pulls.len(), 1, "job error: {:?}", job.error);
    assert!(pulls[0].draft, "a draft PR");
    let body = pulls[0].body.clone().unwrap_or_default();
    assert!(body.contains("Verification still fails"), "{body}");
    assert!(body.contains("failed (exit code 1)"), "{body}");
    let runs = e.gh.check_runs(e.repo);
    assert!(!runs.is_empty() && runs.iter().all(|r| r.conclusion.as_deref() == Some("failure")), "{runs:?}");
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_to_change_is_neutral_without_a_pr() {
    let Some(e) = TestService::with_docker(verifying("true")).await else { return };
    e.run_to_success("Nothing to do", "nothing").await;
    assert!(e.gh.pulls(e.repo).is_empty(), "no PR");
    assert!(e.gh.file(e.repo, "maxion/issue-1-nothing-to-do", "README.md").is_none(), "no branch");
    let runs = e.gh.check_runs(e.repo);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].conclusion.as_deref(), Some("neutral"));
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_past_its_deadline_times_out() {
    let Some(e) = TestService::with_docker(|r| r.maxion_job_timeout = Some("3".into())).await else { return };
    let issue = e.label_issue("Slow", "sleep 60").await;
    let job = e.wait_terminal(e.job_for(issue).await.id, Duration::from_secs(60)).await;
    assert_eq!(job.state, JobState::TimedOut, "error: {:?}", job.error);
    let runs = e.gh.check_runs(e.repo);
    assert!(runs.iter().all(|r| r.conclusion.as_deref() == Some("timed_out")), "{runs:?}");
    let comment = e.only_comment(issue).body;
    assert!(comment.contains("| `agent` | ⌛ timed out |") && !comment.contains("❌"), "{comment}");
    assert!(e.gh.pulls(e.repo).is_empty());
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tokens_and_agent_secrets_never_leave_unmasked() {
    const SECRET: &str = "agent-secret-value-5f1d9c2e7a";
    // SAFETY: nextest runs each test in its own process; nothing else reads the environment concurrently here.
    unsafe { std::env::set_var("E2E_AGENT_SECRET", SECRET) };
    let secrets = |r: &mut RawSettings| r.maxion_agent_secrets = Some("E2E_AGENT_SECRET".into());
    let Some(e) = TestService::with_docker(secrets).await else { return };
    let (issue, job) = e.run_to_success("Leak check", "print-env E2E_AGENT_SECRET\nwrite ok.txt fine").await;

    let stored = serde_json::to_string(&e.events(job.id).await).expect("json");
    assert!(stored.contains("E2E_AGENT_SECRET="), "the agent printed the variable: {stored}");
    let mut everything = stored;
    for c in e.gh.comments(e.repo, issue) {
        everything.push_str(&c.history.join("\n"));
    }
    for r in e.gh.check_runs(e.repo) {
        everything.push_str(&format!("{:?}{:?}{:?}", r.title, r.summary, r.text));
    }
    for p in e.gh.pulls(e.repo) {
        everything.push_str(&format!("{}{:?}", p.title, p.body));
    }
    assert!(!everything.contains(SECRET), "the agent secret leaked");
    let tokens = e.gh.issued_tokens();
    assert!(!tokens.is_empty());
    for t in tokens {
        assert!(!everything.contains(&t), "an installation token leaked");
    }
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn maxion_cancel_on_a_running_job_removes_its_container_quickly() {
    let Some(e) = TestService::with_docker(|_| {}).await else { return };
    let issue = e.label_issue("Cancel me", "sleep 120").await;
    let id = e.job_for(issue).await.id;
    // Wait until the agent step runs (its container exists).
    until(Duration::from_secs(60), async || {
        let agent = e.steps_started(id).await.iter().any(|s| s == "agent");
        if agent { Ok(()) } else { Err("the agent never started".to_owned()) }
    })
    .await;
    let docker = maxion::sandbox::connect().await.expect("docker");
    let instance = maxion::worker::instance_id(&e.dir.path().join("data")).expect("instance id");
    assert_eq!(job_containers(&docker, &instance, id).await, 1, "the job's sandbox runs");
    // `/maxion cancel` through a webhook: the control loop asks, the worker stops.
    e.comment(issue, "alice", "/maxion cancel").await;
    until(Duration::from_secs(60), async || {
        let asked = e.store().cancel_requested_by(id).await.expect("read");
        asked.map(|_| ()).ok_or("the cancel request was never taken".to_owned())
    })
    .await;
    until(Duration::from_secs(2), async || {
        let left = job_containers(&docker, &instance, id).await;
        if left == 0 { Ok(()) } else { Err("container still there 2 s after cancel".to_owned()) }
    })
    .await;
    let job = e.wait_terminal(id, Duration::from_secs(30)).await;
    assert_eq!(job.state, JobState::Cancelled);
    let runs = e.gh.check_runs(e.repo);
    assert!(runs.iter().all(|r| r.conclusion.as_deref() == Some("cancelled")), "{runs:?}");
    assert!(runs.iter().all(|r| r.summary.as_deref().unwrap_or_default().contains("requested by @alice")), "{runs:?}");
    assert_eq!(job.error.as_deref(), Some("requested by @alice"));
    let own = e.own_comments(issue);
    assert!(own.iter().any(|c| c.body.contains("cancelled this job**: requested by @alice")), "{own:#?}");
    // The step it was in reads cancelled, on GitHub and in the job's log, not failed.
    let status = own.iter().find(|c| c.body.contains("cancelled this job")).expect("status comment");
    assert!(status.body.contains("| `agent` | 🚫 cancelled |"), "{}", status.body);
    assert!(!status.body.contains("❌"), "{}", status.body);
    assert!(runs.iter().all(|r| !r.summary.as_deref().unwrap_or_default().contains("❌")), "{runs:?}");
    let events = e.events(id).await;
    let stopped = |s: &maxion::jobs::StoredEvent| matches!(&s.event, JobEvent::StepFinished { step, stopped: Some(maxion::jobs::StepStop::Cancelled), .. } if step == "agent");
    assert!(events.iter().any(stopped), "{events:#?}");
    // The command got its reply.
    let replies = e.replies(issue);
    assert_eq!(replies.len(), 1, "{replies:#?}");
    insta::assert_snapshot!(replies[0], @"🚫 Stopping [job 1](https://maxion.example/jobs/1) as @alice asked: its sandbox is being shut down. The status comment says when it has stopped.");
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edits_and_deletions_come_back_with_or_without_the_sandboxes_git() {
    let Some(e) = TestService::with_docker(|r| r.maxion_workers = Some("2".into())).await else { return };
    e.gh.put_file(e.repo, "main", "old.txt", "old\n");
    e.gh.put_file(e.repo, "main", "keep.txt", "keep\n");
    // Only the changed files come back (the sandbox's git lists them) ...
    let listed = e.label_issue("Listed changes", "write ok.txt listed\ndelete old.txt").await;
    // ... or, with that git gone, the whole workspace does.
    let whole = e.label_issue("Whole workspace", "write ok.txt whole\ndelete old.txt\ndrop-git").await;
    let how =
        [(listed, "listed\n", "collected 2 changed path(s)"), (whole, "whole\n", "collected the whole workspace")];
    for (issue, content, collected) in how {
        let job = e.job_ends(issue).await;
        assert_eq!(job.state, JobState::Succeeded, "#{issue} error: {:?}", job.error);
        let events = e.events(job.id).await;
        let said = |s: &maxion::jobs::StoredEvent| matches!(&s.event, JobEvent::Info { message } if message.starts_with(collected));
        let infos: Vec<_> = events.iter().filter(|s| s.event.kind() == "info").collect();
        assert!(events.iter().any(said), "#{issue}: {collected}: {infos:?}");
        let branch = e.pull_for(issue).head;
        assert_eq!(e.gh.file(e.repo, &branch, "ok.txt").as_deref(), Some(content.as_bytes()), "#{issue}");
        assert_eq!(e.gh.file(e.repo, &branch, "old.txt"), None, "#{issue}: the deletion was committed");
        assert_eq!(e.gh.file(e.repo, &branch, "keep.txt").as_deref(), Some(&b"keep\n"[..]), "#{issue}");
    }
    e.finish().await;
}

// `.github/maxion.yml`: read at the default branch head.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn repo_config_commands_replace_the_others_and_a_clamp_is_reported() {
    // The operator's MAXION_VERIFY_COMMANDS (`test -f ok.txt`) would fail: the file's command must win.
    let Some(e) = TestService::with_docker(|_| {}).await else { return };
    let config = "setup:\n  - touch /tmp/setup-ran\nverify:\n  - run: test -f /tmp/setup-ran && test -f configured.txt\n    \
                  kind: test\nfix_rounds: 7\nnetwork: open\nbranch_prefix: bot\n";
    e.gh.put_file(e.repo, "main", ".github/maxion.yml", config);
    let (issue, _) = e.run_to_success("Configured", "write configured.txt yes").await;
    let pulls = e.gh.pulls(e.repo);
    let body = pulls[0].body.clone().unwrap_or_default();
    assert_eq!(pulls[0].head, "bot/issue-1-configured", "branch_prefix");
    assert!(body.contains("| `test -f /tmp/setup-ran && test -f configured.txt` | passed |"), "{body}");
    assert!(!body.contains("ok.txt"), "the operator's command did not run: {body}");
    let comment = e.only_comment(issue).body;
    assert!(comment.contains("`fix_rounds: 7`") && comment.contains("MAXION_MAX_FIX_ROUNDS"), "{comment}");
    assert!(comment.contains("`network: open`") && comment.contains("MAXION_ALLOWED_NETWORK_MODES"), "{comment}");
    let runs = e.gh.check_runs(e.repo);
    assert!(runs.iter().all(|r| r.summary.as_deref().is_some_and(|s| s.contains("`fix_rounds: 7`"))), "{runs:?}");
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalid_repo_config_fails_the_job_before_any_sandbox_work() {
    let Some(e) = TestService::with_docker(|_| {}).await else { return };
    e.gh.put_file(e.repo, "main", ".github/maxion.yml", "fix_rounds: 1\nverfiy:\n  - make\n");
    let (issue, job) = e.run_to_end("Typo", "write ok.txt fine").await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.clone().unwrap_or_default();
    assert!(error.contains("line 2, column 1") && error.contains("unknown field `verfiy`"), "{error}");
    let comment = e.only_comment(issue).body;
    assert!(comment.contains("invalid at line 2, column 1: unknown field `verfiy`"), "{comment}");
    assert_eq!(e.steps_started(job.id).await, ["config"], "nothing ran after the config step");
    assert!(e.gh.pulls(e.repo).is_empty());
    let runs = e.gh.check_runs(e.repo);
    assert!(runs.iter().all(|r| r.conclusion.as_deref() == Some("failure")), "{runs:?}");
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_to_a_protected_path_fails_the_job_and_pushes_nothing() {
    let Some(e) = TestService::with_docker(|_| {}).await else { return };
    let (issue, job) = e.run_to_end("Sneaky", "write ok.txt fine\nwrite .github/workflows/x.yml on: push").await;
    assert_eq!(job.state, JobState::Failed);
    let comment = e.only_comment(issue).body;
    assert!(comment.contains("protected paths (`.github/workflows/x.yml`)"), "{comment}");
    assert!(comment.contains("nothing was pushed"), "{comment}");
    assert!(e.gh.pulls(e.repo).is_empty(), "no PR");
    assert!(e.gh.file(e.repo, "maxion/issue-1-sneaky", "ok.txt").is_none(), "no branch pushed");
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_pr_policy_pushes_nothing_when_verification_fails() {
    let Some(e) = TestService::with_docker(|_| {}).await else { return };
    let config = "verify: ['grep -q good ok.txt']\nfix_rounds: 0\non_verify_failure: no_pr\n";
    e.gh.put_file(e.repo, "main", ".github/maxion.yml", config);
    let (_, job) = e.run_to_end("No PR please", "bad-always ok.txt bad").await;
    assert_eq!(job.state, JobState::Failed);
    let error = job.error.clone().unwrap_or_default();
    assert!(error.contains("no pull request was opened"), "{error}");
    assert!(e.gh.pulls(e.repo).is_empty(), "no PR");
    assert!(e.gh.file(e.repo, "maxion/issue-1-no-pr-please", "ok.txt").is_none(), "no branch pushed");
    let steps = e.steps_started(job.id).await;
    assert!(!steps.iter().any(|s| s == "fix 1" || s == "ship"), "no fix round, no ship");
    e.finish().await;
}

// Iterating on Maxion's pull request.

/// A first job's pull request and its branch head.
async fn maxions_pull_request(e: &TestService) -> (Pull, String) {
    e.run_to_success("Add the ok file", "write ok.txt all good").await;
    let pr = e.gh.pulls(e.repo).into_iter().next().expect("the first job's pull request");
    let head = e.gh.head_sha(e.repo, &pr.head);
    (pr, head)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn feedback_on_maxions_pull_request_adds_a_commit_to_the_same_pull_request() {
    let Some(e) = TestService::with_docker(|_| {}).await else { return };
    let (pr, before) = maxions_pull_request(&e).await;

    // The script is in the feedback, past the command's paragraph: the agent
    // acts on it only if the whole comment reached the brief.
    let feedback = "/maxion also add a second file, please\n\n```maxion-test\nwrite more.txt more\n```\n";
    e.pr_comment(pr.number, "alice", feedback).await;
    let follow_up = e.job_ends(pr.number).await;
    assert_eq!(follow_up.state, JobState::Succeeded, "job error: {:?}", follow_up.error);
    assert!(follow_up.spec.follow_up.is_some());
    assert_eq!(follow_up.branch.as_deref(), Some(pr.head.as_str()));
    assert_eq!(follow_up.pr_number, Some(IssueNumber(pr.number)));

    // A new commit on top of the branch, in the same (only) pull request.
    let pulls = e.gh.pulls(e.repo);
    assert_eq!(pulls.len(), 1, "no second pull request: {pulls:#?}");
    assert_eq!(pulls[0].title, pr.title, "the pull request's title is left alone");
    let after = e.gh.head_sha(e.repo, &pr.head);
    assert_ne!(after, before, "the branch moved");
    let parent = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(e.gh.git_dir(e.repo))
        .args(["rev-parse", &format!("{after}^")])
        .output()
        .expect("git rev-parse");
    assert_eq!(String::from_utf8_lossy(&parent.stdout).trim(), before, "the new commit is on top of the old head");
    assert_eq!(e.gh.file(e.repo, &pr.head, "ok.txt").as_deref(), Some(&b"all good\n"[..]), "the first commit stays");
    assert_eq!(e.gh.file(e.repo, &pr.head, "more.txt").as_deref(), Some(&b"more\n"[..]));

    // The brief carried the feedback and the pull request's state.
    let brief = e.api_job(follow_up.id).await["brief"].as_str().unwrap_or_default().to_owned();
    assert!(brief.contains(&format!("## The task: feedback on pull request #{}", pr.number)), "{brief}");
    assert!(brief.contains(&format!("`{}`", pr.head)), "the brief names the branch: {brief}");
    assert!(brief.contains("also add a second file"), "{brief}");

    // The follow-up's status comment is on the pull request, and finished.
    let status = e.only_comment(pr.number);
    assert!(status.body.contains(&format!("<!-- maxion:job:{} -->", follow_up.id)), "{}", status.body);
    let runs = e.gh.check_runs(e.repo);
    assert!(runs.iter().any(|r| r.head_sha == after && r.conclusion.as_deref() == Some("success")), "{runs:?}");
    e.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_review_comment_on_maxions_pull_request_adds_a_commit_with_its_place_in_the_brief() {
    let Some(e) = TestService::with_docker(|_| {}).await else { return };
    let (pr, before) = maxions_pull_request(&e).await;

    let hunk = "@@ -0,0 +1 @@\n+all good";
    let feedback = "/maxion say it louder\n\n```maxion-test\nwrite ok.txt ALL GOOD\n```";
    e.review_comment(pr.number, "ok.txt", 1, hunk, feedback).await;
    let follow_up = e.job_ends(pr.number).await;
    assert_eq!(follow_up.state, JobState::Succeeded, "job error: {:?}", follow_up.error);

    let pulls = e.gh.pulls(e.repo);
    assert_eq!(pulls.len(), 1, "no second pull request: {pulls:#?}");
    assert_ne!(e.gh.head_sha(e.repo, &pr.head), before, "a new commit on the branch");
    assert_eq!(e.gh.file(e.repo, &pr.head, "ok.txt").as_deref(), Some(&b"ALL GOOD\n"[..]));
    let brief = e.api_job(follow_up.id).await["brief"].as_str().unwrap_or_default().to_owned();
    assert!(brief.contains("a review comment on a line of the diff"), "{brief}");
    assert!(brief.contains("`ok.txt`, line 1"), "{brief}");
    assert!(brief.contains(hunk), "{brief}");
    assert_eq!(e.own_comments(pr.number).len(), 1, "the status comment is on the pull request");
    e.finish().await;
}

/// A sandbox that cannot start (its image is missing) fails the job where the
/// user sees it, and the job's working copy does not stay on the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sandbox_that_cannot_start_fails_the_job_and_leaves_no_working_copy() {
    let absent = |r: &mut RawSettings| r.maxion_sandbox_image = Some("maxion-sandbox-absent:none".into());
    let Some(e) = TestService::with_docker(absent).await else { return };
    let (issue, job) = e.run_to_end("No image", "write ok.txt fine").await;
    assert_eq!(job.state, JobState::Failed, "error: {:?}", job.error);
    let comment = e.only_comment(issue).body;
    assert!(comment.contains("maxion-sandbox-absent:none"), "{comment}");
    assert!(e.steps_started(job.id).await.contains(&"checkout".to_owned()), "the working copy was made first");
    let work = e.dir.path().join("data").join("work");
    let left: Vec<_> =
        std::fs::read_dir(&work).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", work.display());
    assert!(e.gh.pulls(e.repo).is_empty());
    e.finish().await;
}
