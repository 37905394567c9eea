//! Whether a configured provider answers with the operator's real key: one
//! `GET` of its models list, the cheapest authenticated call both APIs have
//! (`maxion doctor`).

use std::time::Duration;

use secrecy::ExposeSecret;

use super::{Gateway, Provider};

/// What the provider said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelsAnswer {
    /// 2xx: the key works.
    Ok { url: String },
    /// 401 or 403: the key is wrong, revoked or lacks the permission.
    Refused { url: String, status: u16 },
    /// Any other status: something answers, but not as the API.
    Unexpected { url: String, status: u16 },
    /// No answer at all (name, connection, TLS, timeout).
    Unreachable { url: String, error: String },
}

/// `GET /v1/models` (Anthropic) or `GET {base}/models` (OpenAI, whose base
/// URL ends in `/v1`) with the real key. `None`: the provider has no key.
pub async fn models(gateway: &Gateway, provider: Provider) -> Option<ModelsAnswer> {
    let upstream = gateway.upstream(provider)?;
    let url = match provider {
        Provider::Anthropic => format!("{}/v1/models", upstream.url),
        Provider::OpenAi => format!("{}/models", upstream.url),
    };
    let key = upstream.key.expose_secret();
    let req = gateway.client.get(&url).timeout(Duration::from_secs(20));
    let req = match provider {
        Provider::Anthropic => req.header("x-api-key", key).header("anthropic-version", "2023-06-01"),
        Provider::OpenAi => req.bearer_auth(key),
    };
    Some(match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match status {
                200..=299 => ModelsAnswer::Ok { url },
                401 | 403 => ModelsAnswer::Refused { url, status },
                _ => ModelsAnswer::Unexpected { url, status },
            }
        }
        // Without the URL: it is shown beside the error already.
        Err(e) => ModelsAnswer::Unreachable { url, error: error_chain(&e.without_url()) },
    })
}

/// An error with its causes ("error sending request: … : connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
