//! How one GitHub call is made: authentication (App JWT or a scoped
//! installation token, with 401 evict-and-retry-once), the mutation limiter,
//! and `backon` retries that only repeat what is safe to repeat. Every request
//! goes through octocrab's raw `execute`, so there is one HTTP stack and the
//! status and rate-limit headers stay visible.

use std::time::Duration;

use backon::Retryable;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::BodyExt;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::app::GitHubApp;
use super::error::{self, GitHubError};
use super::tokens::TokenKey;

/// Whether a request may be sent again when its outcome is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// GET: always safe.
    Read,
    /// Same effect however often it lands (PATCH of a known id, PUT).
    Idempotent,
    /// May create a second object (POST of a comment, a check run, a PR):
    /// re-sent only when it provably did not take effect.
    NonIdempotent,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Auth<'a> {
    App,
    Installation(&'a TokenKey),
}

/// One API request, reusable across attempts.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    /// Path and query relative to `GITHUB_API_URL`; never carries a secret.
    pub path: String,
    pub body: Option<serde_json::Value>,
    pub safety: Safety,
    /// What the call is about, for `NotFound` errors.
    pub what: String,
}

impl Call {
    pub fn new(method: Method, path: String, what: impl Into<String>, safety: Safety) -> Self {
        Self { method, path, body: None, safety, what: what.into() }
    }
    pub fn body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }
    fn mutating(&self) -> bool {
        self.method != Method::GET && self.method != Method::HEAD
    }
}

/// A successful (2xx) response.
#[derive(Debug)]
pub(crate) struct Resp {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json<T: DeserializeOwned>(&self, what: &str) -> Result<T, GitHubError> {
        serde_json::from_slice(&self.body).map_err(|e| GitHubError::Decode {
            what: what.to_owned(),
            message: crate::masker::global().mask(&e.to_string()),
        })
    }
}

fn retryable(e: &GitHubError, safety: Safety) -> bool {
    match e {
        // GitHub refused the request outright: nothing took effect.
        GitHubError::RateLimited { .. } => true,
        GitHubError::Transport { not_sent: true, .. } => true,
        e if e.outcome_unknown() => safety != Safety::NonIdempotent,
        _ => false,
    }
}

impl GitHubApp {
    /// Makes `call` with retries per [`crate::github::RetryPolicy`].
    pub(crate) async fn call(&self, auth: Auth<'_>, call: &Call) -> Result<Resp, GitHubError> {
        let policy = &self.inner.retry;
        let backoff = crate::backoff::jittered(policy.min_delay, policy.max_delay, policy.max_retries);
        let mut waited = Duration::ZERO;
        (|| self.attempt(auth, call))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|e| retryable(e, call.safety))
            .adjust(|e, next| {
                let next = next?;
                let delay = match e {
                    GitHubError::RateLimited { retry_after: Some(after) } => *after,
                    _ => next,
                };
                if matches!(e, GitHubError::RateLimited { .. }) {
                    crate::metrics::rate_limit_wait(delay);
                }
                if waited + delay > policy.max_total_delay {
                    return None;
                }
                waited += delay;
                Some(delay)
            })
            .notify(|e, delay| {
                tracing::warn!(method = %call.method, path = %call.path, error = %e, ?delay, "GitHub call failed; retrying");
            })
            .await
    }

    /// One attempt, including the single evict-and-retry on 401.
    async fn attempt(&self, auth: Auth<'_>, call: &Call) -> Result<Resp, GitHubError> {
        let token = self.credential(auth).await?;
        match self.send(auth, call, &token).await {
            Err(GitHubError::Unauthorized { .. }) => {
                // The cached credential was revoked or expired early; a 401 means
                // GitHub did not act on the request, so re-sending is safe.
                match auth {
                    Auth::App => self.inner.signer.evict(),
                    Auth::Installation(key) => self.inner.tokens.evict(key),
                }
                let fresh = self.credential(auth).await?;
                self.send(auth, call, &fresh).await
            }
            other => other,
        }
    }

    async fn credential(&self, auth: Auth<'_>) -> Result<SecretString, GitHubError> {
        match auth {
            Auth::App => self.inner.signer.jwt(),
            Auth::Installation(key) => self.installation_token(key).await,
        }
    }

    async fn send(&self, auth: Auth<'_>, call: &Call, credential: &SecretString) -> Result<Resp, GitHubError> {
        if let Auth::Installation(key) = auth
            && call.mutating()
        {
            // Creations (the 👀 reaction, the status comment, check runs, the
            // pull request) are what users wait for; edits are coalesced
            // progress and final states, which can wait a second longer.
            if call.method == Method::POST {
                self.inner.limiter.acquire_first(key.installation_id).await;
            } else {
                self.inner.limiter.acquire(key.installation_id).await;
            }
        }
        let octo = &self.inner.octo;
        let builder = http::Request::builder()
            .method(call.method.clone())
            .uri(call.path.as_str())
            .header(http::header::ACCEPT, "application/vnd.github+json");
        let mut request = octo
            .build_request(builder, call.body.as_ref())
            .map_err(|e| GitHubError::Config(format!("building {} {}: {e}", call.method, call.path)))?;
        let mut auth_value = HeaderValue::from_str(&format!("Bearer {}", credential.expose_secret()))
            .map_err(|_| GitHubError::Config("a credential contains bytes not allowed in a header".into()))?;
        auth_value.set_sensitive(true);
        request.headers_mut().insert(http::header::AUTHORIZATION, auth_value);

        let operation = format!("{} {}", call.method, call.what);
        let response = octo.execute(request).await.map_err(|e| {
            crate::metrics::github_request(&operation, 0);
            transport_error(e)
        })?;
        crate::metrics::github_request(&operation, response.status().as_u16());
        let (parts, body) = response.into_parts();
        let body = body.collect().await.map_err(transport_error)?.to_bytes();
        if parts.status.is_success() {
            tracing::debug!(method = %call.method, path = %call.path, status = parts.status.as_u16(), "GitHub call");
            Ok(Resp { headers: parts.headers, body })
        } else {
            Err(error::from_response(parts.status, &parts.headers, &body, &call.what))
        }
    }
}

/// Classifies a failure below HTTP. A connect error means the request never
/// left this host, which is the one case where a POST may be re-sent.
fn transport_error(e: octocrab::Error) -> GitHubError {
    let mut not_sent = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    let mut chain = Vec::new();
    while let Some(err) = source {
        if let Some(h) = err.downcast_ref::<hyper_util::client::legacy::Error>()
            && h.is_connect()
        {
            not_sent = true;
        }
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::ConnectionRefused
        {
            not_sent = true;
        }
        chain.push(err.to_string());
        source = err.source();
    }
    GitHubError::Transport { message: crate::masker::global().mask(&chain.join(": ")), not_sent }
}
