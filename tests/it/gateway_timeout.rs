//! `MAXION_LLM_TIMEOUT`: a provider that accepts a model call and never
//! answers gets the call ended with 504 in the provider's own error format;
//! one that stops mid-stream gets the stream broken off, so the agent sees
//! it fail and retries. Each is recorded as a failed call (job event, the
//! job's failing calls) and a good call clears the record. The listener runs
//! on loopback: no sandbox is needed to be a client.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use maxion::egress::JobEgress;
use maxion::gateway::{Budget, Failing, Provider, Trouble};
use maxion::jobs::JobEvent;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::egress::{gateway_for, service};
use crate::support::fake_model::{FakeModel, Gate, Reply};

const TIMEOUT: Duration = Duration::from_secs(1);

async fn job(model: &FakeModel) -> (Arc<JobEgress>, mpsc::Receiver<JobEvent>) {
    let svc = service(gateway_for(model).with_llm_timeout(TIMEOUT), &[], &[], &[], Budget::default());
    let (tx, rx) = mpsc::channel(64);
    let egress = JobEgress::start_on(&svc, "127.0.0.1:0".parse().unwrap(), tx).await.expect("listener");
    (egress, rx)
}

fn env(egress: &JobEgress) -> HashMap<String, String> {
    egress.agent_env().into_iter().collect()
}

fn anthropic(http: &reqwest::Client, egress: &JobEgress, stream: bool) -> reqwest::RequestBuilder {
    let env = env(egress);
    let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "stream": stream,
                      "messages": [{"role": "user", "content": "fix the bug"}]});
    http.post(format!("{}/v1/messages", env["ANTHROPIC_BASE_URL"]))
        .header("x-api-key", &env["ANTHROPIC_API_KEY"])
        .header("anthropic-version", "2023-06-01")
        .json(&body)
}

/// The next event `pick` accepts (at most 10 s).
async fn next_event(rx: &mut mpsc::Receiver<JobEvent>, pick: impl Fn(&JobEvent) -> bool) -> JobEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv()).await.expect("the event within 10 s").expect("open");
        if pick(&ev) {
            return ev;
        }
    }
}

#[tokio::test]
async fn a_provider_that_does_not_answer_gets_504_in_its_own_format() {
    let model = FakeModel::start().await;
    let (egress, mut events) = job(&model).await;
    let http = reqwest::Client::new();
    let gate = Gate::new();
    model.set_default(Reply::text("too late").stall(&gate));

    let started = Instant::now();
    let resp = anthropic(&http, &egress, false).send().await.unwrap();
    let waited = started.elapsed();
    assert_eq!(resp.status(), 504);
    assert!(waited >= TIMEOUT && waited < TIMEOUT * 5, "answered after {waited:?}");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "error", "Anthropic's error shape: {body}");
    assert_eq!(body["error"]["type"], "timeout_error");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("did not answer within 1 s (MAXION_LLM_TIMEOUT"), "{message}");
    assert_eq!(model.requests()[0].status, 0, "the fake was still holding the call");

    // Recorded as a failed call, with a line in the job's log.
    let call = next_event(&mut events, |e| matches!(e, JobEvent::LlmCall { .. })).await;
    assert!(matches!(call, JobEvent::LlmCall { status: 504, input_tokens: 0, .. }), "{call:?}");
    let said = next_event(&mut events, |e| matches!(e, JobEvent::Error { .. })).await;
    assert!(format!("{said:?}").contains("MAXION_LLM_TIMEOUT"), "{said:?}");

    // OpenAI's shape for an OpenAI route; the failures count up.
    let env = env(&egress);
    let chat = json!({"model": "gpt-4.1", "messages": [{"role": "user", "content": "x"}]});
    let resp = http
        .post(format!("{}/chat/completions", env["OPENAI_BASE_URL"]))
        .bearer_auth(&env["OPENAI_API_KEY"])
        .json(&chat)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 504);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("MAXION_LLM_TIMEOUT"), "{body}");
    assert_eq!(
        egress.failing(),
        Some(Failing { trouble: Trouble::NoAnswer { timeout: TIMEOUT }, provider: Provider::OpenAi, calls: 2 })
    );

    // A call that is answered clears the record.
    model.push(Reply::text("on time"));
    let resp = anthropic(&http, &egress, false).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let _ = resp.bytes().await.unwrap();
    next_event(&mut events, |e| matches!(e, JobEvent::LlmCall { status: 200, .. })).await;
    assert_eq!(egress.failing(), None);
    egress.close();
}

#[tokio::test]
async fn a_stream_that_stalls_is_broken_off_after_the_timeout() {
    let model = FakeModel::start().await;
    let (egress, mut events) = job(&model).await;
    let http = reqwest::Client::new();
    // The first event goes out, then the provider goes quiet for good.
    let gate = Gate::new();
    model.push(Reply::text("half an answer").hold_after(1, &gate));

    let mut resp = anthropic(&http, &egress, true).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.unwrap().unwrap_or_default();
    assert!(String::from_utf8_lossy(&first).contains("message_start"));
    gate.reached().await;
    let quiet = Instant::now();
    let rest = loop {
        match resp.chunk().await {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    let waited = quiet.elapsed();
    assert!(rest.is_err(), "the client sees a broken stream, not a clean end: {rest:?}");
    assert!(waited >= TIMEOUT.mul_f32(0.9) && waited < TIMEOUT * 5, "broken off after {waited:?}");

    let said = next_event(&mut events, |e| matches!(e, JobEvent::Error { .. })).await;
    assert!(format!("{said:?}").contains("in the middle of its answer (MAXION_LLM_TIMEOUT)"), "{said:?}");
    assert_eq!(
        egress.failing(),
        Some(Failing { trouble: Trouble::Stalled { timeout: TIMEOUT }, provider: Provider::Anthropic, calls: 1 })
    );
    egress.close();
}
