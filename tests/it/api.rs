//! The JSON API's writes and the event stream, through the real service
//! against the fake GitHub: what an API script sees and what GitHub received.

use std::time::Duration;

use maxion::jobs::{JobEvent, JobId, JobState, OutputStream};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::fake_github::UserType;
use crate::support::service::TestService;
use crate::support::wait::{eventually, until};
use crate::support::web::{SseReader, call, wait_state};

async fn post(ctl: &TestService, path: &str, body: Value) -> (u16, Value) {
    call(Method::POST, &format!("{}{path}", ctl.url.as_str()), Some(body)).await
}

#[tokio::test]
async fn a_job_for_an_issue_is_admitted_like_a_labelled_one() {
    let ctl = TestService::start(|_| {}).await;
    let issue = ctl.issue("Crash on start");
    let (status, body) =
        post(&ctl, "/api/jobs", json!({"repository": "acme/widgets", "issue": issue, "requested_by": "alice"})).await;
    assert_eq!(status, 201, "{body}");
    let job = JobId(body["job"].as_i64().expect("job id"));
    assert_eq!(body["url"], format!("https://maxion.example/jobs/{job}"));
    wait_state(ctl.store(), job, JobState::Queued).await;
    // Admitted as any job: the status comment on the issue, 👀 on the issue
    // (added after the job is queued, so that a worker need not wait for it).
    let comment = ctl.status_comment(issue, job);
    assert!(comment.body.contains("Queued") || comment.body.contains("queued"), "{}", comment.body);
    eventually("👀 on the issue", || ctl.gh.reactions(ctl.repo).iter().any(|r| r.content == "eyes")).await;
    let stored = ctl.job(job).await;
    assert_eq!((stored.spec.sender_login.as_str(), stored.spec.trigger.as_str()), ("alice", "api"));
    // One active job per issue, whatever door it came through.
    let (status, body) =
        post(&ctl, "/api/jobs", json!({"repository": "acme/widgets", "issue": issue, "requested_by": "alice"})).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["error"].as_str().unwrap_or_default().contains(&job.to_string()));
    ctl.gh.assert_ok();
    ctl.stop().await;
}

#[tokio::test]
async fn a_free_text_task_opens_an_issue_that_the_job_reports_on() {
    let ctl = TestService::start(|_| {}).await;
    let task = "Add a --verbose flag to the CLI\n\nIt should print each file it reads.";
    let (status, body) =
        post(&ctl, "/api/jobs", json!({"repository": "acme/widgets", "task": task, "requested_by": "alice"})).await;
    assert_eq!(status, 201, "{body}");
    let job = JobId(body["job"].as_i64().expect("job id"));
    let number = body["issue"].as_u64().expect("issue number");
    let (title, issue_body, author) = ctl.gh.issue(ctl.repo, number).expect("the task's issue exists");
    assert_eq!(title, "Add a --verbose flag to the CLI");
    assert!(issue_body.starts_with(task) && issue_body.contains("@alice"), "{issue_body}");
    assert_eq!(author, ctl.gh.bot_login());
    wait_state(ctl.store(), job, JobState::Queued).await;
    ctl.status_comment(number, job);
    ctl.gh.assert_ok();
    ctl.stop().await;
}

#[tokio::test]
async fn bad_requests_get_a_json_error_with_the_right_status_and_create_nothing() {
    let ctl = TestService::start(|_| {}).await;
    ctl.gh.add_user("bob", UserType::User);
    let issue = ctl.issue("Real issue");
    ctl.gh.create_branch(ctl.repo, "feature", "main");
    let pull = ctl.gh.add_pull(ctl.repo, "feature", "main", "bob", "A PR");
    let closed = ctl.issue("Done already");
    ctl.gh.close_issue(ctl.repo, closed);
    let base = ctl.url.as_str().to_owned();
    let unauthenticated = reqwest::Client::new()
        .post(format!("{base}/api/jobs"))
        .json(&json!({"repository": "acme/widgets", "issue": issue, "requested_by": "alice"}))
        .send()
        .await
        .expect("request");
    assert_eq!(unauthenticated.status(), 401);
    let raw = reqwest::Client::new()
        .post(format!("{base}/api/jobs"))
        .bearer_auth(crate::support::service::API_TOKEN)
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(raw.status(), 400);
    assert!(raw.json::<Value>().await.expect("JSON error")["error"].is_string());
    let cases = [
        (json!({"repository": "acme/widgets", "issue": issue, "task": "x", "requested_by": "alice"}), 422),
        (json!({"repository": "acme/widgets", "requested_by": "alice"}), 422),
        (json!({"repository": "acme/widgets", "issue": issue}), 422),
        (json!({"repository": "acme/widgets", "task": "  ", "requested_by": "alice"}), 422),
        (json!({"repository": "acme/nothing", "issue": 1, "requested_by": "alice"}), 404),
        (json!({"repository": "acme/widgets", "issue": 999, "requested_by": "alice"}), 404),
        (json!({"repository": "acme/widgets", "issue": pull, "requested_by": "alice"}), 422),
        (json!({"repository": "acme/widgets", "issue": closed, "requested_by": "alice"}), 422),
        (json!({"repository": "acme/widgets", "issue": issue, "requested_by": "nobody-here"}), 422),
        (json!({"repository": "acme/widgets", "issue": issue, "requested_by": "alice", "extra": 1}), 400),
    ];
    for (body, expected) in cases {
        let (status, answer) = post(&ctl, "/api/jobs", body.clone()).await;
        assert_eq!(status, expected, "{body} -> {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()), "{answer}");
    }
    assert_eq!(ctl.store().count_jobs().await.expect("count"), 0);
    assert_eq!(post(&ctl, "/api/jobs/41/cancel", json!({"requested_by": "alice"})).await.0, 404);
    assert_eq!(post(&ctl, "/api/jobs/x/retry", json!({"requested_by": "alice"})).await.0, 400);
    assert_eq!(call(Method::DELETE, &format!("{base}/api/jobs/41"), None).await.0, 404);
    // Only the unknown user's look-up 404s; GitHub saw nothing it would refuse.
    let _ = ctl.gh.take_violations();
    ctl.stop().await;
}

#[tokio::test]
async fn cancel_retry_and_delete_through_the_api() {
    let ctl = TestService::start(|_| {}).await;
    ctl.gh.add_user("carol", UserType::User);
    let issue = ctl.issue("Flaky test");
    let job = ctl.queued_job(issue, "look at the retries").await.id;
    let base = ctl.url.as_str().to_owned();
    // An active job is not deleted, nor retried.
    let (status, body) = call(Method::DELETE, &format!("{base}/api/jobs/{job}"), None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(post(&ctl, &format!("/api/jobs/{job}/retry"), json!({"requested_by": "carol"})).await.0, 409);

    let (status, body) = post(&ctl, &format!("/api/jobs/{job}/cancel"), json!({"requested_by": "carol"})).await;
    assert_eq!(status, 202, "{body}");
    wait_state(ctl.store(), job, JobState::Cancelled).await;
    assert_eq!(ctl.job(job).await.error.as_deref(), Some("requested by @carol"));
    // The status comment says so (edited in place, not a second comment).
    eventually("the status comment names @carol", || ctl.status_comment(issue, job).body.contains("@carol")).await;
    assert_eq!(post(&ctl, &format!("/api/jobs/{job}/cancel"), json!({"requested_by": "carol"})).await.0, 409);

    let (status, body) = post(&ctl, &format!("/api/jobs/{job}/retry"), json!({"requested_by": "carol"})).await;
    assert_eq!(status, 202, "{body}");
    let retried = until(Duration::from_secs(30), async || match ctl.latest(issue).await {
        Some(j) if j.id != job => Ok(j),
        _ => Err("no retry job was created".to_owned()),
    })
    .await;
    wait_state(ctl.store(), retried.id, JobState::Queued).await;
    assert_eq!(retried.spec.instructions.as_deref(), Some("look at the retries"));
    assert_eq!(retried.spec.sender_login, "carol");

    let (status, _) = call(Method::DELETE, &format!("{base}/api/jobs/{job}"), None).await;
    assert_eq!(status, 204);
    assert_eq!(call(Method::GET, &format!("{base}/api/jobs/{job}"), None).await.0, 404);
    assert!(ctl.store().job_events(job, 0, 10).await.expect("read").is_empty());
    assert_eq!(call(Method::GET, &format!("{base}/api/jobs/{}", retried.id), None).await.0, 200);
    ctl.gh.assert_ok();
    ctl.stop().await;
}

fn output(text: &str) -> JobEvent {
    JobEvent::Output { step: "implement".into(), stream: OutputStream::Stdout, text: text.into() }
}

#[tokio::test]
async fn the_stream_resumes_without_losing_or_repeating_and_ends_with_the_job() {
    let ctl = TestService::start(|_| {}).await;
    let issue = ctl.issue("Stream me");
    let job = ctl.queued_job(issue, "").await.id;
    ctl.run_elsewhere(job).await;
    let store = ctl.store().clone();
    let url = format!("{}/api/jobs/{job}/stream", ctl.url.as_str());

    let mut first = SseReader::open(&url, &[]).await;
    let headers = first.response.headers().clone();
    assert_eq!(headers["content-type"], "text/event-stream");
    assert_eq!(headers["x-accel-buffering"], "no");
    let mut seen = Vec::new();
    // Everything so far, then lines as they are written.
    let before = store.job_events(job, 0, 1000).await.expect("read").len();
    for _ in 0..before {
        seen.push(first.next_event().await.expect("an event").0);
    }
    store.append_event(job, &output("line 1")).await.expect("append");
    let (id, data) = first.next_event().await.expect("a live event");
    assert_eq!(data["text"], "line 1");
    seen.push(id);
    // The connection drops; lines keep coming meanwhile.
    drop(first);
    for n in 2..=4 {
        store.append_event(job, &output(&format!("line {n}"))).await.expect("append");
    }
    let last = seen.last().expect("seen one").to_string();
    let mut second = SseReader::open(&url, &[("last-event-id", last.as_str())]).await;
    store.append_event(job, &output("line 5")).await.expect("append");
    assert!(store.transition(job, JobState::Running, JobState::Succeeded, None).await.expect("end"));
    while let Some((id, _)) = second.next_event().await {
        seen.push(id);
    }
    // The server ended the stream after the terminal event: every event once, in order.
    let all: Vec<i64> = store.job_events(job, 0, 1000).await.expect("read").iter().map(|e| e.id).collect();
    assert_eq!(seen, all);
    let ended = store.job_events(job, 0, 1000).await.expect("read");
    assert!(matches!(ended.last().map(|e| &e.event), Some(JobEvent::StateChanged { to: JobState::Succeeded, .. })));

    // `?after=N` starts a first connection after N; a finished job's stream ends by itself.
    let mut third = SseReader::open(&format!("{url}?after={}", all[all.len() - 2]), &[]).await;
    assert_eq!(third.next_event().await.map(|e| e.0), all.last().copied());
    assert_eq!(third.next_event().await, None);
    // A bad resume point is a JSON 400, not a stream.
    let bad = reqwest::Client::new()
        .get(&url)
        .bearer_auth(crate::support::service::API_TOKEN)
        .header("last-event-id", "soon")
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), 400);
    ctl.stop().await;
}

#[tokio::test]
async fn the_stream_masks_secrets_and_needs_the_token() {
    let ctl = TestService::start(|_| {}).await;
    let issue = ctl.issue("Secrets");
    let job = ctl.queued_job(issue, "").await.id;
    let url = format!("{}/api/jobs/{job}/stream", ctl.url.as_str());
    let anonymous = reqwest::Client::new().get(&url).send().await.expect("request");
    assert_eq!(anonymous.status(), 401);
    // The API token is a registered secret: written into a log line, it never comes out.
    ctl.store()
        .append_event(job, &output(&format!("token={}", crate::support::service::API_TOKEN)))
        .await
        .expect("append");
    assert!(ctl.store().transition(job, JobState::Queued, JobState::Cancelled, None).await.expect("end"));
    let mut reader = SseReader::open(&url, &[]).await;
    let mut texts = Vec::new();
    while let Some((_, data)) = reader.next_event().await {
        texts.push(data.to_string());
    }
    assert!(texts.iter().any(|t| t.contains("token=")), "{texts:?}");
    assert!(!texts.iter().any(|t| t.contains(crate::support::service::API_TOKEN)), "{texts:?}");
    ctl.stop().await;
}
