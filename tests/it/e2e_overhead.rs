//! What a successful job costs on GitHub, as its users see it: every
//! mutating API call is an edit or a notification, so a job makes at most
//! eight (👀, status comment created and finished, check run created and
//! completed, pull request, review request, at most one progress edit), and
//! mints no more installation tokens than the permission sets it needs.

use std::collections::BTreeMap;
use std::time::Duration;

use maxion::jobs::JobState;

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
