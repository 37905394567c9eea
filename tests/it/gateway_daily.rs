//! The installation's daily budget (`MAXION_DAILY_COST_BUDGET`) is shared by
//! its jobs running at once: a call's worst case is reserved against the
//! day's total, so a second job cannot spend what the first one's call in
//! flight may still use; the real cost replaces the reservation afterwards.
//! The jobs' listeners run on loopback, each with its own capability token.

use std::sync::Arc;

use maxion::egress::{JobEgress, JobLimits};
use maxion::gateway::Budget;
use maxion::gateway::budget::Exceeded;
use maxion::jobs::JobEvent;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::egress::{gateway_for, service};
use crate::support::fake_model::{FakeModel, Gate, Reply, Usage};

/// claude-sonnet-4-5 output costs $15 per million tokens: this maximum
/// reserves about $0.15 per call.
const MAX_TOKENS: u64 = 10_000;

async fn job(svc: &maxion::egress::EgressService, installation_id: i64) -> (Arc<JobEgress>, mpsc::Receiver<JobEvent>) {
    let (tx, rx) = mpsc::channel(64);
    let limits = JobLimits { allow: None, budget: Budget::default(), installation_id };
    let egress = JobEgress::start_with(svc, "127.0.0.1:0".parse().unwrap(), tx, &limits).await.expect("listener");
    (egress, rx)
}

fn call(http: &reqwest::Client, egress: &JobEgress, stream: bool) -> reqwest::RequestBuilder {
    let env: std::collections::HashMap<String, String> = egress.agent_env().into_iter().collect();
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": MAX_TOKENS, "stream": stream,
                      "messages": [{"role": "user", "content": "fix the bug"}]});
    http.post(format!("{}/v1/messages", env["ANTHROPIC_BASE_URL"]))
        .header("x-api-key", &env["ANTHROPIC_API_KEY"])
        .header("anthropic-version", "2023-06-01")
        .json(&body)
}

#[tokio::test]
async fn jobs_running_at_once_reserve_against_one_daily_budget() {
    let model = FakeModel::start().await;
    let mut svc = service(gateway_for(&model), &[], &[], &[], Budget::default());
    svc.daily_usd = Some(0.25);
    let (first, mut first_events) = job(&svc, 5).await;
    let (second, _second_events) = job(&svc, 5).await;
    let (elsewhere, _elsewhere_events) = job(&svc, 6).await;
    let http = reqwest::Client::new();

    // The first job's call is in flight: the upstream holds it after one event.
    let gate = Gate::new();
    model.push(Reply::text("working on it").usage(Usage::new(100, 50)).hold_after(1, &gate));
    let mut held = call(&http, &first, true).send().await.expect("first job's call");
    assert_eq!(held.status(), 200);
    gate.reached().await;
    assert!(held.chunk().await.expect("first event").is_some());

    // Its worst case and the second job's would pass $0.25 together.
    let refused = call(&http, &second, false).send().await.expect("second job's call");
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.expect("error body");
    assert_eq!(body["error"]["type"], "budget_exceeded", "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("of its $0.25 daily budget"), "{message}");
    assert!(matches!(second.totals().exceeded, Some(Exceeded::Daily { budget, .. }) if budget == 0.25));
    assert_eq!(model.requests().len(), 1, "the refused call never reached the provider");

    // Another installation's day is its own.
    model.push(Reply::text("elsewhere").usage(Usage::new(10, 5)));
    assert_eq!(call(&http, &elsewhere, false).send().await.expect("other installation").status(), 200);

    // The first call ends and is settled at its real cost ($0.00105): the
    // day has room again for a worst case.
    gate.release();
    while held.chunk().await.expect("rest of the stream").is_some() {}
    loop {
        match first_events.recv().await.expect("first job's events") {
            JobEvent::LlmCall { output_tokens, .. } => break assert_eq!(output_tokens, 50),
            _ => continue,
        }
    }
    let (third, _third_events) = job(&svc, 5).await;
    model.push(Reply::text("done").usage(Usage::new(10, 5)));
    let after = call(&http, &third, false).send().await.expect("third job's call");
    assert_eq!(after.status(), 200, "{}", after.text().await.unwrap_or_default());
    for e in [first, second, third, elsewhere] {
        e.close();
    }
}
