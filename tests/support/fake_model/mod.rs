//! The fake model upstream: a strict, scripted stand-in for the Anthropic and
//! OpenAI APIs that the LLM gateway forwards to (and that real agents can
//! talk to in tests).
//!
//! An axum server serving
//! - Anthropic Messages under `anthropic_url()`: `POST /v1/messages` (JSON or
//!   SSE), `POST /v1/messages/count_tokens`, `GET /v1/models`;
//! - OpenAI under `openai_url()` (which ends in `/v1`, like the real base
//!   URL): `POST /responses` (JSON or SSE), `POST /chat/completions` (JSON or
//!   SSE; usage streamed only with `stream_options.include_usage`, as the real
//!   API does), `GET /models`.
//!
//! It is as strict as the providers where a gateway could get it wrong: the
//! real key must arrive (`x-api-key` plus `anthropic-version` for Anthropic,
//! `Authorization: Bearer` for OpenAI; anything else is a 401 in the
//! provider's format), and the required body fields must be there (400).
//! Every request is recorded (`requests()`), answered or not.
//!
//! Model calls take the next scripted [`Reply`] from a queue (`push`); with an
//! empty queue the fake answers 500 unless a default reply is set. A reply can
//! be text or tool calls with any usage, an error status, held mid-stream on a
//! [`Gate`] (never released: a stream that stalls), cut mid-stream, or
//! stalled before any answer (`Reply::stall`).
//!
//! ```ignore
//! let model = FakeModel::start().await;
//! model.push(Reply::text("done").usage(Usage::new(120, 30)));
//! // point the gateway at model.anthropic_url() with ANTHROPIC_KEY ...
//! assert_eq!(model.requests()[0].key_ok, true);
//! ```

mod render;
mod reply;
mod script;
mod server;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::oneshot;

pub use render::SseEvent;
pub use reply::{Answer, Content, Delivery, Gate, Reply, ToolCall, Usage};
pub use script::{Script, Session};

/// The real Anthropic key the fake expects (the gateway injects it).
pub const ANTHROPIC_KEY: &str = "sk-ant-api03-fake-real-key-7d1f0c9a2b";
/// The real OpenAI key the fake expects.
pub const OPENAI_KEY: &str = "sk-proj-fake-real-key-4e8b21c6f0";

/// Which API a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    OpenAi,
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub provider: Provider,
    pub method: String,
    /// Path below the provider's base (e.g. `/v1/messages`, `/responses`).
    pub path: String,
    /// Lower-case header names with their values.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: serde_json::Value,
    /// Whether the real key was presented the provider's way.
    pub key_ok: bool,
    /// What the fake answered with; 0 while it has not answered (a stall).
    pub status: u16,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
pub(crate) struct State {
    queue: VecDeque<Reply>,
    default: Option<Reply>,
    script: Option<Script>,
    requests: Vec<Recorded>,
}

pub struct FakeModel {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Option<oneshot::Sender<()>>,
}

impl FakeModel {
    /// Listens on an ephemeral loopback port.
    pub async fn start() -> FakeModel {
        Self::start_on("127.0.0.1:0").await
    }

    /// Listens on `addr` (e.g. `0.0.0.0:0` to be reachable from containers
    /// on a bridge network at the host's address).
    pub async fn start_on(addr: &str) -> FakeModel {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind the fake model");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State::default()));
        let app = server::router(Arc::clone(&state));
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        FakeModel { addr, state, stop: Some(stop) }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Anthropic base URL (what `MAXION_ANTHROPIC_URL` is set to).
    pub fn anthropic_url(&self) -> String {
        format!("http://{}/anthropic", self.addr)
    }

    /// The OpenAI base URL, ending in `/v1` (what `MAXION_OPENAI_URL` is set to).
    pub fn openai_url(&self) -> String {
        format!("http://{}/openai/v1", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues the reply for the next model call.
    pub fn push(&self, reply: Reply) {
        self.lock().queue.push_back(reply);
    }

    /// The reply used whenever the queue is empty (none: 500).
    pub fn set_default(&self, reply: Reply) {
        self.lock().default = Some(reply);
    }

    /// Answers every call the queue does not with the step `script` is at
    /// (see `script.rs`); takes precedence over the default reply.
    pub fn set_script(&self, script: Script) {
        self.lock().script = Some(script);
    }

    /// Replies queued and not used yet.
    pub fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Forgets the requests recorded so far (a benchmark's thousands of
    /// calls would otherwise all be kept).
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }
}

impl Drop for FakeModel {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
