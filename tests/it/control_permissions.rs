//! Who may do what, through the control loop end to end: refusals (once,
//! then silently), every permission level, a stricter operator setting, and
//! feedback on pull requests (Maxion's own, and someone else's).

use insta::assert_snapshot;
use maxion::jobs::{IssueNumber, JobState, TriggerKind};

use crate::support::fake_github::UserType;
use crate::support::service::{TestService, has};

#[tokio::test]
async fn a_non_collaborator_is_refused_once_then_silently() {
    let c = TestService::start(|_| {}).await;
    let issue = c.issue("Spam target");
    let mut outcomes = Vec::new();
    for _ in 0..3 {
        outcomes.push(c.command(issue, "mallory", "/maxion do my homework").await);
    }
    assert_eq!(outcomes, ["refused", "refused_silently", "refused_silently"]);
    let replies = c.replies(issue);
    assert_eq!(replies.len(), 1, "{replies:#?}");
    assert_snapshot!(replies[0], @"@mallory, sorry: starting a Maxion job needs **write** permission on this repository (or higher), and you have **none**. A maintainer can do it for you. (Maxion says this once per person and issue for a while.)");
    let jobs = c.store().list_jobs(1, 10).await.expect("jobs");
    assert!(jobs.iter().all(|j| j.state == JobState::Refused), "{jobs:#?}");
    assert!(c.gh.reactions(c.repo).is_empty(), "refused jobs are not acknowledged");
    // Status and help stay open to them, a few times per issue and hour.
    let mut outcomes = Vec::new();
    for _ in 0..6 {
        outcomes.push(c.command(issue, "mallory", "/maxion status").await);
    }
    assert_eq!(outcomes[..5], ["replied_to_outsider"; 5]);
    assert_eq!(outcomes[5], "silenced");
    assert_snapshot!(c.replies(issue)[1], @r"
    The last Maxion job on this issue, [job 3](https://maxion.example/jobs/3), ended **refused**: @mallory may not start jobs (needs write permission).

    Comment `/maxion retry` to run it again.
    ");
    assert_eq!(c.replies(issue).len(), 6, "one refusal and five status replies");
    // Someone else on the same issue gets their own refusal.
    assert_eq!(c.command(issue, "eve", "/maxion").await, "refused");
    c.stop().await;
}

/// Each permission level against the default requirement (`write`): below it
/// every guarded command is refused, at or above it they act; `status` and
/// `help` are open to all. (The full action × level × setting matrix is the
/// unit test in `control::permissions`.)
#[tokio::test]
async fn every_permission_level_for_the_guarded_commands() {
    let c = TestService::start(|_| {}).await;
    for level in ["none", "read", "triage", "write", "maintain", "admin"] {
        let user = format!("user-{level}");
        c.gh.add_user(&user, UserType::User);
        c.gh.set_permission(c.repo, &user, level);
        let allowed = matches!(level, "write" | "maintain" | "admin");
        let issue = c.issue(&format!("for {level}"));
        assert_eq!(
            c.command(issue, &user, "/maxion").await,
            if allowed { "admitted" } else { "refused" },
            "{level}: start"
        );
        let cancel = c.command(issue, &user, "/maxion cancel").await;
        assert_eq!(cancel, if allowed { "cancelled" } else { "refused_silently" }, "{level}: cancel");
        assert_eq!(
            c.command(issue, &user, "/maxion retry").await,
            if allowed { "retried" } else { "refused_silently" },
            "{level}: retry"
        );
        let open = if allowed { "replied" } else { "replied_to_outsider" };
        assert_eq!(c.command(issue, &user, "/maxion status").await, open, "{level}: status is open");
    }
    c.stop().await;
}

#[tokio::test]
async fn the_operator_can_require_more_than_write() {
    let c = TestService::start(|s| s.maxion_required_permission = Some("maintain".into())).await;
    let issue = c.issue("Strict");
    assert_eq!(c.command(issue, "alice", "/maxion").await, "refused");
    assert_snapshot!(c.replies(issue)[0], @"@alice, sorry: starting a Maxion job needs **maintain** permission on this repository (or higher), and you have **write**. A maintainer can do it for you. (Maxion says this once per person and issue for a while.)");
    // Permissions are cached for a few minutes per (repository, user): a
    // maintainer other than alice, rather than alice promoted.
    c.gh.add_user("mona", UserType::User);
    c.gh.set_permission(c.repo, "mona", "maintain");
    let other = c.issue("Strict 2");
    assert_eq!(c.command(other, "mona", "/maxion").await, "admitted");
    c.command(other, "alice", "/maxion help").await;
    has(&c.replies(other)[0], "need **maintain** permission");
    c.stop().await;
}

/// `/maxion <feedback>` on a pull request (issue 6 §3): admitted on one that
/// a Maxion job shipped, with the status comment on the pull request;
/// refused with one reply, and no job run, on anyone else's.
#[tokio::test]
async fn follow_ups_on_maxions_pull_request_are_admitted_and_on_a_foreign_one_refused() {
    let c = TestService::start(|_| {}).await;
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
    assert_snapshot!(replies[0], @"@alice, Maxion only takes feedback on pull requests it opened, and this one is not among them, so no job was started. To have Maxion work on something, comment `/maxion <instructions>` on an issue.");
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
    assert_snapshot!(c.replies(ours)[0], @"@bob, sorry: starting a Maxion job needs **write** permission on this repository (or higher), and you have **read**. A maintainer can do it for you. (Maxion says this once per person and issue for a while.)");

    let (d, outcome) = c.pr_comment(ours, "alice", "/maxion rename the flag").await;
    assert_eq!(outcome, "job_created");
    assert_eq!(c.processed(&d).await, "admitted");
    let job = c.latest(ours).await.expect("follow-up job");
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.spec.instructions.as_deref(), Some("/maxion rename the flag"), "the whole comment is the feedback");
    assert!(job.spec.follow_up.is_some());
    assert_snapshot!(c.status_comment(ours, job.id).body, @r"
    <!-- maxion:job:4 -->
    🕒 **Maxion queued this job** (position 2 in the queue).

    [Job 4 details and full log](https://maxion.example/jobs/4)
    ");
    c.finish().await;
}
