//! Webhook intake, end to end over HTTP: signed deliveries into the real
//! router and store, asserting what a GitHub App operator would see — status
//! codes, jobs through the API, and what was (not) recorded.

use maxion::jobs::DeliveryOutcome;

use crate::support::events::Source;
use crate::support::service::{TestService, sign};

fn body(v: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("json")
}

/// `issues` `labeled` on issue `issue` of `octo/demo`.
fn labeled_payload(issue: u64) -> serde_json::Value {
    Source::unknown().label("labeled", issue, &format!("Issue {issue}"), "Please fix", "alice")
}

/// `issue_comment` `created` on issue `issue` of `octo/demo`.
fn comment_payload(text: &str, issue: u64, comment_id: u64) -> serde_json::Value {
    Source::unknown().comment("created", issue, comment_id, "alice", text, None)
}

#[tokio::test]
async fn label_creates_one_job_and_redelivery_is_idempotent() {
    let svc = TestService::intake(|_| {}).await;
    let payload = body(&labeled_payload(7));

    let (status, answer) = svc.deliver("issues", "d-label-1", &payload).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["outcome"], "job_created");
    let job_id = answer["job_id"].as_i64().expect("job id");

    let (status, jobs) = svc.api("/api/jobs").await;
    assert_eq!(status, 200);
    assert_eq!(jobs["total"], 1);
    let job = &jobs["jobs"][0];
    assert_eq!(job["id"], job_id);
    // Waits for the control loop's permission check (tests/it/control.rs).
    assert_eq!(job["state"], "received");
    assert_eq!(job["issue_number"], 7);
    assert_eq!(job["installation_id"], 77);
    assert_eq!(job["repo"]["full_name"], "octo/demo");
    assert_eq!(job["repo"]["clone_url"], "https://github.com/octo/demo.git");
    assert_eq!(job["repo"]["default_branch"], "main");
    assert_eq!(job["trigger"], "label");
    assert_eq!(job["sender_login"], "alice");
    assert_eq!(job["delivery_id"], "d-label-1");

    // GitHub redelivers with the same id: no second job.
    let (status, answer) = svc.deliver("issues", "d-label-1", &payload).await;
    assert_eq!(status, 200);
    assert_eq!(answer["duplicate"], true);
    let (_, jobs) = svc.api("/api/jobs").await;
    assert_eq!(jobs["total"], 1);

    let (status, one) = svc.api(&format!("/api/jobs/{job_id}")).await;
    assert_eq!(status, 200);
    assert_eq!(one["id"], job_id);
    svc.stop().await;
}

#[tokio::test]
async fn a_second_trigger_joins_the_active_job() {
    let svc = TestService::intake(|_| {}).await;
    let (_, first) = svc.deliver("issues", "d-1", &body(&labeled_payload(3))).await;
    let (status, second) =
        svc.deliver("issue_comment", "d-2", &body(&comment_payload("/maxion add docs", 3, 91))).await;
    assert_eq!(status, 200);
    assert_eq!(second["outcome"], "job_triggered");
    assert_eq!(second["job_id"], first["job_id"]);
    let (_, jobs) = svc.api("/api/jobs").await;
    assert_eq!(jobs["total"], 1);
    let job = maxion::jobs::JobId(first["job_id"].as_i64().expect("id"));
    assert_eq!(svc.store().job_trigger_count(job).await.expect("count"), 2);

    // Another issue gets its own job, with the comment's instructions.
    let (_, third) = svc.deliver("issue_comment", "d-3", &body(&comment_payload("/maxion use tabs", 4, 92))).await;
    assert_eq!(third["outcome"], "job_created");
    let (_, job) = svc.api(&format!("/api/jobs/{}", third["job_id"])).await;
    assert_eq!(job["instructions"], "use tabs");
    assert_eq!(job["trigger_comment_id"], 92);
    svc.stop().await;
}

#[tokio::test]
async fn bad_signatures_get_401_and_nothing_is_stored() {
    let svc = TestService::intake(|_| {}).await;
    let payload = body(&labeled_payload(1));
    let wrong = sign("not-the-secret", &payload);
    let sha1_only = "sha1=0123456789abcdef0123456789abcdef01234567";
    let cases: [(&str, Option<&str>); 5] = [
        ("missing", None),
        ("wrong", Some(&wrong)),
        ("sha1", Some(sha1_only)),
        ("garbage", Some("sha256=not-hex")),
        ("empty", Some("")),
    ];
    for (name, signature) in cases {
        let delivery = format!("bad-{name}");
        let (status, answer) = svc.deliver_with("issues", &delivery, signature, &payload).await;
        assert_eq!(status, 401, "{name}: {answer}");
        assert!(answer["error"].is_string(), "{name}: JSON error expected, got {answer}");
        assert_eq!(svc.store().delivery(&delivery).await.expect("read"), None, "{name} was stored");
    }
    let (_, jobs) = svc.api("/api/jobs").await;
    assert_eq!(jobs["total"], 0);
    svc.stop().await;
}

#[tokio::test]
async fn malformed_json_is_400_and_recorded() {
    let svc = TestService::intake(|_| {}).await;
    let (status, answer) = svc.deliver("issues", "d-bad-json", b"{not json").await;
    assert_eq!(status, 400, "{answer}");
    let stored = svc.store().delivery("d-bad-json").await.expect("read").expect("recorded");
    assert_eq!((stored.event.as_str(), stored.outcome), ("issues", DeliveryOutcome::Malformed));

    // Valid JSON of the wrong shape for a handled pair is also a 400.
    let (status, _) = svc.deliver("issues", "d-bad-shape", br#"{"action":"labeled","issue":5}"#).await;
    assert_eq!(status, 400);
    svc.stop().await;
}

#[tokio::test]
async fn bots_and_unknown_events_are_recorded_as_ignored() {
    let svc = TestService::intake(|_| {}).await;
    let mut bot = labeled_payload(9);
    bot["sender"] = serde_json::json!({"login": "maxion[bot]", "id": 5, "type": "Bot"});
    let (status, answer) = svc.deliver("issues", "d-bot", &body(&bot)).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("ignored")));

    let (status, answer) = svc.deliver("issues", "d-typed", br#"{"action":"typed"}"#).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("ignored")));
    let (status, answer) = svc.deliver("some_future_event", "d-future", b"{}").await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("ignored")));

    let (status, answer) =
        svc.deliver("issue_comment", "d-status", &body(&comment_payload("/maxion status", 9, 3))).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("command")));
    let (_, jobs) = svc.api("/api/jobs").await;
    assert_eq!(jobs["total"], 0);
    svc.stop().await;
}

#[tokio::test]
async fn installations_are_kept() {
    let svc = TestService::intake(|_| {}).await;
    let created = serde_json::json!({
        "action": "created",
        "installation": {"id": 501, "account": {"login": "octo-org", "id": 9}},
        "repositories": [{"id": 1, "full_name": "octo-org/a"}],
        "sender": {"login": "alice", "id": 1, "type": "User"}
    });
    let (status, _) = svc.deliver("installation", "d-inst-1", &body(&created)).await;
    assert_eq!(status, 200);
    let mut suspended = created.clone();
    suspended["action"] = "suspend".into();
    svc.deliver("installation", "d-inst-2", &body(&suspended)).await;
    let installations = svc.store().installations().await.expect("read");
    assert_eq!(installations, vec![(501, "octo-org".to_owned(), true, false)]);
    svc.stop().await;
}

#[tokio::test]
async fn job_creation_is_rate_limited_per_installation_but_still_answered_2xx() {
    let svc = TestService::intake(|s| {
        s.maxion_jobs_per_minute = Some("1".into());
        s.maxion_jobs_burst = Some("2".into());
    })
    .await;
    let mut outcomes = Vec::new();
    for issue in 1..=3 {
        let (status, answer) = svc.deliver("issues", &format!("d-rl-{issue}"), &body(&labeled_payload(issue))).await;
        assert_eq!(status, 200);
        outcomes.push(answer["outcome"].as_str().unwrap_or_default().to_owned());
    }
    assert_eq!(outcomes, ["job_created", "job_created", "rate_limited"]);
    let stored = svc.store().delivery("d-rl-3").await.expect("read").expect("recorded");
    assert_eq!(stored.outcome, DeliveryOutcome::RateLimited);
    svc.stop().await;
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let svc = TestService::intake(|_| {}).await;
    let big = vec![b' '; 25 * 1024 * 1024 + 1];
    let (status, _) = svc.deliver("issues", "d-big", &big).await;
    assert_eq!(status, 413);
    svc.stop().await;
}

#[tokio::test]
async fn unconfigured_service_answers_503_but_stays_healthy() {
    let svc = TestService::intake(|s| {
        s.github_app_id = None;
        s.github_app_private_key = None;
        s.github_webhook_secret = None;
    })
    .await;
    let (status, answer) = svc.deliver("issues", "d-1", &body(&labeled_payload(1))).await;
    assert_eq!(status, 503);
    assert!(answer["error"].as_str().unwrap_or_default().contains("GITHUB_APP_ID"), "{answer}");
    let (status, health) = svc.api_as("/healthz", None).await;
    assert_eq!(status, 200);
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    svc.stop().await;
}

#[tokio::test]
async fn the_api_requires_the_bearer_token() {
    let svc = TestService::intake(|_| {}).await;
    for path in ["/api/jobs", "/api/jobs/1", "/api/jobs/1/events"] {
        assert_eq!(svc.api_as(path, None).await.0, 401, "{path}");
        assert_eq!(svc.api_as(path, Some("wrong")).await.0, 401, "{path}");
    }
    assert_eq!(svc.api("/api/jobs/1").await.0, 404);
    assert_eq!(svc.api("/api/jobs/abc").await.0, 400);
    assert_eq!(svc.api("/api/jobs?per_page=1000").await.0, 400);
    svc.stop().await;

    let open = TestService::intake(|s| s.maxion_api_token = None).await;
    assert_eq!(open.api_as("/api/jobs", Some("")).await.0, 401);
    assert_eq!(open.api_as("/api/jobs", Some("anything")).await.0, 401);
    open.stop().await;
}

#[tokio::test]
async fn job_pages_are_newest_first() {
    let svc = TestService::intake(|_| {}).await;
    for issue in 1..=5 {
        svc.deliver("issues", &format!("d-{issue}"), &body(&labeled_payload(issue))).await;
    }
    let (_, page1) = svc.api("/api/jobs?per_page=2").await;
    let (_, page3) = svc.api("/api/jobs?per_page=2&page=3").await;
    let issues = |v: &serde_json::Value| -> Vec<i64> {
        v["jobs"].as_array().expect("jobs").iter().map(|j| j["issue_number"].as_i64().unwrap_or(-1)).collect()
    };
    assert_eq!(issues(&page1), [5, 4]);
    assert_eq!(issues(&page3), [1]);
    assert_eq!(page1["total"], 5);
    svc.stop().await;
}

#[tokio::test]
async fn job_events_are_served_in_order() {
    let svc = TestService::intake(|_| {}).await;
    let (_, created) = svc.deliver("issues", "d-ev", &body(&labeled_payload(1))).await;
    let job = maxion::jobs::JobId(created["job_id"].as_i64().expect("id"));
    let store = svc.store();
    for i in 0..3 {
        store.append_event(job, &maxion::jobs::JobEvent::Info { message: format!("line {i}") }).await.expect("append");
    }
    let (status, events) = svc.api(&format!("/api/jobs/{job}/events?after=0&limit=2")).await;
    assert_eq!(status, 200);
    let messages: Vec<_> = events["events"].as_array().expect("events").iter().map(|e| e["message"].clone()).collect();
    assert_eq!(messages, ["line 0", "line 1"]);
    let (_, rest) = svc.api(&format!("/api/jobs/{job}/events?after={}", events["next_after"])).await;
    assert_eq!(rest["events"][0]["message"], "line 2");
    svc.stop().await;
}
