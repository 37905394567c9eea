//! The control loop end to end: signed webhooks into the real service, the
//! fake GitHub answering, and assertions on what the fake received (replies,
//! reactions, status comments) and on job state. Every command in each job
//! state: none, queued, running, finished. Replies are shown whole (inline
//! snapshots) where they are short and do not depend on the clock.

use insta::assert_snapshot;
use maxion::jobs::{JobState, TriggerKind};

use crate::support::fake_github::{Failure, ReactionTarget};
use crate::support::service::{TestService, has};

#[tokio::test]
async fn a_label_is_admitted_with_eyes_and_one_queued_status_comment() {
    let c = TestService::start(|_| {}).await;
    let issue = c.issue("Add a flag");
    let (d, outcome) = c.label(issue, "alice", "labeled").await;
    assert_eq!(outcome, "job_created");
    let job = c.latest(issue).await.expect("job");
    assert_eq!(c.processed(&d).await, "admitted");
    let job = c.job(job.id).await;
    assert_eq!(job.state, JobState::Queued);
    c.gh.expect_reaction(c.repo, ReactionTarget::Issue(issue), "eyes");
    let status = c.status_comment(issue, job.id);
    assert_snapshot!(status.body, @r"
    <!-- maxion:job:1 -->
    🕒 **Maxion queued this job** (position 1 in the queue).

    [Job 1 details and full log](https://maxion.example/jobs/1)
    ");
    assert!(c.replies(issue).is_empty());
    c.finish().await;
}

#[tokio::test]
async fn commands_when_the_issue_has_no_job() {
    let c = TestService::start(|_| {}).await;
    let issue = c.issue("Nothing yet");
    for (command, outcome) in [("status", "replied"), ("cancel", "replied"), ("retry", "replied"), ("help", "replied")]
    {
        let (d, recorded) = c.comment(issue, "alice", &format!("/maxion {command}")).await;
        assert_eq!(recorded, "command");
        assert_eq!(c.processed(&d).await, outcome, "{command}");
    }
    assert_eq!(c.command(issue, "alice", "/maxion cancle").await, "replied");
    let replies = c.replies(issue);
    assert_eq!(replies.len(), 5, "{replies:#?}");
    assert_snapshot!(replies[0], @"ℹ️ There is no Maxion job for this issue yet. Comment `/maxion` (optionally followed by instructions) to start one.");
    assert_snapshot!(replies[1], @"There is no queued or running Maxion job on this issue to cancel.");
    assert_snapshot!(replies[2], @"There is no earlier Maxion job on this issue to retry. Comment `/maxion` to start one.");
    has(&replies[3], "`/maxion status`");
    has(&replies[3], "need **write** permission");
    assert_snapshot!(replies[4], @"🤔 `/maxion cancle` is not a command; nothing was started. Did you mean `/maxion cancel`?");
    assert!(c.latest(issue).await.is_none(), "no command started a job");
    c.stop().await;
}

#[tokio::test]
async fn commands_on_a_queued_job() {
    let c = TestService::start(|_| {}).await;
    let issue = c.issue("Queued");
    let job = c.queued_job(issue, "use tabs").await;
    c.gh.expect_reaction(c.repo, ReactionTarget::Comment(job.spec.trigger_comment_id.expect("comment").0), "eyes");

    // `/maxion` again joins the job and says so.
    let (d, outcome) = c.comment(issue, "alice", "/maxion").await;
    assert_eq!(outcome, "job_triggered");
    assert_eq!(c.processed(&d).await, "replied");
    c.command(issue, "alice", "/maxion status").await;
    c.command(issue, "alice", "/maxion retry").await;
    c.command(issue, "alice", "/maxion help").await;
    c.command(issue, "alice", "/maxion stauts").await;
    assert_eq!(c.command(issue, "alice", "/maxion cancel").await, "cancelled");

    let replies = c.replies(issue);
    assert_eq!(replies.len(), 6, "{replies:#?}");
    has(&replies[3], "**Maxion commands**");
    assert_snapshot!(replies[4], @"🤔 `/maxion stauts` is not a command; nothing was started. Did you mean `/maxion status`?");
    assert_eq!(job.id, maxion::jobs::JobId(1), "the replies below name job 1");
    assert_snapshot!(replies[0], @r"
    This issue already has an active Maxion job, so no second one was started.

    🕒 [job 1](https://maxion.example/jobs/1) is **queued**: position 1 in the queue, no estimate of the wait yet (no job has finished recently).

    Comment `/maxion cancel` to stop it, then `/maxion` to start again.
    ");
    assert_snapshot!(replies[1], @r"
    🕒 [job 1](https://maxion.example/jobs/1) is **queued**: position 1 in the queue, no estimate of the wait yet (no job has finished recently).

    Comment `/maxion cancel` to stop it.
    ");
    assert_snapshot!(replies[2], @r"
    🕒 [job 1](https://maxion.example/jobs/1) is **queued**: position 1 in the queue, no estimate of the wait yet (no job has finished recently).

    A retry starts only when no job is active: comment `/maxion cancel` first, or wait for it to end.
    ");
    assert_snapshot!(replies[5], @"🚫 Cancelled [job 1](https://maxion.example/jobs/1) before it started, as @alice asked.");
    let cancelled = c.job(job.id).await;
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert_eq!(cancelled.error.as_deref(), Some("requested by @alice"));
    let status = c.status_comment(issue, job.id);
    assert_snapshot!(status.body, @r"
    <!-- maxion:job:1 -->
    🚫 **Maxion cancelled this job**: requested by @alice

    To try again, comment `/maxion retry` (you can add instructions after it).

    [Job 1 details and full log](https://maxion.example/jobs/1)
    ");
    assert_eq!(c.store().list_jobs(1, 10).await.expect("jobs").len(), 1, "no second job");
    // One permission look-up for alice's four guarded requests: the cache.
    c.gh.expect_requests("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission", 1);
    c.finish().await;
}

#[tokio::test]
async fn commands_on_a_running_job() {
    let c = TestService::start(|_| {}).await;
    let issue = c.issue("Running");
    let job = c.running_job(issue, "").await;
    c.store().set_step(job.id, "agent").await.expect("step");

    for command in ["/maxion status", "/maxion", "/maxion retry", "/maxion cancel", "/maxion help", "/maxion cancle"] {
        c.command(issue, "alice", command).await;
    }
    let replies = c.replies(issue);
    assert_eq!(replies.len(), 6, "{replies:#?}");
    has(&replies[4], "**Maxion commands**");
    assert_snapshot!(replies[5], @"🤔 `/maxion cancle` is not a command; nothing was started. Did you mean `/maxion cancel`?");
    // The running job's time so far is in these three.
    has(&replies[0], "is **running** in step `agent`");
    has(&replies[1], "already has an active Maxion job");
    has(&replies[2], "A retry starts only when no job is active");
    assert_snapshot!(replies[3], @"🚫 Stopping [job 1](https://maxion.example/jobs/1) as @alice asked: its sandbox is being shut down. The status comment says when it has stopped.");
    // The instance running it sees the request on its heartbeat (tests/it/worker.rs).
    assert_eq!(c.store().cancel_requested_by(job.id).await.expect("read").as_deref(), Some("alice"));
    assert_eq!(c.job(job.id).await.state, JobState::Running);
    c.stop().await;
}

#[tokio::test]
async fn commands_on_a_finished_job() {
    let c = TestService::start(|_| {}).await;
    let issue = c.issue("Finished");
    let job = c.running_job(issue, "keep it short").await;
    assert!(
        c.store().transition(job.id, JobState::Running, JobState::Failed, Some("tests failed")).await.expect("end")
    );

    for command in ["/maxion status", "/maxion cancel", "/maxion help", "/maxion hepl"] {
        assert_eq!(c.command(issue, "alice", command).await, "replied");
    }
    let replies = c.replies(issue);
    // How long the job ran is in these two.
    has(&replies[0], "ended **failed**");
    has(&replies[0], "tests failed");
    has(&replies[1], "no queued or running Maxion job on this issue to cancel");
    has(&replies[2], "**Maxion commands**");
    assert_snapshot!(replies[3], @"🤔 `/maxion hepl` is not a command; nothing was started. Did you mean `/maxion help`?");

    // Retry: a new job with the last one's instructions, acknowledged like any.
    assert_eq!(c.command(issue, "alice", "/maxion retry").await, "retried");
    let retry = c.latest(issue).await.expect("job");
    assert_ne!(retry.id, job.id);
    assert_eq!((retry.state, retry.spec.trigger), (JobState::Queued, TriggerKind::Retry));
    assert_eq!(retry.spec.instructions.as_deref(), Some("keep it short"));
    c.gh.expect_reaction(c.repo, ReactionTarget::Comment(retry.spec.trigger_comment_id.expect("c").0), "eyes");
    assert_snapshot!(c.status_comment(issue, retry.id).body, @r"
    <!-- maxion:job:2 -->
    🕒 **Maxion queued this job** (position 1 in the queue).

    [Job 2 details and full log](https://maxion.example/jobs/2)
    ");
    assert_eq!(c.replies(issue).len(), 4, "a retry answers with its status comment, not a reply");
    c.finish().await;
}

#[tokio::test]
async fn edits_run_only_new_commands_and_deletions_do_nothing() {
    let c = TestService::start(|_| {}).await;
    let issue = c.issue("Edits");
    let comment = c.gh.add_comment(c.repo, issue, "alice", "/maxion status");
    let on =
        |action: &str, body: &str, from: Option<&str>| c.source().comment(action, issue, comment, "alice", body, from);
    let (d, _) = c.send("issue_comment", &on("created", "/maxion status", None)).await;
    c.processed(&d).await;
    // A typo fixed below the command: nothing new.
    let body = "/maxion status\n\nthanks!";
    let (_, outcome) = c.send("issue_comment", &on("edited", body, Some("/maxion status"))).await;
    assert_eq!(outcome, "ignored");
    // The command changed: acted on.
    let (d, outcome) = c.send("issue_comment", &on("edited", "/maxion help", Some(body))).await;
    assert_eq!(outcome, "command");
    c.processed(&d).await;
    let (_, outcome) = c.send("issue_comment", &on("deleted", "/maxion", None)).await;
    assert_eq!(outcome, "ignored");
    let replies = c.replies(issue);
    assert_eq!(replies.len(), 2, "{replies:#?}");
    has(&replies[1], "**Maxion commands**");
    c.stop().await;
}

#[tokio::test]
async fn removing_the_label_cancels_a_queued_job_and_adding_it_starts_a_new_one() {
    let c = TestService::start(|_| {}).await;
    let issue = c.issue("Labels");
    let (d, _) = c.label(issue, "alice", "labeled").await;
    c.processed(&d).await;
    let first = c.latest(issue).await.expect("job");
    // Someone without permission cannot cancel it by removing the label.
    let (d, _) = c.label(issue, "mallory", "unlabeled").await;
    assert_eq!(c.processed(&d).await, "refused");
    assert_snapshot!(c.replies(issue)[0], @"@mallory, sorry: cancelling a Maxion job needs **write** permission on this repository (or higher), and you have **none**. A maintainer can do it for you. (Maxion says this once per person and issue for a while.)");
    assert_eq!(c.job(first.id).await.state, JobState::Queued);
    let (d, _) = c.label(issue, "alice", "unlabeled").await;
    assert_eq!(c.processed(&d).await, "cancelled");
    assert_eq!(c.job(first.id).await.state, JobState::Cancelled);
    assert_snapshot!(c.status_comment(issue, first.id).body, @r"
    <!-- maxion:job:1 -->
    🚫 **Maxion cancelled this job**: requested by @alice

    To try again, comment `/maxion retry` (you can add instructions after it).

    [Job 1 details and full log](https://maxion.example/jobs/1)
    ");
    let (d, outcome) = c.label(issue, "alice", "labeled").await;
    assert_eq!(outcome, "job_created");
    assert_eq!(c.processed(&d).await, "admitted");
    let second = c.latest(issue).await.expect("job");
    assert_ne!(second.id, first.id);
    // A running job is not stopped by taking the label off.
    c.run_elsewhere(second.id).await;
    let (d, _) = c.label(issue, "alice", "unlabeled").await;
    assert_eq!(c.processed(&d).await, "nothing");
    assert_eq!(c.store().cancel_requested_by(second.id).await.expect("read"), None);
    c.stop().await;
}

#[tokio::test]
async fn check_run_rerun_and_buttons() {
    let c = TestService::start(|_| {}).await;
    let issue = c.issue("Checks");
    // `Cancel` while running.
    let job = c.running_job(issue, "be brief").await;
    let (d, outcome) = c.check_run(job.id, "alice", Some("cancel")).await;
    assert_eq!(outcome, "command");
    assert_eq!(c.processed(&d).await, "cancelled");
    assert_eq!(c.store().cancel_requested_by(job.id).await.expect("read").as_deref(), Some("alice"));
    assert!(
        c.store()
            .transition(job.id, JobState::Running, JobState::Cancelled, Some("requested by @alice"))
            .await
            .expect("end")
    );
    // `Retry` once it ended: a new job with the same instructions.
    let (d, _) = c.check_run(job.id, "alice", Some("retry")).await;
    assert_eq!(c.processed(&d).await, "retried");
    let retry = c.latest(issue).await.expect("job");
    assert_eq!((retry.state, retry.spec.instructions.as_deref()), (JobState::Queued, Some("be brief")));
    // `Cancel` on the queued retry: cancelled at once, the status comment says so.
    let (d, _) = c.check_run(retry.id, "alice", Some("cancel")).await;
    assert_eq!(c.processed(&d).await, "cancelled");
    assert_eq!(c.job(retry.id).await.state, JobState::Cancelled);
    has(&c.status_comment(issue, retry.id).body, "requested by @alice");
    // GitHub's "Re-run" of the first job's run.
    let (d, _) = c.check_run(job.id, "alice", None).await;
    assert_eq!(c.processed(&d).await, "retried");
    let rerun = c.latest(issue).await.expect("job");
    assert!(rerun.id != retry.id && rerun.state == JobState::Queued);
    // Re-run by someone without permission; a run Maxion does not know.
    let (d, _) = c.check_run(job.id, "mallory", None).await;
    assert_eq!(c.processed(&d).await, "refused");
    let (_, outcome) = c.check_run(maxion::jobs::JobId(9999), "alice", None).await;
    assert_eq!(outcome, "ignored");
    assert!(c.replies(issue).len() == 1, "only the refusal is a reply: {:#?}", c.replies(issue));
    c.finish().await;
}

/// A GitHub failure the client does not retry (here a 422 on the reply)
/// leaves the request pending; it is tried again after a backoff and
/// answered once. The admission is retried the same way.
#[tokio::test]
async fn a_failed_action_is_retried_later_and_still_happens_once() {
    let c = TestService::start(|_| {}).await;
    let issue = c.issue("Flaky");
    c.gh.fail("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", Failure::Status(422), 1);
    assert_eq!(c.command(issue, "alice", "/maxion status").await, "replied");
    assert_eq!(c.replies(issue).len(), 1);
    let refused = |template: &str| c.gh.requests_to("POST", template).iter().filter(|r| r.status == 422).count();
    assert_eq!(refused("/repos/{owner}/{repo}/issues/{issue_number}/comments"), 1, "the first try failed");
    c.gh.fail("POST", "/repos/{owner}/{repo}/issues/{issue_number}/reactions", Failure::Status(422), 1);
    let (d, _) = c.label(issue, "alice", "labeled").await;
    assert_eq!(c.processed(&d).await, "admitted");
    let job = c.latest(issue).await.expect("job");
    assert_eq!(job.state, JobState::Queued);
    c.status_comment(issue, job.id);
    c.gh.expect_reaction(c.repo, ReactionTarget::Issue(issue), "eyes");
    assert_eq!(refused("/repos/{owner}/{repo}/issues/{issue_number}/reactions"), 1, "the first try failed");
    c.stop().await;
}

/// `help` shows the repository's effective `.github/maxion.yml` (default
/// branch), this instance's defaults without one, and the error for a bad one.
#[tokio::test]
async fn help_shows_the_repositorys_effective_configuration() {
    let c = TestService::start(|_| {}).await;
    let issue = c.issue("Help");
    c.command(issue, "alice", "/maxion help").await;
    c.gh.put_file(c.repo, "main", ".github/maxion.yml", "fix_rounds: 1\n");
    c.command(issue, "alice", "/maxion help").await;
    c.gh.put_file(c.repo, "main", ".github/maxion.yml", "fix_rounds: [\n");
    c.command(issue, "alice", "/maxion help").await;
    let replies = c.replies(issue);
    assert_eq!(replies.len(), 3);
    has(&replies[0], "no `.github/maxion.yml`: this Maxion's defaults");
    has(&replies[1], "`.github/maxion.yml` on the default branch");
    has(&replies[1], "| Fix rounds | 1 |");
    has(&replies[2], "line ");
    c.finish().await;
}
