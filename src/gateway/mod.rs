//! The LLM gateway: the model APIs, served to one job's sandbox on its
//! egress listener. The sandbox holds only the job's capability token; the
//! gateway checks it, drops whatever auth the client sent, injects the real
//! key and forwards to the operator's upstream. Answers stream through
//! unbuffered while a copy is read for usage, which is recorded per call
//! (a job event) and summed per job; the job's budget is enforced before
//! any request is forwarded. A provider that does not answer within
//! `MAXION_LLM_TIMEOUT`, or stops mid-stream for that long, gets the call
//! ended (504, or a broken stream); the job's failing calls are kept
//! ([`trouble`]) so a failed run is named for what the gateway saw.
//!
//! Routes (the prefix names the provider):
//! `POST /anthropic/v1/messages`, `POST /anthropic/v1/messages/count_tokens`,
//! `GET /anthropic/v1/models`, `POST /openai/v1/responses`,
//! `POST /openai/v1/chat/completions`, `GET /openai/v1/models`.
//! Touches: the upstreams (HTTP), the job's event channel.

pub mod budget;
pub mod daily;
mod forward;
pub mod prices;
pub mod probe;
pub mod trouble;
pub mod usage;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;

pub use budget::{Budget, Totals};
pub use daily::{DailyLedger, DailyShare};
pub use forward::{full, handle};
pub use prices::Prices;
pub use trouble::{Failing, Trouble};

use crate::jobs::JobEvent;

/// Errors of a streamed body.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body of every answer on the egress listener.
pub type ResponseBody = http_body_util::combinators::UnsyncBoxBody<bytes::Bytes, BoxError>;

/// Which provider a route belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    Anthropic,
    OpenAi,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Anthropic => "anthropic",
            Provider::OpenAi => "openai",
        }
    }
}

/// One model provider the gateway serves: where it forwards, with which key.
#[derive(Clone)]
pub struct Upstream {
    /// Base URL without a trailing slash.
    pub url: String,
    pub key: SecretString,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream").field("url", &self.url).finish_non_exhaustive()
    }
}

/// How long the gateway waits for a provider without `MAXION_LLM_TIMEOUT`:
/// a non-streamed answer's headers come only when the whole answer is
/// ready, which takes a reasoning model minutes; the agents' own SDKs wait
/// longer still (10 minutes), so this is the wait that ends first.
pub const DEFAULT_LLM_TIMEOUT: Duration = Duration::from_secs(300);

/// What all jobs share: the upstreams with their real keys, the HTTP client
/// and the price table.
#[derive(Debug, Clone)]
pub struct Gateway {
    pub(crate) client: reqwest::Client,
    pub(crate) anthropic: Option<Upstream>,
    pub(crate) openai: Option<Upstream>,
    pub(crate) prices: Arc<Prices>,
    /// The longest wait for an answer to begin, and between two of its chunks.
    pub(crate) llm_timeout: Duration,
}

impl Gateway {
    /// Keys were registered with the masker when the settings were parsed.
    /// The providers get [`DEFAULT_LLM_TIMEOUT`]; see [`Gateway::with_llm_timeout`].
    pub fn new(anthropic: Option<Upstream>, openai: Option<Upstream>, prices: Prices) -> Gateway {
        Gateway {
            client: upstream_client(DEFAULT_LLM_TIMEOUT),
            anthropic,
            openai,
            prices: Arc::new(prices),
            llm_timeout: DEFAULT_LLM_TIMEOUT,
        }
    }

    /// Waits at most `timeout` for a provider's answer to begin (its
    /// headers) and, once it streams, for each next chunk (`MAXION_LLM_TIMEOUT`).
    pub fn with_llm_timeout(mut self, timeout: Duration) -> Gateway {
        self.client = upstream_client(timeout);
        self.llm_timeout = timeout;
        self
    }

    pub fn offers(&self, p: Provider) -> bool {
        self.upstream(p).is_some()
    }

    pub(crate) fn upstream(&self, p: Provider) -> Option<&Upstream> {
        match p {
            Provider::Anthropic => self.anthropic.as_ref(),
            Provider::OpenAi => self.openai.as_ref(),
        }
    }

    /// Host names of the configured upstreams (refused on the proxy path).
    pub fn upstream_hosts(&self) -> Vec<String> {
        [self.anthropic.as_ref(), self.openai.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|p| url::Url::parse(&p.url).ok()?.host_str().map(str::to_ascii_lowercase))
            .collect()
    }
}

/// The client to the providers. reqwest's read timeout is the one wait both
/// phases need: it runs from the request's start until the headers, then
/// restarts with every chunk of the body; either way its error says
/// `is_timeout()`.
fn upstream_client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        // The gateway forwards, it never follows: a redirect goes back to the client.
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10).min(timeout))
        .read_timeout(timeout)
        .build()
        .unwrap_or_default()
}

/// A random capability token: what the sandbox sees as its "API key".
pub fn new_token() -> anyhow::Result<SecretString> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| anyhow::anyhow!("the system's random number generator: {e}"))?;
    Ok(SecretString::from(format!("maxion-cap-{}", hex::encode(bytes))))
}

/// One job's side of the gateway.
pub struct JobGateway {
    pub(crate) shared: Gateway,
    token: SecretString,
    revoked: AtomicBool,
    pub(crate) events: mpsc::Sender<JobEvent>,
    pub(crate) budget: Budget,
    /// The installation's daily budget, shared with its other jobs.
    pub(crate) daily: Option<DailyShare>,
    pub(crate) totals: Mutex<Totals>,
    /// The job's model calls failing since its last good one.
    pub(crate) recent: Mutex<trouble::Recent>,
}

impl JobGateway {
    /// A fresh token (registered with the masker, so logs never show it).
    pub fn new(
        shared: Gateway,
        budget: Budget,
        daily: Option<DailyShare>,
        events: mpsc::Sender<JobEvent>,
    ) -> anyhow::Result<Arc<JobGateway>> {
        let token = new_token()?;
        let _ = crate::masker::global().add(&token);
        Ok(Arc::new(JobGateway {
            shared,
            token,
            revoked: AtomicBool::new(false),
            events,
            budget,
            daily,
            totals: Mutex::new(Totals::default()),
            recent: Mutex::new(trouble::Recent::default()),
        }))
    }

    /// The token the sandbox presents.
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// From now on the token is refused (the job ended).
    pub fn revoke(&self) {
        self.revoked.store(true, Ordering::SeqCst);
    }

    pub(crate) fn accepts(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq;
        !self.revoked.load(Ordering::SeqCst)
            && bool::from(presented.as_bytes().ct_eq(self.token.expose_secret().as_bytes()))
    }

    /// The job's usage so far.
    pub fn totals(&self) -> Totals {
        self.totals.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// How the job's latest model calls failed; `None` when the latest succeeded.
    pub fn failing(&self) -> Option<Failing> {
        self.recent.lock().ok().and_then(|r| r.failing())
    }

    /// The conventional variables of every configured provider, pointing at
    /// `base` (`http://<gateway address>`), with the token as the key.
    pub fn agent_env(&self, base: &str) -> Vec<(String, String)> {
        let mut env = Vec::new();
        let token = self.token.expose_secret().to_owned();
        if self.shared.offers(Provider::Anthropic) {
            env.push(("ANTHROPIC_BASE_URL".to_owned(), format!("{base}/anthropic")));
            env.push(("ANTHROPIC_API_KEY".to_owned(), token.clone()));
        }
        if self.shared.offers(Provider::OpenAi) {
            env.push(("OPENAI_BASE_URL".to_owned(), format!("{base}/openai/v1")));
            env.push(("OPENAI_API_KEY".to_owned(), token));
        }
        env
    }
}
