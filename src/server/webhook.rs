//! `POST /webhook`: verify the signature, route the event, record it, answer.
//!
//! Order matters: the signature is checked on the raw bytes before anything
//! parses them; a delivery that fails verification is never stored. After
//! that every delivery is recorded (even malformed or ignored ones), and the
//! answer is sent only once the record is committed. GitHub does not redeliver
//! failed deliveries, so everything Maxion merely declines is still a 2xx.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use hmac::Mac;

use super::{ApiError, AppState};
use crate::intake;
use crate::jobs::{DeliveryRecord, Effect};

/// GitHub's delivery ids are GUIDs; anything much longer is not GitHub.
const MAX_DELIVERY_ID: usize = 128;

pub(super) async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return ApiError::new(rejection.status(), rejection.body_text()).into_response(),
    };
    let delivery = header(&headers, "x-github-delivery").unwrap_or_default();
    let Some(mac) = state.live().map(|app| app.webhook_mac.clone()) else {
        let missing = state.settings.missing.join(", ");
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Maxion is not configured yet (missing: {missing})"),
        )
        .into_response();
    };
    if let Err(reason) = verify(mac, header(&headers, "x-hub-signature-256"), &body) {
        tracing::warn!(delivery = %delivery.chars().take(MAX_DELIVERY_ID).collect::<String>(), reason, "webhook rejected");
        return ApiError::new(StatusCode::UNAUTHORIZED, reason).into_response();
    }
    if delivery.is_empty() || delivery.len() > MAX_DELIVERY_ID {
        return ApiError::new(StatusCode::BAD_REQUEST, "missing or invalid X-GitHub-Delivery header").into_response();
    }
    let Some(event) = header(&headers, "x-github-event").filter(|e| !e.is_empty() && e.len() <= 64) else {
        return ApiError::new(StatusCode::BAD_REQUEST, "missing or invalid X-GitHub-Event header").into_response();
    };

    let (action, effect) = decide(&state, event, delivery, &body);
    let malformed = match &effect {
        Effect::Malformed(message) => Some(message.clone()),
        _ => None,
    };
    let record = DeliveryRecord { id: delivery.to_owned(), event: event.to_owned(), action, effect };
    match (state.ledger.record(record).await, malformed) {
        (Ok(recorded), _) if recorded.duplicate => {
            (StatusCode::OK, Json(serde_json::json!({ "duplicate": true, "outcome": recorded.outcome })))
                .into_response()
        }
        (Ok(_), Some(message)) => ApiError::new(StatusCode::BAD_REQUEST, message).into_response(),
        (Ok(recorded), None) => (StatusCode::OK, Json(recorded)).into_response(),
        (Err(error), _) => {
            tracing::error!(delivery, error = format!("{error:#}"), "could not record a delivery");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable; the delivery was not recorded")
                .into_response()
        }
    }
}

/// Reads the event into an [`Effect`] (a payload Maxion cannot read is
/// `Effect::Malformed`) and the delivery's action.
fn decide(state: &AppState, event: &str, delivery: &str, body: &[u8]) -> (Option<String>, Effect) {
    let action = match intake::peek_action(body) {
        Ok(action) => action,
        Err(e) => return (None, Effect::Malformed(e.to_string())),
    };
    let effect = intake::route(event, action.as_deref(), body, delivery, &state.inner.intake)
        .unwrap_or_else(|e| Effect::Malformed(e.to_string()));
    (action, effect)
}

/// Checks `X-Hub-Signature-256` against the HMAC-SHA256 of the raw body, in constant time.
fn verify(mut mac: hmac::Hmac<sha2::Sha256>, signature: Option<&str>, body: &[u8]) -> Result<(), &'static str> {
    let Some(signature) = signature else {
        return Err("missing X-Hub-Signature-256 header (sha1 signatures are not accepted)");
    };
    let Some(hex_digest) = signature.strip_prefix("sha256=") else {
        return Err("malformed X-Hub-Signature-256 header");
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return Err("malformed X-Hub-Signature-256 header");
    };
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| "signature does not match")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::verify;

    fn mac(secret: &str) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length")
    }

    #[test]
    fn github_documentation_vector() {
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify(mac("It's a Secret to Everybody"), Some(sig), b"Hello, World!").is_ok());
        assert!(verify(mac("It's a Secret to Everybody"), Some(sig), b"Hello, World?").is_err());
        assert!(verify(mac("another secret"), Some(sig), b"Hello, World!").is_err());
    }

    #[test]
    fn malformed_signatures_are_rejected() {
        for sig in [None, Some(""), Some("sha1=abc"), Some("sha256="), Some("sha256=zz"), Some("sha256=00")] {
            assert!(verify(mac("s"), sig, b"{}").is_err(), "{sig:?}");
        }
    }
}
