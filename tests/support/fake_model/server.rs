//! Routes and handlers of the fake model upstream.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State as Extract;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::{get, post};
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::reply::{Answer, Delivery, Reply};
use super::{ANTHROPIC_KEY, OPENAI_KEY, Provider, Recorded, State, render};

type Shared = Arc<Mutex<State>>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/anthropic/v1/messages", post(anthropic_messages))
        .route("/anthropic/v1/messages/count_tokens", post(anthropic_count))
        .route("/anthropic/v1/models", get(anthropic_models))
        .route("/openai/v1/responses", post(openai_responses))
        .route("/openai/v1/chat/completions", post(openai_chat))
        .route("/openai/v1/models", get(openai_models))
        .with_state(state)
}

fn lock(state: &Shared) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn key_ok(provider: Provider, headers: &HeaderMap) -> bool {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    match provider {
        Provider::Anthropic => h("x-api-key") == Some(ANTHROPIC_KEY) && h("anthropic-version").is_some(),
        Provider::OpenAi => h("authorization") == Some(&format!("Bearer {OPENAI_KEY}")),
    }
}

/// Records the request and checks the key; `Err` is the 401 to send.
fn receive(
    state: &Shared,
    provider: Provider,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> (usize, Result<Value, Response>) {
    let prefix = match provider {
        Provider::Anthropic => "/anthropic",
        Provider::OpenAi => "/openai/v1",
    };
    let path = uri.path().strip_prefix(prefix).unwrap_or(uri.path()).to_owned();
    let ok = key_ok(provider, headers);
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let rec = Recorded {
        provider,
        method: method.to_string(),
        path,
        headers: headers
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: parsed.clone(),
        key_ok: ok,
        status: 0,
    };
    let mut s = lock(state);
    s.requests.push(rec);
    let index = s.requests.len() - 1;
    drop(s);
    if !ok {
        let resp = error(provider, 401, "authentication_error", "invalid x-api-key");
        return (index, Err(resp));
    }
    (index, Ok(parsed))
}

/// [`receive`], then the request's required fields: `Err` is the 401 or the
/// 400 to send (its status recorded), `Ok` the request's index and body.
fn accept(
    state: &Shared,
    provider: Provider,
    (method, uri, headers): (&Method, &Uri, &HeaderMap),
    body: &[u8],
    required: &[&str],
) -> Result<(usize, Value), Box<Response>> {
    let (index, parsed) = receive(state, provider, method, uri, headers, body);
    let parsed = parsed.inspect_err(|_| set_status(state, index, 401)).map_err(Box::new)?;
    if let Some(m) = missing(&parsed, required) {
        set_status(state, index, 400);
        let message = match provider {
            Provider::Anthropic => m,
            Provider::OpenAi => format!("Missing required parameter: '{m}'"),
        };
        return Err(Box::new(error(provider, 400, "invalid_request_error", &message)));
    }
    Ok((index, parsed))
}

fn set_status(state: &Shared, index: usize, status: u16) {
    if let Some(r) = lock(state).requests.get_mut(index) {
        r.status = status;
    }
}

fn error(provider: Provider, status: u16, kind: &str, message: &str) -> Response {
    let (kind, body) = match provider {
        Provider::Anthropic => (kind, render::anthropic_error(kind, message)),
        Provider::OpenAi => {
            let kind = if status == 401 { "invalid_request_error" } else { kind };
            (kind, render::openai_error(kind, message))
        }
    };
    let _ = kind;
    json_response(status, &body)
}

fn json_response(status: u16, body: &Value) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

fn next_reply(state: &Shared, index: usize) -> Option<Reply> {
    let mut s = lock(state);
    if let Some(r) = s.queue.pop_front() {
        return Some(r);
    }
    let scripted =
        s.script.as_ref().zip(s.requests.get(index)).map(|(script, r)| script.reply(r.provider, &r.path, &r.body));
    scripted.or_else(|| s.default.clone())
}

fn missing(body: &Value, fields: &[&str]) -> Option<String> {
    fields.iter().find(|f| body.get(**f).is_none()).map(|f| format!("{f}: Field required"))
}

/// Renders a scripted reply in one shape; `json` and `sse` make the body.
async fn answer(
    state: &Shared,
    index: usize,
    provider: Provider,
    stream: bool,
    json: impl FnOnce(&str, &super::Content, &super::Usage) -> Value,
    sse: impl FnOnce(&str, &super::Content, &super::Usage) -> Vec<render::SseEvent>,
) -> Response {
    let Some(reply) = next_reply(state, index) else {
        set_status(state, index, 500);
        return error(provider, 500, "api_error", "fake model: no reply scripted for this call");
    };
    if let Delivery::Stall { gate } = &reply.delivery {
        // The status stays 0 (not answered) while held.
        gate.pause().await;
    }
    let id = format!("fake-{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
    let content = match reply.answer {
        Answer::Error { status, kind, message } => {
            set_status(state, index, status);
            return error(provider, status, &kind, &message);
        }
        Answer::Content(c) => c,
    };
    set_status(state, index, 200);
    if !stream {
        return json_response(200, &json(&id, &content, &reply.usage));
    }
    let events = sse(&id, &content, &reply.usage);
    sse_response(events, reply.delivery)
}

fn sse_response(events: Vec<render::SseEvent>, delivery: Delivery) -> Response {
    enum Step {
        Send(Vec<u8>),
        Pause(super::Gate),
        Cut,
    }
    let mut steps = Vec::new();
    for (i, e) in events.iter().enumerate() {
        match &delivery {
            Delivery::HoldAfter { events, gate } if *events == i => steps.push(Step::Pause(gate.clone())),
            Delivery::CutAfter { events } if *events == i => {
                steps.push(Step::Cut);
                break;
            }
            _ => {}
        }
        steps.push(Step::Send(e.to_bytes()));
    }
    let body = futures_util::stream::iter(steps).then(|step| async move {
        match step {
            Step::Send(b) => Ok::<_, std::io::Error>(Some(Bytes::from(b))),
            Step::Pause(gate) => {
                gate.pause().await;
                Ok(None)
            }
            Step::Cut => {
                // Return Pending once first, so the server flushes what was
                // sent before the cut instead of dropping it with the connection.
                tokio::task::yield_now().await;
                Err(std::io::Error::other("fake model: stream cut on purpose"))
            }
        }
    });
    let body = body.filter_map(|r| async move {
        match r {
            Ok(Some(b)) => Some(Ok(b)),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from_stream(body))
        .unwrap_or_default()
}

fn is_stream(body: &Value) -> bool {
    body.get("stream").and_then(Value::as_bool).unwrap_or(false)
}

fn model_of(body: &Value) -> String {
    body.get("model").and_then(Value::as_str).unwrap_or("unknown").to_owned()
}

async fn anthropic_messages(
    Extract(state): Extract<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (index, body) = match accept(
        &state,
        Provider::Anthropic,
        (&method, &uri, &headers),
        &body,
        &["model", "max_tokens", "messages"],
    ) {
        Ok(accepted) => accepted,
        Err(r) => return *r,
    };
    let model = model_of(&body);
    let m2 = model.clone();
    answer(
        &state,
        index,
        Provider::Anthropic,
        is_stream(&body),
        |id, c, u| render::anthropic_json(id, &model, c, u),
        |id, c, u| render::anthropic_sse(id, &m2, c, u),
    )
    .await
}

async fn anthropic_count(
    Extract(state): Extract<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (index, _) = match accept(&state, Provider::Anthropic, (&method, &uri, &headers), &body, &["model", "messages"])
    {
        Ok(accepted) => accepted,
        Err(r) => return *r,
    };
    set_status(&state, index, 200);
    // Deterministic: a token per four bytes of the request.
    json_response(200, &json!({"input_tokens": body.len().div_ceil(4)}))
}

async fn anthropic_models(Extract(state): Extract<Shared>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let (index, parsed) = receive(&state, Provider::Anthropic, &method, &uri, &headers, &[]);
    if let Err(r) = parsed {
        set_status(&state, index, 401);
        return r;
    }
    set_status(&state, index, 200);
    json_response(
        200,
        &json!({"data": [{"type": "model", "id": "claude-sonnet-4-5", "display_name": "Claude Sonnet 4.5",
                          "created_at": "2025-09-29T00:00:00Z"}],
                "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "claude-sonnet-4-5"}),
    )
}

async fn openai_responses(
    Extract(state): Extract<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (index, body) = match accept(&state, Provider::OpenAi, (&method, &uri, &headers), &body, &["model", "input"]) {
        Ok(accepted) => accepted,
        Err(r) => return *r,
    };
    let model = model_of(&body);
    let m2 = model.clone();
    answer(
        &state,
        index,
        Provider::OpenAi,
        is_stream(&body),
        |id, c, u| render::responses_json(id, &model, c, u),
        |id, c, u| render::responses_sse(id, &m2, c, u),
    )
    .await
}

async fn openai_chat(
    Extract(state): Extract<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (index, body) = match accept(&state, Provider::OpenAi, (&method, &uri, &headers), &body, &["model", "messages"])
    {
        Ok(accepted) => accepted,
        Err(r) => return *r,
    };
    let include_usage = body.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
    let model = model_of(&body);
    let m2 = model.clone();
    answer(
        &state,
        index,
        Provider::OpenAi,
        is_stream(&body),
        |id, c, u| render::chat_json(id, &model, c, u),
        |id, c, u| render::chat_sse(id, &m2, c, u, include_usage),
    )
    .await
}

async fn openai_models(Extract(state): Extract<Shared>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let (index, parsed) = receive(&state, Provider::OpenAi, &method, &uri, &headers, &[]);
    if let Err(r) = parsed {
        set_status(&state, index, 401);
        return r;
    }
    set_status(&state, index, 200);
    json_response(
        200,
        &json!({"object": "list", "data": [{"id": "gpt-5", "object": "model", "created": 1_700_000_000,
                                              "owned_by": "openai"}]}),
    )
}
