//! The typed error every GitHub call returns, and the mapping from an HTTP
//! response (status, rate-limit headers, GitHub's JSON error body) to it.
//! Messages are masked: nothing a caller prints can carry a token.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, StatusCode};

/// What went wrong talking to GitHub. Callers branch on the variant.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GitHubError {
    /// 404 (or 410): the thing does not exist or the App cannot see it.
    #[error("GitHub: not found: {what}")]
    NotFound { what: String },
    /// Primary or secondary rate limit, still in force after the retry budget.
    #[error("GitHub: rate limited{}", fmt_after(.retry_after))]
    RateLimited { retry_after: Option<Duration> },
    /// 401 even with a freshly minted token or JWT.
    #[error("GitHub: unauthorized: {message}")]
    Unauthorized { message: String },
    /// 403 that is not a rate limit: the App lacks a permission.
    #[error("GitHub: forbidden: {message}")]
    Forbidden { message: String },
    /// 422: GitHub rejected the request body.
    #[error("GitHub: validation failed: {message}{}", fmt_errors(.errors))]
    Validation {
        message: String,
        errors: Vec<String>,
    },
    /// Any other non-success status (5xx included).
    #[error("GitHub: HTTP {status}: {message}")]
    Api { status: u16, message: String },
    /// The request did not complete. `not_sent` is true when it provably never
    /// reached GitHub (connection refused), so even a POST may be re-sent.
    #[error("GitHub: transport error: {message}")]
    Transport { message: String, not_sent: bool },
    /// GitHub answered 2xx with a body Maxion could not read.
    #[error("GitHub: unexpected response for {what}: {message}")]
    Decode { what: String, message: String },
    /// The App's private key or another local input is unusable.
    #[error("GitHub App configuration: {0}")]
    Config(String),
}

fn fmt_after(d: &Option<Duration>) -> String {
    match d {
        Some(d) => format!(" (retry after {} s)", d.as_secs()),
        None => String::new(),
    }
}

fn fmt_errors(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(" ({})", errors.join("; "))
    }
}

impl GitHubError {
    /// The HTTP status behind this error, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::NotFound { .. } => Some(404),
            GitHubError::Unauthorized { .. } => Some(401),
            GitHubError::Forbidden { .. } => Some(403),
            GitHubError::Validation { .. } => Some(422),
            GitHubError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for a 5xx or a transport failure after the request may have been
    /// sent: the write may or may not have taken effect.
    pub(crate) fn outcome_unknown(&self) -> bool {
        match self {
            GitHubError::Api { status, .. } => *status >= 500,
            GitHubError::Transport { not_sent, .. } => !not_sent,
            _ => false,
        }
    }
}

/// GitHub's JSON error body (`{"message": ..., "errors": [...]}`).
#[derive(serde::Deserialize, Default)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    errors: Vec<serde_json::Value>,
}

/// Maps a non-2xx response to an error; `what` names the call for 404s.
pub(crate) fn from_response(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    what: &str,
) -> GitHubError {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let message = crate::masker::global().mask(&parsed.message);
    match status.as_u16() {
        404 | 410 => GitHubError::NotFound {
            what: what.to_owned(),
        },
        401 => GitHubError::Unauthorized { message },
        403 | 429 => match rate_limit_wait(headers, &message) {
            Some(wait) => GitHubError::RateLimited { retry_after: wait },
            None if status.as_u16() == 429 => GitHubError::RateLimited { retry_after: None },
            None => GitHubError::Forbidden { message },
        },
        422 => GitHubError::Validation {
            message,
            errors: parsed
                .errors
                .iter()
                .map(|e| match e {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .map(|s| crate::masker::global().mask(&s))
                .collect(),
        },
        s => GitHubError::Api { status: s, message },
    }
}

/// For a 403/429: `Some(wait)` when the response is a rate limit. `Retry-After`
/// wins; then `x-ratelimit-remaining: 0` with `x-ratelimit-reset`; then GitHub's
/// "secondary rate limit" wording, where the docs say to wait at least a minute.
fn rate_limit_wait(headers: &HeaderMap, message: &str) -> Option<Option<Duration>> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(secs) = header("retry-after").and_then(|v| v.parse::<u64>().ok()) {
        return Some(Some(Duration::from_secs(secs)));
    }
    if header("x-ratelimit-remaining") == Some("0") {
        let reset = header("x-ratelimit-reset").and_then(|v| v.parse::<u64>().ok());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // One second of slack: the reset instant is rounded down to a second.
        return Some(reset.map(|r| Duration::from_secs(r.saturating_sub(now) + 1)));
    }
    if message.to_ascii_lowercase().contains("rate limit") {
        return Some(Some(Duration::from_secs(60)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn retry_after_on_403_is_rate_limit() {
        let e = from_response(
            StatusCode::FORBIDDEN,
            &headers(&[("retry-after", "7")]),
            b"{}",
            "x",
        );
        assert!(
            matches!(e, GitHubError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(7))
        );
    }

    #[test]
    fn exhausted_primary_limit_waits_until_reset() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let reset = (now + 30).to_string();
        let h = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ]);
        let e = from_response(
            StatusCode::FORBIDDEN,
            &h,
            b"{\"message\":\"API rate limit exceeded\"}",
            "x",
        );
        match e {
            GitHubError::RateLimited {
                retry_after: Some(d),
            } => {
                assert!(
                    d >= Duration::from_secs(29) && d <= Duration::from_secs(32),
                    "{d:?}"
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn plain_403_is_forbidden_and_422_lists_errors() {
        let e = from_response(
            StatusCode::FORBIDDEN,
            &HeaderMap::new(),
            b"{\"message\":\"Resource not accessible by integration\"}",
            "x",
        );
        assert!(matches!(e, GitHubError::Forbidden { .. }));
        let body = br#"{"message":"Validation Failed","errors":[{"resource":"Issue","code":"missing_field"},"bad"]}"#;
        let e = from_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            &HeaderMap::new(),
            body,
            "x",
        );
        match e {
            GitHubError::Validation { message, errors } => {
                assert_eq!(message, "Validation Failed");
                assert_eq!(errors.len(), 2);
                assert_eq!(errors[1], "bad");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_error_outcome_is_unknown() {
        let e = from_response(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"oops", "x");
        assert!(e.outcome_unknown());
        assert_eq!(e.status(), Some(502));
    }
}
