//! The control loop end to end (issue 6 §1, §2, §5): signed webhooks into
//! the real service, the fake GitHub answering, and assertions on what the
//! fake received (replies, reactions, status comments) and on job state.
//! Every command in each job state: none, queued, running, finished.

use crate::support::control::Ctl;
use crate::support::fake_github::ReactionTarget;
use maxion::jobs::{IssueNumber, JobState, TriggerKind};

fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}

#[tokio::test]
async fn a_label_is_admitted_with_eyes_and_one_queued_status_comment() {
    let c = Ctl::start(|_| {}).await;
    let issue = c.issue("Add a flag");
    let (d, outcome) = c.label(issue, "alice", "labeled").await;
    assert_eq!(outcome, "job_created");
    let job = c.latest(issue).await.expect("job");
    assert_eq!(c.processed(&d).await, "admitted");
    let job = c.job(job.id).await;
    assert_eq!(job.state, JobState::Queued);
    c.gh.expect_reaction(c.repo, ReactionTarget::Issue(issue), "eyes");
    let status = c.status_comment(issue, job.id);
    has(&status.body, "queued this job");
    has(&status.body, "position 1");
    assert!(c.replies(issue).is_empty());
    c.gh.assert_ok();
    c.stop().await;
}

#[tokio::test]
async fn commands_when_the_issue_has_no_job() {
    let c = Ctl::start(|_| {}).await;
    let issue = c.issue("Nothing yet");
    for (command, outcome) in [("status", "replied"), ("cancel", "replied"), ("retry", "replied"), ("help", "replied")]
    {
        let (d, recorded) = c.comment(issue, "alice", &format!("/maxion {command}")).await;
        assert_eq!(recorded, "command");
        assert_eq!(c.processed(&d).await, outcome, "{command}");
    }
    let (d, _) = c.comment(issue, "alice", "/maxion cancle").await;
    assert_eq!(c.processed(&d).await, "replied");
    let replies = c.replies(issue);
    assert_eq!(replies.len(), 5, "{replies:#?}");
    has(&replies[0], "There is no Maxion job for this issue yet");
    has(&replies[1], "no queued or running Maxion job on this issue to cancel");
    has(&replies[2], "no earlier Maxion job on this issue to retry");
    has(&replies[3], "`/maxion status`");
    has(&replies[3], "need **write** permission");
    has(&replies[4], "Did you mean `/maxion cancel`?");
    assert!(c.latest(issue).await.is_none(), "no command started a job");
    c.stop().await;
}

#[tokio::test]
async fn commands_on_a_queued_job() {
    let c = Ctl::start(|_| {}).await;
    let issue = c.issue("Queued");
    let job = c.queued_job(issue, "use tabs").await;
    c.gh.expect_reaction(c.repo, ReactionTarget::Comment(job.spec.trigger_comment_id.expect("comment").0), "eyes");

    // `/maxion` again joins the job and says so.
    let (d, outcome) = c.comment(issue, "alice", "/maxion").await;
    assert_eq!(outcome, "job_triggered");
    assert_eq!(c.processed(&d).await, "replied");
    let (d, _) = c.comment(issue, "alice", "/maxion status").await;
    c.processed(&d).await;
    let (d, _) = c.comment(issue, "alice", "/maxion retry").await;
    c.processed(&d).await;
    let (d, _) = c.comment(issue, "alice", "/maxion help").await;
    c.processed(&d).await;
    let (d, _) = c.comment(issue, "alice", "/maxion stauts").await;
    c.processed(&d).await;
    let (d, _) = c.comment(issue, "alice", "/maxion cancel").await;
    assert_eq!(c.processed(&d).await, "cancelled");

    let replies = c.replies(issue);
    assert_eq!(replies.len(), 6, "{replies:#?}");
    has(&replies[3], "**Maxion commands**");
    has(&replies[4], "Did you mean `/maxion status`?");
    has(&replies[0], "already has an active Maxion job");
    has(&replies[1], "is **queued**: position 1 in the queue");
    has(&replies[1], &format!("[job {}](https://maxion.example/jobs/{})", job.id, job.id));
    has(&replies[2], "A retry starts only when no job is active");
    has(&replies[5], "Cancelled [job");
    let cancelled = c.job(job.id).await;
    assert_eq!(cancelled.state, JobState::Cancelled);
    assert_eq!(cancelled.error.as_deref(), Some("requested by @alice"));
    let status = c.status_comment(issue, job.id);
    has(&status.body, "cancelled this job**: requested by @alice");
    assert_eq!(c.store().list_jobs(1, 10).await.expect("jobs").len(), 1, "no second job");
    // One permission look-up for alice's four guarded requests: the cache.
    c.gh.expect_requests("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission", 1);
    c.gh.assert_ok();
    c.stop().await;
}

#[tokio::test]
async fn commands_on_a_running_job() {
    let c = Ctl::start(|_| {}).await;
    let issue = c.issue("Running");
    let job = c.queued_job(issue, "").await;
    c.run_elsewhere(job.id).await;
    c.store().set_step(job.id, "agent").await.expect("step");

    for command in ["/maxion status", "/maxion", "/maxion retry", "/maxion cancel", "/maxion help", "/maxion cancle"] {
        let (d, _) = c.comment(issue, "alice", command).await;
        c.processed(&d).await;
    }
    let replies = c.replies(issue);
    assert_eq!(replies.len(), 6, "{replies:#?}");
    has(&replies[4], "**Maxion commands**");
    has(&replies[5], "Did you mean `/maxion cancel`?");
    has(&replies[0], "is **running** in step `agent`");
    has(&replies[1], "already has an active Maxion job");
    has(&replies[2], "A retry starts only when no job is active");
    has(&replies[3], "Stopping [job");
    // The instance running it sees the request on its heartbeat (tests/it/worker.rs).
    assert_eq!(c.store().cancel_requested_by(job.id).await.expect("read").as_deref(), Some("alice"));
    assert_eq!(c.job(job.id).await.state, JobState::Running);
    c.stop().await;
}

#[tokio::test]
async fn commands_on_a_finished_job() {
    let c = Ctl::start(|_| {}).await;
    let issue = c.issue("Finished");
    let job = c.queued_job(issue, "keep it short").await;
    c.run_elsewhere(job.id).await;
    assert!(
        c.store().transition(job.id, JobState::Running, JobState::Failed, Some("tests failed")).await.expect("end")
    );

    for command in ["/maxion status", "/maxion cancel", "/maxion help", "/maxion hepl"] {
        let (d, _) = c.comment(issue, "alice", command).await;
        assert_eq!(c.processed(&d).await, "replied");
    }
    let replies = c.replies(issue);
    has(&replies[0], "ended **failed**");
    has(&replies[0], "tests failed");
    has(&replies[1], "no queued or running Maxion job on this issue to cancel");
    has(&replies[2], "**Maxion commands**");
    has(&replies[3], "Did you mean `/maxion help`?");

    // Retry: a new job with the last one's instructions, acknowledged like any.
    let (d, _) = c.comment(issue, "alice", "/maxion retry").await;
    assert_eq!(c.processed(&d).await, "retried");
    let retry = c.latest(issue).await.expect("job");
    assert_ne!(retry.id, job.id);
    assert_eq!((retry.state, retry.spec.trigger), (JobState::Queued, TriggerKind::Retry));
    assert_eq!(retry.spec.instructions.as_deref(), Some("keep it short"));
    c.gh.expect_reaction(c.repo, ReactionTarget::Comment(retry.spec.trigger_comment_id.expect("c").0), "eyes");
    has(&c.status_comment(issue, retry.id).body, "queued this job");
    assert_eq!(c.replies(issue).len(), 4, "a retry answers with its status comment, not a reply");
    c.gh.assert_ok();
    c.stop().await;
}

#[tokio::test]
async fn a_non_collaborator_is_refused_once_then_silently() {
    let c = Ctl::start(|_| {}).await;
    let issue = c.issue("Spam target");
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        let (d, _) = c.comment(issue, "mallory", "/maxion do my homework").await;
        outcomes.push(c.processed(&d).await);
    }
    assert_eq!(outcomes, ["refused", "refused_silently", "refused_silently"]);
    let replies = c.replies(issue);
    assert_eq!(replies.len(), 1, "{replies:#?}");
    has(&replies[0], "@mallory, sorry: starting a Maxion job needs **write** permission");
    has(&replies[0], "you have **none**");
    let jobs = c.store().list_jobs(1, 10).await.expect("jobs");
    assert!(jobs.iter().all(|j| j.state == JobState::Refused), "{jobs:#?}");
    assert!(c.gh.reactions(c.repo).is_empty(), "refused jobs are not acknowledged");
    // Status and help stay open to them, a few times per issue and hour.
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        let (d, _) = c.comment(issue, "mallory", "/maxion status").await;
        outcomes.push(c.processed(&d).await);
    }
    assert_eq!(outcomes[..5], ["replied_to_outsider"; 5]);
    assert_eq!(outcomes[5], "silenced");
    has(&c.replies(issue)[1], "ended **refused**");
    assert_eq!(c.replies(issue).len(), 6, "one refusal and five status replies");
    // Someone else on the same issue gets their own refusal.
    let (d, _) = c.comment(issue, "eve", "/maxion").await;
    assert_eq!(c.processed(&d).await, "refused");
    c.stop().await;
}

/// Each permission level against the default requirement (`write`): below it
/// every guarded command is refused, at or above it they act; `status` and
/// `help` are open to all. (The full action × level × setting matrix is the
/// unit test in `control::permissions`.)
#[tokio::test]
async fn every_permission_level_for_the_guarded_commands() {
    let c = Ctl::start(|_| {}).await;
    for level in ["none", "read", "triage", "write", "maintain", "admin"] {
        let user = format!("user-{level}");
        c.gh.add_user(&user, crate::support::fake_github::UserType::User);
        c.gh.set_permission(c.repo, &user, level);
        let allowed = matches!(level, "write" | "maintain" | "admin");
        let issue = c.issue(&format!("for {level}"));
        let (d, _) = c.comment(issue, &user, "/maxion").await;
        assert_eq!(c.processed(&d).await, if allowed { "admitted" } else { "refused" }, "{level}: start");
        let (d, _) = c.comment(issue, &user, "/maxion cancel").await;
        let cancel = c.processed(&d).await;
        assert_eq!(cancel, if allowed { "cancelled" } else { "refused_silently" }, "{level}: cancel");
        let (d, _) = c.comment(issue, &user, "/maxion retry").await;
        assert_eq!(c.processed(&d).await, if allowed { "retried" } else { "refused_silently" }, "{level}: retry");
        let (d, _) = c.comment(issue, &user, "/maxion status").await;
        let open = if allowed { "replied" } else { "replied_to_outsider" };
        assert_eq!(c.processed(&d).await, open, "{level}: status is open");
    }
    c.stop().await;
}

#[tokio::test]
async fn the_operator_can_require_more_than_write() {
    let c = Ctl::start(|s| s.maxion_required_permission = Some("maintain".into())).await;
    let issue = c.issue("Strict");
    let (d, _) = c.comment(issue, "alice", "/maxion").await;
    assert_eq!(c.processed(&d).await, "refused");
    has(&c.replies(issue)[0], "needs **maintain** permission on this repository (or higher), and you have **write**");
    // Permissions are cached for a few minutes per (repository, user): a
    // maintainer other than alice, rather than alice promoted.
    c.gh.add_user("mona", crate::support::fake_github::UserType::User);
    c.gh.set_permission(c.repo, "mona", "maintain");
    let other = c.issue("Strict 2");
    let (d, _) = c.comment(other, "mona", "/maxion").await;
    assert_eq!(c.processed(&d).await, "admitted");
    let (d, _) = c.comment(other, "alice", "/maxion help").await;
    c.processed(&d).await;
    has(&c.replies(other)[0], "need **maintain** permission");
    c.stop().await;
}

#[tokio::test]
async fn edits_run_only_new_commands_and_deletions_do_nothing() {
    let c = Ctl::start(|_| {}).await;
    let issue = c.issue("Edits");
    let comment = c.gh.add_comment(c.repo, issue, "alice", "/maxion status");
    let (d, _) =
        c.deliver("issue_comment", c.comment_payload("created", issue, comment, "alice", "/maxion status", None)).await;
    c.processed(&d).await;
    // A typo fixed below the command: nothing new.
    let body = "/maxion status\n\nthanks!";
    let (_, outcome) = c
        .deliver("issue_comment", c.comment_payload("edited", issue, comment, "alice", body, Some("/maxion status")))
        .await;
    assert_eq!(outcome, "ignored");
    // The command changed: acted on.
    let (d, outcome) = c
        .deliver("issue_comment", c.comment_payload("edited", issue, comment, "alice", "/maxion help", Some(body)))
        .await;
    assert_eq!(outcome, "command");
    c.processed(&d).await;
    let (_, outcome) =
        c.deliver("issue_comment", c.comment_payload("deleted", issue, comment, "alice", "/maxion", None)).await;
    assert_eq!(outcome, "ignored");
    let replies = c.replies(issue);
    assert_eq!(replies.len(), 2, "{replies:#?}");
    has(&replies[1], "**Maxion commands**");
    c.stop().await;
}

#[tokio::test]
async fn removing_the_label_cancels_a_queued_job_and_adding_it_starts_a_new_one() {
    let c = Ctl::start(|_| {}).await;
    let issue = c.issue("Labels");
    let (d, _) = c.label(issue, "alice", "labeled").await;
    c.processed(&d).await;
    let first = c.latest(issue).await.expect("job");
    // Someone without permission cannot cancel it by removing the label.
    let (d, _) = c.label(issue, "mallory", "unlabeled").await;
    assert_eq!(c.processed(&d).await, "refused");
    has(&c.replies(issue)[0], "cancelling a Maxion job needs **write**");
    assert_eq!(c.job(first.id).await.state, JobState::Queued);
    let (d, _) = c.label(issue, "alice", "unlabeled").await;
    assert_eq!(c.processed(&d).await, "cancelled");
    assert_eq!(c.job(first.id).await.state, JobState::Cancelled);
    has(&c.status_comment(issue, first.id).body, "cancelled this job");
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
    let c = Ctl::start(|_| {}).await;
    let issue = c.issue("Checks");
    let job = c.queued_job(issue, "be brief").await;
    // `Cancel` while running.
    c.run_elsewhere(job.id).await;
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
    c.gh.assert_ok();
    c.stop().await;
}

/// A GitHub failure the client does not retry (here a 422 on the reply)
/// leaves the request pending; it is tried again after a backoff and
/// answered once. The admission is retried the same way.
#[tokio::test]
async fn a_failed_action_is_retried_later_and_still_happens_once() {
    let c = Ctl::start(|_| {}).await;
    let issue = c.issue("Flaky");
    c.gh.fail(
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        crate::support::fake_github::Failure::Status(422),
        1,
    );
    let (d, _) = c.comment(issue, "alice", "/maxion status").await;
    assert_eq!(c.processed(&d).await, "replied");
    assert_eq!(c.replies(issue).len(), 1);
    let refused = |template: &str| c.gh.requests_to("POST", template).iter().filter(|r| r.status == 422).count();
    assert_eq!(refused("/repos/{owner}/{repo}/issues/{issue_number}/comments"), 1, "the first try failed");
    c.gh.fail(
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/reactions",
        crate::support::fake_github::Failure::Status(422),
        1,
    );
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
    let c = Ctl::start(|_| {}).await;
    let issue = c.issue("Help");
    let (d, _) = c.comment(issue, "alice", "/maxion help").await;
    c.processed(&d).await;
    c.gh.put_file(c.repo, "main", ".github/maxion.yml", "fix_rounds: 1\n");
    let (d, _) = c.comment(issue, "alice", "/maxion help").await;
    c.processed(&d).await;
    c.gh.put_file(c.repo, "main", ".github/maxion.yml", "fix_rounds: [\n");
    let (d, _) = c.comment(issue, "alice", "/maxion help").await;
    c.processed(&d).await;
    let replies = c.replies(issue);
    assert_eq!(replies.len(), 3);
    has(&replies[0], "no `.github/maxion.yml`: this Maxion's defaults");
    has(&replies[1], "`.github/maxion.yml` on the default branch");
    has(&replies[1], "| Fix rounds | 1 |");
    has(&replies[2], "line ");
    c.gh.assert_ok();
    c.stop().await;
}

/// `/maxion <feedback>` on a pull request (issue 6 §3): admitted on one that
/// a Maxion job shipped, with the status comment on the pull request;
/// refused with one reply, and no job run, on anyone else's.
#[tokio::test]
async fn follow_ups_on_maxions_pull_request_are_admitted_and_on_a_foreign_one_refused() {
    let c = Ctl::start(|_| {}).await;
    c.gh.set_permission(c.repo, "bob", "read");

    // A pull request someone else opened.
    c.gh.create_branch(c.repo, "feature/theirs", "main");
    let foreign = c.gh.add_pull(c.repo, "feature/theirs", "main", "alice", "Their change");
    let (d, outcome) = c.pr_comment(foreign, "alice", "/maxion rename the flag").await;
    assert_eq!(outcome, "job_created");
    assert_eq!(c.processed(&d).await, "not_maxions_pull_request");
    let job = c.latest(foreign).await.expect("the refused job is recorded");
    assert_eq!((job.state, job.spec.trigger), (JobState::Refused, TriggerKind::FollowUp));
    let replies = c.replies(foreign);
    assert_eq!(replies.len(), 1, "{replies:#?}");
    has(&replies[0], "only takes feedback on pull requests it opened");
    assert!(c.own_comments(foreign).iter().all(|c| !c.body.contains("maxion:job:")), "no status comment");

    // A pull request a Maxion job shipped (as `ship` records it).
    let issue = c.issue("Add a flag");
    let first = c.queued_job(issue, "").await;
    c.gh.create_branch(c.repo, "maxion/1-add-a-flag", "main");
    let ours = c.gh.add_pull(c.repo, "maxion/1-add-a-flag", "main", &c.gh.bot_login(), "Add a flag");
    c.store().set_pull_request(first.id, "maxion/1-add-a-flag", IssueNumber(ours)).await.expect("record the PR");

    // Permission rules as for issues: a reader is refused.
    let (d, _) = c.pr_comment(ours, "bob", "/maxion rename the flag").await;
    assert_eq!(c.processed(&d).await, "refused");
    has(&c.replies(ours)[0], "needs **write** permission");

    let (d, outcome) = c.pr_comment(ours, "alice", "/maxion rename the flag").await;
    assert_eq!(outcome, "job_created");
    assert_eq!(c.processed(&d).await, "admitted");
    let job = c.latest(ours).await.expect("follow-up job");
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.spec.instructions.as_deref(), Some("/maxion rename the flag"), "the whole comment is the feedback");
    assert!(job.spec.follow_up.is_some());
    has(&c.status_comment(ours, job.id).body, "queued this job");
    c.gh.assert_ok();
    c.stop().await;
}
