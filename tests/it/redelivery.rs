//! Missed-delivery recovery against the fake GitHub's delivery log: events
//! whose deliveries failed while Maxion was down are asked for again and run
//! once each; an event Maxion stored is never asked for; the log is paged
//! through with its cursor; two instances never ask twice for one event.

use std::time::Duration;

use maxion::github::{GitHubApp, GitHubConfig, RetryPolicy};
use maxion::jobs::{JobState, RedeliveryOutcome, Store};
use maxion::redelivery::{Check, CheckReport, Redelivery};
use secrecy::SecretString;

use crate::support::fake_github::{FakeGitHub, RepoId};
use crate::support::service::TestService as E2e;
use crate::support::service::{TestService, WEBHOOK_SECRET};

const ATTEMPTS: &str = "/app/hook/deliveries/{delivery_id}/attempts";

fn app_for(gh: &FakeGitHub) -> GitHubApp {
    let mut config = GitHubConfig::new(gh.url(), gh.app_id(), SecretString::from(gh.private_key_pem()));
    config.retry = RetryPolicy {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_retries: 2,
        max_total_delay: Duration::from_secs(1),
    };
    config.quota.min_interval = Duration::ZERO;
    GitHubApp::new(config).expect("client")
}

async fn check(app: &GitHubApp, store: &Store, holder: &str) -> CheckReport {
    match Redelivery::new(app.clone(), store.clone(), holder).check().await.expect("check runs") {
        Check::Done(report) => report,
        Check::Busy => panic!("{holder}: the lease was held by another instance"),
    }
}

/// A webhook URL that accepts connections and never answers: GitHub's
/// redelivery attempts to it stay under way (none lands in the log), as
/// between an ask and GitHub's attempt. Keep the listener for the test.
async fn silent_webhook() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/webhook", listener.local_addr().expect("address"));
    (listener, url)
}

fn labeled(gh: &FakeGitHub, repo: RepoId, inst: u64, number: u64, title: &str, body: &str) -> serde_json::Value {
    serde_json::json!({
        "action": "labeled",
        "label": {"id": 1, "name": "maxion", "color": "ededed"},
        "issue": {"number": number, "title": title, "body": body, "state": "open",
                  "user": {"login": "alice", "id": 1, "type": "User"}},
        "repository": {"id": repo.0, "name": "widgets", "full_name": "acme/widgets", "private": true,
                       "clone_url": gh.clone_url(repo), "default_branch": "main"},
        "installation": {"id": inst},
        "sender": {"login": "alice", "id": 1, "type": "User"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn label_events_missed_while_maxion_was_down_run_once_each_after_it_starts() {
    let Some(mut e) = E2e::with_docker(|_| {}).await else { return };
    let addr = e.running.as_ref().expect("running").addr;
    e.running.take().expect("running").stop().await.expect("clean stop");
    e.gh.set_webhook(&format!("http://{addr}/webhook"), WEBHOOK_SECRET);

    let mut issues = Vec::new();
    for (n, file) in [(1, "one.txt"), (2, "two.txt")] {
        let body = format!("Please.\n\n```maxion-test\nwrite {file} x\nwrite ok.txt fine\n```\n");
        let number = e.gh.add_issue(e.repo, &format!("Missed {n}"), &body, &["maxion"]);
        let payload = labeled(&e.gh, e.repo, e.inst.0, number, &format!("Missed {n}"), &body);
        let attempt = e.gh.send_webhook("issues", &format!("missed-{n}"), payload).await;
        assert!(!attempt.succeeded(), "Maxion is down: {attempt:?}");
        issues.push(number);
    }

    // Back on the same address, looking for missed deliveries at start-up.
    e.boot(|r| {
        r.maxion_listen = Some(addr.to_string());
        r.maxion_redelivery_interval = Some("3600".into());
    })
    .await;
    for issue in &issues {
        let job = e.job_for(*issue).await;
        let job = e.wait_terminal(job.id, Duration::from_secs(120)).await;
        assert_eq!(job.state, JobState::Succeeded, "job error: {:?}", job.error);
    }
    let jobs = e.store().list_jobs(1, 100).await.expect("jobs");
    assert_eq!(jobs.len(), 2, "one job per missed event: {jobs:?}");
    assert_eq!(e.gh.pulls(e.repo).len(), 2);
    let attempts = e.gh.hook_attempts_by_guid();
    assert_eq!(attempts.get("missed-1"), Some(&2), "the failed attempt and one redelivery: {attempts:?}");
    assert_eq!(attempts.get("missed-2"), Some(&2), "{attempts:?}");
    let asked = e.store().redeliveries().await.expect("records");
    assert_eq!(asked.len(), 2);
    assert!(asked.iter().all(|r| r.outcome == RedeliveryOutcome::Requested), "{asked:?}");
    e.gh.assert_ok();
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_maxion_stored_is_never_asked_for_and_two_instances_ask_once() {
    let service = TestService::start(|_| {}).await;
    let gh = &service.gh;
    let app = app_for(gh);
    let store = service.store().clone();

    // Stored by Maxion although GitHub's log says the attempt failed (its
    // answer came too late for GitHub, say).
    let body = serde_json::to_vec(&serde_json::json!({"action": "opened", "zen": "x"})).expect("json");
    let (status, _) = service.deliver("ping", "stored-guid", &body).await;
    assert!((200..300).contains(&status), "{status}");
    gh.record_hook_attempt("ping", "stored-guid", 504, chrono::Duration::minutes(3));
    // Never reached Maxion; GitHub's redelivery to the silent URL is still
    // under way when the second instance checks.
    gh.record_hook_attempt("issues", "lost-guid", 503, chrono::Duration::minutes(2));
    gh.record_hook_attempt("issues", "fine-guid", 200, chrono::Duration::minutes(1));
    let (_listener, url) = silent_webhook().await;
    gh.set_webhook(&url, WEBHOOK_SECRET);

    let first = check(&app, &store, "instance-a").await;
    assert_eq!((first.attempts, first.missed, first.already_stored, first.requested), (3, 2, 1, 1), "{first:?}");
    // Another instance sharing the store: the redelivery it would ask for is taken.
    let second = check(&app, &store, "instance-b").await;
    assert_eq!((second.already_stored, second.already_asked, second.requested), (1, 1, 0), "{second:?}");

    let asked: Vec<String> = gh.requests_to("POST", ATTEMPTS).iter().map(|r| r.path.clone()).collect();
    assert_eq!(asked.len(), 1, "one redelivery, for the lost event only: {asked:?}");
    let lost = gh.hook_attempts().into_iter().find(|a| a.guid == "lost-guid").expect("attempt");
    assert_eq!(asked[0], format!("/app/hook/deliveries/{}/attempts", lost.id));
    let records = store.redeliveries().await.expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].guid.as_str(), records[0].holder.as_str()), ("lost-guid", "instance-a"));
    gh.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_paged_with_its_cursor_back_to_the_last_check() {
    let service = TestService::start(|_| {}).await;
    let gh = &service.gh;
    let app = app_for(gh);
    let store = service.store().clone();
    let (_listener, url) = silent_webhook().await;
    gh.set_webhook(&url, WEBHOOK_SECRET);
    // Older than the first check's 24 hours: left alone.
    gh.record_hook_attempt("issues", "ancient", 500, chrono::Duration::hours(25));
    // 250 attempts within the window, newest last: three pages of 100. The
    // failed ones sit on the third, second and first page.
    for i in 0..250 {
        let age = chrono::Duration::seconds(3000 - i);
        let (guid, code) = match i {
            10 => ("failed-oldest".to_owned(), 502),
            120 => ("failed-middle".to_owned(), 500),
            240 => ("failed-newest".to_owned(), 503),
            _ => (format!("ok-{i}"), 200),
        };
        gh.record_hook_attempt("issues", &guid, code, age);
    }
    let report = check(&app, &store, "instance-a").await;
    assert_eq!(report.pages, 3, "{report:?}");
    assert_eq!((report.attempts, report.missed, report.requested), (250, 3, 3), "{report:?}");
    let lists = gh.requests_to("GET", "/app/hook/deliveries");
    let cursors = lists.iter().filter(|r| r.query.iter().any(|(k, _)| k == "cursor")).count();
    assert_eq!((lists.len(), cursors), (3, 2), "the first page, then two by cursor: {lists:?}");

    // The next check looks back only to this one (and a few minutes before).
    let again = check(&app, &store, "instance-a").await;
    assert_eq!(again.pages, 1, "{again:?}");
    assert_eq!(again.requested, 0, "{again:?}");
    gh.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_that_fails_again_is_asked_for_again_at_later_checks_up_to_the_limit() {
    use maxion::redelivery::MAX_ASKS;
    let service = TestService::start(|_| {}).await;
    let gh = &service.gh;
    let app = app_for(gh);
    let store = service.store().clone();
    // Nothing listens there: every attempt GitHub makes fails.
    gh.set_webhook("http://127.0.0.1:9/webhook", WEBHOOK_SECRET);
    gh.record_hook_attempt("issues", "still-lost", 503, chrono::Duration::minutes(2));

    let attempts_of = || gh.hook_attempts_by_guid().get("still-lost").copied().unwrap_or(0);
    for ask in 1..=MAX_ASKS {
        let report = check(&app, &store, "instance-a").await;
        assert_eq!((report.missed, report.requested, report.given_up), (1, 1, 0), "ask {ask}: {report:?}");
        let want = ask as usize + 1;
        crate::support::wait::until_true("GitHub's redelivery attempt", Duration::from_secs(30), || {
            attempts_of() >= want
        })
        .await;
        let records = store.redeliveries().await.expect("records");
        assert_eq!((records.len(), records[0].asks), (1, ask), "{records:?}");
    }
    // Asked the most times allowed: the next check leaves the event alone.
    let last = check(&app, &store, "instance-a").await;
    assert_eq!((last.missed, last.requested, last.given_up), (1, 0, 1), "{last:?}");
    assert_eq!(gh.requests_to("POST", ATTEMPTS).len(), MAX_ASKS as usize);
    assert_eq!(attempts_of(), MAX_ASKS as usize + 1, "the first attempt and one per ask");
    gh.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ask_github_refused_is_repeated_after_its_event_left_the_window() {
    use crate::support::fake_github::Failure;
    let service = TestService::start(|_| {}).await;
    let gh = &service.gh;
    let app = app_for(gh);
    let store = service.store().clone();
    gh.set_webhook("http://127.0.0.1:9/webhook", WEBHOOK_SECRET);
    // Twenty hours old: inside the first check's window, far outside the
    // next check's, which looks back only to the first.
    gh.record_hook_attempt("issues", "refused-once", 503, chrono::Duration::hours(20));
    // More than the client's retries: this ask fails.
    gh.fail("POST", ATTEMPTS, Failure::Status(500), 3);
    let first = check(&app, &store, "instance-a").await;
    assert_eq!((first.missed, first.requested, first.failed), (1, 0, 1), "{first:?}");

    let second = check(&app, &store, "instance-a").await;
    assert_eq!((second.missed, second.requested, second.failed), (1, 1, 0), "{second:?}");
    let records = store.redeliveries().await.expect("records");
    assert_eq!((records[0].outcome, records[0].asks), (RedeliveryOutcome::Requested, 2), "{records:?}");
    let original = gh.hook_attempts().into_iter().find(|a| a.guid == "refused-once").expect("attempt");
    let asked: Vec<String> = gh.requests_to("POST", ATTEMPTS).iter().map(|r| r.path.clone()).collect();
    assert_eq!(asked.last(), Some(&format!("/app/hook/deliveries/{}/attempts", original.id)), "{asked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_instance_frees_the_check_and_the_claims_its_killed_predecessor_held() {
    use maxion::jobs::Claim;
    use maxion::redelivery::MAX_ASKS;
    let service = TestService::start(|_| {}).await;
    let gh = &service.gh;
    let app = app_for(gh);
    let store = service.store().clone();
    gh.record_hook_attempt("issues", "lost-guid", 503, chrono::Duration::minutes(2));
    gh.record_hook_attempt("issues", "claimed-guid", 502, chrono::Duration::minutes(1));
    gh.set_webhook("http://127.0.0.1:9/webhook", WEBHOOK_SECRET);

    // Process 111 of instance mx-a was SIGKILLed mid-check: it held the
    // check's lease and had claimed one redelivery without asking for it.
    let lease = store.lease_redelivery_check("mx-a:111", Duration::from_secs(600)).await.expect("lease");
    assert!(lease.is_some());
    let claimed = gh.hook_attempts().into_iter().find(|a| a.guid == "claimed-guid").expect("attempt");
    let id = i64::try_from(claimed.id).expect("id");
    let claim = store.claim_redelivery("claimed-guid", id, "issues", None, "mx-a:111", MAX_ASKS).await;
    assert_eq!(claim.expect("claim"), Claim::Claimed);
    // Another instance waits for the lease to run out, as before.
    let other = Redelivery::new(app.clone(), store.clone(), "mx-b:5");
    assert_eq!(other.check().await.expect("check"), Check::Busy);

    // Instance mx-a started again (process 222) frees both at once and asks for both events.
    let restarted = Redelivery::new(app.clone(), store.clone(), "mx-a:222");
    assert_eq!(restarted.release_predecessors().await.expect("release"), 2);
    let report = check(&app, &store, "mx-a:222").await;
    assert_eq!((report.missed, report.already_asked, report.requested), (2, 0, 2), "{report:?}");
    assert_eq!(gh.requests_to("POST", ATTEMPTS).len(), 2, "one redelivery per event");
    gh.assert_ok();
}
