//! How the job's latest model calls failed, as the gateway saw them. An
//! agent words an upstream failure its own way (or not at all: a status
//! missing, a time-out called "unknown"); the gateway stood between it and
//! the provider, so the pipeline names a failed run's cause from this record
//! when the agent's last calls failed. A call that succeeds clears it.

use std::time::Duration;

use super::Provider;

/// Why one model call failed on the provider's side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trouble {
    /// No answer (its headers) within `timeout`: the gateway answered 504.
    NoAnswer { timeout: Duration },
    /// The answer began, then nothing came for `timeout`: the gateway ended the stream.
    Stalled { timeout: Duration },
    /// The provider could not be reached (connection refused, DNS, TLS, …):
    /// the gateway answered 502.
    Unreachable { error: String },
    /// The provider answered with an error status, and its message when it sent one.
    Status { status: u16, message: Option<String> },
    /// The provider broke off its answer mid-stream.
    Cut,
}

/// The job's failing calls since its last successful one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failing {
    /// The latest failure.
    pub trouble: Trouble,
    /// Whose API it was (which URL setting to check).
    pub provider: Provider,
    /// Failed calls in a row, the latest included.
    pub calls: u32,
}

/// What the meter keeps per job; `None`: the latest call succeeded (or there was none).
#[derive(Debug, Default)]
pub(crate) struct Recent(Option<Failing>);

impl Recent {
    /// A model call ended: `None` when it succeeded.
    pub(crate) fn record(&mut self, provider: Provider, trouble: Option<Trouble>) {
        self.0 = trouble.map(|trouble| Failing {
            trouble,
            provider,
            calls: self.0.as_ref().map_or(0, |f| f.calls).saturating_add(1),
        });
    }

    pub(crate) fn failing(&self) -> Option<Failing> {
        self.0.clone()
    }
}

/// The provider's own message in an error body (Anthropic's and OpenAI's
/// shapes both carry `error.message`).
pub(crate) fn error_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let m = v.pointer("/error/message").and_then(serde_json::Value::as_str)?.trim();
    (!m.is_empty()).then(|| m.chars().take(300).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_until_a_call_succeeds() {
        let mut r = Recent::default();
        assert_eq!(r.failing(), None);
        let t = Duration::from_secs(2);
        r.record(Provider::OpenAi, Some(Trouble::NoAnswer { timeout: t }));
        r.record(Provider::OpenAi, Some(Trouble::Stalled { timeout: t }));
        let f = r.failing().unwrap();
        assert_eq!((f.trouble, f.provider, f.calls), (Trouble::Stalled { timeout: t }, Provider::OpenAi, 2));
        r.record(Provider::OpenAi, None);
        assert_eq!(r.failing(), None);
    }

    #[test]
    fn the_providers_message_is_read_from_either_shape() {
        let anthropic = br#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#;
        assert_eq!(error_message(anthropic).as_deref(), Some("Internal server error"));
        let openai = br#"{"error":{"message":"The server had an error","type":"server_error","code":null}}"#;
        assert_eq!(error_message(openai).as_deref(), Some("The server had an error"));
        assert_eq!(error_message(b"<html>502 Bad Gateway</html>"), None);
    }
}
