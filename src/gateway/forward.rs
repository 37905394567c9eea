//! One gateway request: route, token check, budget reservation, key
//! injection, forwarding, and the metered pass-through of the answer.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::budget::{DEFAULT_WORST_OUTPUT, Exceeded, Reservation};
use super::trouble::{Trouble, error_message};
use super::usage::{self, Shape, SseUsage, Usage};
use super::{BoxError, JobGateway, Provider, ResponseBody};
use crate::jobs::JobEvent;

/// Request bodies larger than this are refused (413).
const MAX_REQUEST_BYTES: usize = 32 << 20;
/// Non-streaming answers are copied for their usage up to this size.
const MAX_COPY_BYTES: usize = 32 << 20;

/// Request headers that never go upstream: hop-by-hop ones, the client's
/// credentials (the real key replaces them) and encodings the usage reader
/// could not decode.
const DROPPED_REQUEST: &[&str] = &[
    "host",
    "authorization",
    "x-api-key",
    "proxy-authorization",
    "proxy-connection",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "accept-encoding",
];
const DROPPED_RESPONSE: &[&str] =
    &["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "content-length", "trailer"];

struct Route {
    provider: Provider,
    /// The path below the provider's base URL.
    upstream_path: String,
    /// `None`: not a model call (models list, token count): not metered.
    shape: Option<Shape>,
}

fn route(method: &Method, path: &str) -> Result<Route, Option<Provider>> {
    let (provider, rest) = if let Some(rest) = path.strip_prefix("/anthropic") {
        (Provider::Anthropic, rest)
    } else if let Some(rest) = path.strip_prefix("/openai/v1") {
        (Provider::OpenAi, rest)
    } else {
        return Err(None);
    };
    let shape = match (provider, method.as_str(), rest) {
        (Provider::Anthropic, "POST", "/v1/messages") => Some(Shape::AnthropicMessages),
        (Provider::Anthropic, "POST", "/v1/messages/count_tokens") | (Provider::Anthropic, "GET", "/v1/models") => None,
        (Provider::OpenAi, "POST", "/responses") => Some(Shape::OpenAiResponses),
        (Provider::OpenAi, "POST", "/chat/completions") => Some(Shape::ChatCompletions),
        (Provider::OpenAi, "GET", "/models") => None,
        _ => return Err(Some(provider)),
    };
    Ok(Route { provider, upstream_path: rest.to_owned(), shape })
}

/// An error in the provider's own format, so the agent's SDK understands it.
fn error(provider: Option<Provider>, status: u16, kind: &str, message: &str) -> Response<ResponseBody> {
    let body = match provider {
        Some(Provider::Anthropic) | None => json!({"type": "error", "error": {"type": kind, "message": message}}),
        Some(Provider::OpenAi) => json!({"error": {"message": message, "type": kind, "param": null, "code": kind}}),
    };
    let mut resp = Response::new(full(body.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

pub fn full(text: impl Into<Bytes>) -> ResponseBody {
    Full::new(text.into()).map_err(|e| -> BoxError { match e {} }).boxed_unsync()
}

fn presented_key(provider: Provider, headers: &HeaderMap) -> Option<&str> {
    let bearer =
        headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match provider {
        Provider::Anthropic => headers.get("x-api-key").and_then(|v| v.to_str().ok()).or(bearer),
        Provider::OpenAi => bearer,
    }
}

fn budget_message(e: &Exceeded) -> String {
    match e {
        Exceeded::Tokens { used, budget } => {
            format!("budget_exceeded: this job used {used} of its {budget} tokens; the request was not sent")
        }
        Exceeded::Usd { used, budget } => {
            format!("budget_exceeded: this job used ${used:.2} of its ${budget:.2} budget; the request was not sent")
        }
        Exceeded::Daily { used, budget } => format!(
            "budget_exceeded: this installation used ${used:.2} of its ${budget:.2} daily budget; the request was not sent"
        ),
    }
}

/// Reserves `r` in the job's totals, then in its installation's day (jobs
/// running at once share that); a refusal by either releases the other.
fn reserve(job: &JobGateway, r: Reservation) -> Result<Reservation, Exceeded> {
    let mut totals = job.totals.lock().unwrap_or_else(|p| p.into_inner());
    totals.reserve(&job.budget, r)?;
    if let Some(daily) = &job.daily
        && let Err(e) = daily.reserve(r.usd)
    {
        totals.release(r);
        totals.exceeded = Some(e);
        return Err(e);
    }
    Ok(r)
}

/// The fields of a model request the gateway reads, without building the
/// rest (the conversation: most of the bytes) as a JSON tree.
#[derive(serde::Deserialize)]
struct Peek {
    model: Option<Value>,
    max_tokens: Option<Value>,
    max_output_tokens: Option<Value>,
    max_completion_tokens: Option<Value>,
    stream: Option<Value>,
    stream_options: Option<Value>,
}

impl Peek {
    fn of(body: &[u8]) -> Option<Peek> {
        match serde_json::from_slice::<Peek>(body) {
            Ok(p) => Some(p),
            // A repeated field is an error here but not for the provider's
            // parser (the last one wins): read those the same way.
            Err(_) => {
                let v: Value = serde_json::from_slice(body).ok()?;
                let field = |k: &str| v.get(k).cloned();
                Some(Peek {
                    model: field("model"),
                    max_tokens: field("max_tokens"),
                    max_output_tokens: field("max_output_tokens"),
                    max_completion_tokens: field("max_completion_tokens"),
                    stream: field("stream"),
                    stream_options: field("stream_options"),
                })
            }
        }
    }
}

/// Handles one request on the gateway's routes.
pub async fn handle(job: Arc<JobGateway>, req: Request<Incoming>) -> Response<ResponseBody> {
    let started = Instant::now();
    let r = match route(req.method(), req.uri().path()) {
        Ok(r) => r,
        Err(p) => return error(p, 404, "not_found_error", "no such route on the Maxion LLM gateway"),
    };
    if !presented_key(r.provider, req.headers()).is_some_and(|k| job.accepts(k)) {
        return error(Some(r.provider), 401, "authentication_error", "invalid or revoked capability token");
    }
    let Some(upstream) = job.shared.upstream(r.provider).cloned() else {
        return error(Some(r.provider), 404, "not_found_error", "this provider is not configured on Maxion");
    };
    let (parts, body) = req.into_parts();
    let mut body = match Limited::new(body, MAX_REQUEST_BYTES).collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => return error(Some(r.provider), 413, "request_too_large", "request body too large or cut off"),
    };
    let mut model = String::new();
    let mut max_output = None;
    if let Some(shape) = r.shape
        && let Some(peek) = Peek::of(&body)
    {
        model = peek.model.as_ref().and_then(Value::as_str).unwrap_or_default().to_owned();
        max_output = [&peek.max_tokens, &peek.max_output_tokens, &peek.max_completion_tokens]
            .into_iter()
            .find_map(|v| v.as_ref().and_then(Value::as_u64));
        let streaming = peek.stream.as_ref().and_then(Value::as_bool).unwrap_or(false);
        let asked = peek.stream_options.as_ref().and_then(|o| o.get("include_usage")).and_then(Value::as_bool);
        // Chat Completions streams usage only when asked: ask, always.
        if shape == Shape::ChatCompletions
            && streaming
            && asked != Some(true)
            && let Ok(mut v) = serde_json::from_slice::<Value>(&body)
            && let Some(obj) = v.as_object_mut()
        {
            let opts = obj.entry("stream_options").or_insert_with(|| json!({}));
            if let Some(o) = opts.as_object_mut() {
                o.insert("include_usage".into(), json!(true));
                body = Bytes::from(v.to_string());
            }
        }
    }
    let request_len = body.len();
    let reservation = match r.shape {
        None => Reservation::default(),
        Some(_) => {
            let input = usage::estimate_input(request_len);
            let output = max_output.unwrap_or(DEFAULT_WORST_OUTPUT);
            let worst = Usage { input, cached: 0, output, reasoning: 0 };
            let r2 = Reservation { tokens: input + output, usd: job.shared.prices.cost(&model, &worst).unwrap_or(0.0) };
            match reserve(&job, r2) {
                Ok(res) => res,
                Err(e) => {
                    // Not a model call: nothing reached the provider.
                    let _ = job.events.try_send(JobEvent::Error { message: budget_message(&e) });
                    return error(Some(r.provider), 403, "budget_exceeded", &budget_message(&e));
                }
            }
        }
    };

    let query = parts.uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let url = format!("{}{}{query}", upstream.url, r.upstream_path);
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if !DROPPED_REQUEST.contains(&name.as_str()) {
            headers.append(name.clone(), value.clone());
        }
    }
    headers.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    let key = upstream.key.expose_secret();
    let injected = match r.provider {
        Provider::Anthropic => HeaderValue::from_str(key).map(|v| ("x-api-key", v)),
        Provider::OpenAi => HeaderValue::from_str(&format!("Bearer {key}")).map(|v| ("authorization", v)),
    };
    let Ok((key_header, mut key_value)) = injected else {
        return error(Some(r.provider), 500, "api_error", "the configured key is not a valid header value");
    };
    key_value.set_sensitive(true);
    headers.insert(key_header, key_value);
    let sent = job.shared.client.request(parts.method.clone(), &url).headers(headers).body(body).send().await;
    let call =
        Call { job: Arc::clone(&job), provider: r.provider, shape: r.shape, model, request_len, reservation, started };
    let resp = match sent {
        Ok(resp) => resp,
        // A connect that timed out is a provider not reached, not a slow answer.
        Err(e) if e.is_timeout() && !e.is_connect() => {
            let timeout = job.shared.llm_timeout;
            let mut meter = Meter::new(call, 504);
            meter.before_answer = Some(Trouble::NoAnswer { timeout });
            drop(meter);
            return error(Some(r.provider), 504, "timeout_error", &no_answer_message(timeout));
        }
        Err(e) => {
            let mut meter = Meter::new(call, 502);
            meter.before_answer = Some(Trouble::Unreachable { error: reqwest_cause(&e) });
            drop(meter);
            tracing::warn!(provider = r.provider.as_str(), error = %e, "model upstream unreachable");
            return error(Some(r.provider), 502, "api_error", "the model provider could not be reached");
        }
    };
    let status = resp.status();
    let mut out = Response::builder().status(status.as_u16());
    for (name, value) in resp.headers() {
        if !DROPPED_RESPONSE.contains(&name.as_str()) {
            out = out.header(name, value);
        }
    }
    // Reverse proxies in front must not buffer the stream either.
    out = out.header("x-accel-buffering", "no");
    let is_sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let mut meter = Meter::new(call, status.as_u16());
    if is_sse && let Some(shape) = r.shape {
        meter.sse = Some(SseUsage::new(shape));
    }
    let body = http::Response::<reqwest::Body>::from(resp).into_body();
    let mut watched = body.into_data_stream();
    let stream = async_stream_of(move |cx| {
        let next = std::pin::Pin::new(&mut watched).poll_next(cx);
        if let std::task::Poll::Ready(r) = &next {
            match r {
                Some(Ok(bytes)) => meter.feed(bytes),
                // The read timeout: the provider went quiet mid-answer. The
                // error ends the stream, so the client sees it broken and retries.
                Some(Err(e)) => {
                    meter.broken = true;
                    meter.stalled = e.is_timeout();
                }
                None => meter.ended = true,
            }
        }
        next
    });
    let stream = stream.map(|chunk| chunk.map(Frame::data).map_err(|e| -> BoxError { Box::new(e) }));
    out.body(StreamBody::new(stream).boxed_unsync())
        .unwrap_or_else(|_| error(Some(r.provider), 502, "api_error", "the provider's answer could not be relayed"))
}

/// A stream from a poll function (keeps the metering state in one closure).
fn async_stream_of<T, F>(f: F) -> futures_util::stream::PollFn<F>
where
    F: FnMut(&mut std::task::Context<'_>) -> std::task::Poll<Option<T>>,
{
    futures_util::stream::poll_fn(f)
}

fn call_event(
    provider: Provider,
    model: &str,
    status: u16,
    u: &Usage,
    latency_ms: u64,
    usage_reported: bool,
    cost_usd: Option<f64>,
) -> JobEvent {
    JobEvent::LlmCall {
        provider: provider.as_str().to_owned(),
        model: model.to_owned(),
        status,
        input_tokens: u.input,
        cached_tokens: u.cached,
        output_tokens: u.output,
        reasoning_tokens: u.reasoning,
        latency_ms,
        usage_reported,
        cost_usd,
    }
}

/// Watches an answer go by; when it ends (or is dropped: the client went
/// away, the upstream cut it) the call is settled and recorded once.
struct Meter {
    job: Arc<JobGateway>,
    provider: Provider,
    shape: Option<Shape>,
    model: String,
    request_len: usize,
    status: u16,
    reservation: Reservation,
    started: Instant,
    sse: Option<SseUsage>,
    copy: Vec<u8>,
    /// The body ended with an error (cut, or `stalled`).
    broken: bool,
    /// The error was the read timeout: nothing came for `MAXION_LLM_TIMEOUT`.
    stalled: bool,
    /// The body came to its end.
    ended: bool,
    /// No answer at all: the provider was not reached or did not answer in time.
    before_answer: Option<Trouble>,
}

/// What the meter knows of a call before its answer: the request's side.
struct Call {
    job: Arc<JobGateway>,
    provider: Provider,
    shape: Option<Shape>,
    model: String,
    request_len: usize,
    reservation: Reservation,
    started: Instant,
}

impl Meter {
    /// The meter of `call`, whose answer came with `status`.
    fn new(call: Call, status: u16) -> Meter {
        let Call { job, provider, shape, model, request_len, reservation, started } = call;
        Meter {
            job,
            provider,
            shape,
            model,
            request_len,
            status,
            reservation,
            started,
            sse: None,
            copy: Vec::new(),
            broken: false,
            stalled: false,
            ended: false,
            before_answer: None,
        }
    }

    /// How the call went for the provider's part; `None` inside: it
    /// succeeded. Outer `None`: the client went away before the answer
    /// ended, which says nothing about the provider.
    fn outcome(&mut self) -> Option<Option<Trouble>> {
        if let Some(t) = self.before_answer.take() {
            return Some(Some(t));
        }
        if !(200..300).contains(&self.status) {
            return Some(Some(Trouble::Status { status: self.status, message: error_message(&self.copy) }));
        }
        if self.stalled {
            return Some(Some(Trouble::Stalled { timeout: self.job.shared.llm_timeout }));
        }
        if self.broken {
            return Some(Some(Trouble::Cut));
        }
        self.ended.then_some(None)
    }

    fn feed(&mut self, bytes: &[u8]) {
        match &mut self.sse {
            Some(p) => p.feed(bytes),
            None if self.shape.is_some() && self.copy.len() + bytes.len() <= MAX_COPY_BYTES => {
                self.copy.extend_from_slice(bytes)
            }
            None => {}
        }
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        let Some(shape) = self.shape else { return };
        let reported = match &self.sse {
            Some(p) => {
                if let Some(m) = &p.model
                    && self.model.is_empty()
                {
                    self.model = m.clone();
                }
                p.usage()
            }
            None if self.before_answer.is_some() => Some(Usage::default()),
            None => usage::from_body(shape, &self.copy),
        };
        // No usage (a cut stream, an error body): the input was still sent,
        // so at least its estimate is charged, unless nothing reached upstream.
        let usage_reported = reported.is_some();
        let mut u = reported.unwrap_or(Usage { input: usage::estimate_input(self.request_len), ..Usage::default() });
        if self.before_answer.is_none() && u.input + u.cached == 0 && (self.broken || !usage_reported) {
            u.input = usage::estimate_input(self.request_len);
        }
        let cost = self.job.shared.prices.cost(&self.model, &u);
        let took = self.started.elapsed();
        if let Ok(mut t) = self.job.totals.lock() {
            t.settle(self.reservation, &u, cost, took);
        }
        if let Some(daily) = &self.job.daily {
            daily.settle(self.reservation.usd, cost.unwrap_or(0.0));
        }
        // The record first: whoever reads the events may look at it next.
        let outcome = self.outcome();
        if let Some(outcome) = &outcome
            && let Ok(mut recent) = self.job.recent.lock()
        {
            recent.record(self.provider, outcome.clone());
        }
        let ev = call_event(self.provider, &self.model, self.status, &u, took.as_millis() as u64, usage_reported, cost);
        let _ = self.job.events.try_send(ev);
        let timed_out = match outcome {
            Some(Some(Trouble::NoAnswer { timeout })) => Some(no_answer_message(timeout)),
            Some(Some(Trouble::Stalled { timeout })) => Some(stalled_message(timeout)),
            _ => None,
        };
        if let Some(message) = timed_out {
            tracing::warn!(provider = self.provider.as_str(), "{message}");
            let _ = self.job.events.try_send(JobEvent::Error { message });
        }
    }
}

/// The 504's message, also the job event's: the agent shows it as the
/// provider's error, so it says who gave up and which setting decides.
fn no_answer_message(timeout: std::time::Duration) -> String {
    format!("the model provider did not answer within {} (MAXION_LLM_TIMEOUT on the Maxion gateway)", seconds(timeout))
}

fn stalled_message(timeout: std::time::Duration) -> String {
    format!(
        "the model provider sent nothing for {} in the middle of its answer (MAXION_LLM_TIMEOUT); \
         the Maxion gateway ended the stream",
        seconds(timeout)
    )
}

/// `2 s`, `1.5 s`.
fn seconds(d: std::time::Duration) -> String {
    if d.subsec_millis() == 0 { format!("{} s", d.as_secs()) } else { format!("{:.1} s", d.as_secs_f64()) }
}

/// The innermost cause of a failed request ("Connection refused (os error
/// 111)"), not reqwest's "error sending request for url (…)".
fn reqwest_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peek_reads_what_the_provider_reads() {
        let p = Peek::of(br#"{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":7,"stream":true}"#)
            .unwrap();
        assert_eq!((p.model, p.max_tokens, p.stream), (Some(json!("m")), Some(json!(7)), Some(json!(true))));
        // A repeated field: the last one wins, as in the provider's parser
        // (a failed peek would leave the call unpriced).
        let p = Peek::of(br#"{"model":"cheap","max_tokens":1,"model":"claude-opus-4-1","max_tokens":9000}"#).unwrap();
        assert_eq!((p.model, p.max_tokens), (Some(json!("claude-opus-4-1")), Some(json!(9000))));
        assert!(Peek::of(b"not json").is_none());
    }
}
