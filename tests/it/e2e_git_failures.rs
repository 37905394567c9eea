//! Git over HTTP against a misbehaving host: injected 500s on the fake
//! GitHub's git endpoint (fetch: upload-pack, push: receive-pack) are ridden
//! out by retries, a push whose answer was lost is not repeated, and a host
//! that keeps failing fails the job with a message saying so.

use std::time::Duration;

use maxion::jobs::JobState;

use crate::support::fake_github::Failure;
use crate::support::service::TestService as E2e;

const JOB_LIMIT: Duration = Duration::from_secs(120);
const SCRIPT: &str = "write ok.txt all good\ncommit feat: add the ok file";

async fn job_with_git_failures(upload_pack: u32, receive_pack: u32) {
    let Some(e) = E2e::with_docker(|_| {}).await else { return };
    e.gh.fail_git("git-upload-pack", Failure::Status(500), upload_pack);
    e.gh.fail_git("git-receive-pack", Failure::Status(500), receive_pack);
    let issue = e.label_issue("Add the ok file", SCRIPT).await;
    let job = e.job_for(issue).await;
    let job = e.wait_terminal(job.id, JOB_LIMIT).await;
    assert_eq!(job.state, JobState::Succeeded, "job error: {:?}", job.error);
    let pulls = e.gh.pulls(e.repo);
    assert_eq!(pulls.len(), 1, "exactly one pull request: {pulls:?}");
    assert_eq!(e.gh.file(e.repo, &pulls[0].head, "ok.txt").as_deref(), Some(&b"all good\n"[..]));
    // Every injected failure was met (and retried past).
    assert!(e.gh.git_requests("git-upload-pack") > upload_pack as usize);
    assert!(e.gh.git_requests("git-receive-pack") > receive_pack as usize);
    e.gh.assert_ok();
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_500_on_fetch_and_two_on_push_still_give_one_pull_request() {
    job_with_git_failures(1, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_500s_on_fetch_and_one_on_push_still_give_one_pull_request() {
    job_with_git_failures(2, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_push_that_landed_behind_a_lost_answer_is_not_pushed_again() {
    let Some(e) = E2e::with_docker(|_| {}).await else { return };
    e.gh.fail_git("git-receive-pack", Failure::FailAfterApply, 1);
    let issue = e.label_issue("Add the ok file", SCRIPT).await;
    let job = e.job_for(issue).await;
    let job = e.wait_terminal(job.id, JOB_LIMIT).await;
    assert_eq!(job.state, JobState::Succeeded, "job error: {:?}", job.error);
    assert_eq!(e.gh.pulls(e.repo).len(), 1);
    assert_eq!(e.gh.git_requests("git-receive-pack"), 1, "the branch already pointed at the commit");
    e.gh.assert_ok();
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_git_host_that_keeps_failing_fails_the_job_saying_so() {
    let Some(e) = E2e::with_docker(|r| r.maxion_git_retries = Some("1".into())).await else { return };
    e.gh.fail_git("git-upload-pack", Failure::Status(500), u32::MAX);
    let issue = e.label_issue("Add the ok file", SCRIPT).await;
    let job = e.job_for(issue).await;
    let job = e.wait_terminal(job.id, JOB_LIMIT).await;
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(e.gh.git_requests("git-upload-pack"), 2, "one try and one retry");
    assert!(e.gh.pulls(e.repo).is_empty());
    let own: Vec<_> = e.gh.comments(e.repo, issue).into_iter().filter(|c| c.user == e.gh.bot_login()).collect();
    assert_eq!(own.len(), 1);
    assert!(own[0].body.contains("The git host kept failing"), "{}", own[0].body);
    let runs = e.gh.check_runs(e.repo);
    assert!(runs.iter().all(|r| r.conclusion.as_deref() == Some("failure")), "{runs:?}");
    e.gh.assert_ok();
    e.stop().await;
}
