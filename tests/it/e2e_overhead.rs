//! What a successful job costs on GitHub, as its users see it: every
//! mutating API call is an edit or a notification, so a job makes at most
//! eight (👀, status comment created and finished, check run created and
//! completed, pull request, review request, at most one progress edit), and
//! mints no more installation tokens than the permission sets it needs; and
//! with GitHub's spacing of those calls, the job does not wait for its
//! acknowledgements and its pull request comes before the check runs.

use std::collections::BTreeMap;
use std::time::Duration;

use maxion::jobs::{JobEvent, JobState};

use crate::support::fake_github::{ReactionTarget, RecordedRequest};
use crate::support::service::TestService as E2e;

const MINT: &str = "/app/installations/{installation_id}/access_tokens";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_successful_job_makes_at_most_eight_mutating_calls_and_reuses_its_tokens() {
    let Some(e) = E2e::with_docker(|_| {}).await else { return };
    let issue = e.label_issue("Add the ok file", "write ok.txt all good\ncommit feat: add the ok file").await;
    let job = e.job_for(issue).await;
    let job = e.wait_terminal(job.id, Duration::from_secs(120)).await;
    assert_eq!(job.state, JobState::Succeeded, "job error: {:?}", job.error);
    assert_eq!(e.gh.pulls(e.repo).len(), 1);

    let requests = e.gh.requests();
    let mut mutating: BTreeMap<String, usize> = BTreeMap::new();
    let mut mints = Vec::new();
    for r in &requests {
        let Some(op) = r.operation.as_deref() else { continue };
        if r.method == "GET" || op.starts_with("git ") {
            continue;
        }
        if op == MINT {
            mints.push(r.body["permissions"].to_string());
            continue;
        }
        *mutating.entry(format!("{} {op}", r.method)).or_default() += 1;
    }
    let total: usize = mutating.values().sum();
    let edits: Vec<String> = requests
        .iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| format!("{} {} {}", r.at, r.path, r.body.to_string().chars().take(160).collect::<String>()))
        .collect();
    assert!(total <= 8, "{total} mutating calls: {mutating:#?}\nedits: {edits:#?}");
    let distinct: std::collections::BTreeSet<_> = mints.iter().collect();
    assert_eq!(mints.len(), distinct.len(), "a token minted twice for one permission set: {mints:#?}");
    e.gh.assert_ok();
    e.stop().await;
}

/// A call GitHub spaces: not a read, not git, not a token mint.
fn mutating(r: &RecordedRequest) -> Option<String> {
    let op = r.operation.as_deref()?;
    (r.method != "GET" && !op.starts_with("git ") && op != MINT).then(|| format!("{} {op}", r.method))
}

/// GitHub spaces an installation's mutating calls (here 2 s apart, so the
/// order cannot come from luck): the status comment goes first (the job
/// needs it), the job starts running while 👀 still waits for its turn, the
/// 👀 still arrives, and the pull request is the very next call, before
/// any check run or edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_spaced_calls_the_pull_request_is_not_held_back_by_acknowledgements() {
    let spaced = |r: &mut maxion::config::RawSettings| r.maxion_github_mutation_interval_ms = Some("2000".into());
    let Some(e) = E2e::with_docker(spaced).await else { return };
    let issue = e.label_issue("Add the ok file", "write ok.txt all good").await;
    let job = e.job_for(issue).await;
    let job = e.wait_terminal(job.id, Duration::from_secs(120)).await;
    assert_eq!(job.state, JobState::Succeeded, "job error: {:?}", job.error);
    e.gh.expect_reaction(e.repo, ReactionTarget::Issue(issue), "eyes");

    let mut requests = e.gh.requests();
    requests.sort_by_key(|r| r.at);
    let calls: Vec<(chrono::DateTime<chrono::Utc>, String)> =
        requests.iter().filter_map(|r| mutating(r).map(|c| (r.at, c))).collect();
    let order: Vec<&str> = calls.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(
        order[..3],
        [
            "POST /repos/{owner}/{repo}/issues/{issue_number}/comments",
            "POST /repos/{owner}/{repo}/issues/{issue_number}/reactions",
            "POST /repos/{owner}/{repo}/pulls",
        ],
        "{order:#?}"
    );
    assert!(order[3..].iter().any(|c| c.ends_with("/check-runs")), "the check runs follow: {order:#?}");
    let eyes = calls[1].0;
    let running = e
        .events(job.id)
        .await
        .into_iter()
        .find(|s| matches!(&s.event, JobEvent::StateChanged { to: JobState::Running, .. }))
        .expect("the job ran")
        .at;
    assert!(running < eyes, "the job started at {running}, after 👀 at {eyes}");
    e.gh.assert_ok();
    e.stop().await;
}
