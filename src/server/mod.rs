//! The HTTP face of Maxion: `POST /webhook`, `GET /healthz` and the JSON API.
//! Handlers are plain async functions over [`AppState`]; they only verify,
//! record and answer. All GitHub and sandbox work happens later, off the
//! request path.

pub mod api;
pub mod api_write;
pub mod live;
mod metrics;
pub mod session;
pub mod stream;
mod webhook;

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};

use crate::config::Settings;
use crate::github::GitHubApp;
use crate::intake::IntakeSettings;
use crate::jobs::{Ledger, Store};
use live::{AppSlot, LiveApp};

/// GitHub caps webhook payloads at 25 MB.
pub const MAX_WEBHOOK_BODY: usize = 25 * 1024 * 1024;

/// What every handler may use.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub ledger: Ledger,
    /// The App, once configured (at start-up or by the first-run setup).
    pub slot: AppSlot,
    inner: Arc<Derived>,
}

/// Values derived once from the settings so requests don't redo the work.
struct Derived {
    intake: IntakeSettings,
    /// SHA-256 of the API token: comparing digests in constant time also hides the token's length.
    api_token_digest: Option<[u8; 32]>,
}

impl AppState {
    pub fn new(settings: Settings, store: Store, ledger: Ledger, slot: AppSlot) -> AppState {
        let api_token_digest = settings.api_token.as_ref().map(|t| Sha256::digest(t.expose_secret().as_bytes()).into());
        let intake =
            IntakeSettings { trigger_label: settings.trigger_label.clone(), command: settings.command.clone() };
        AppState {
            settings: Arc::new(settings),
            store,
            ledger,
            slot,
            inner: Arc::new(Derived { intake, api_token_digest }),
        }
    }

    /// The App, if configured by now.
    pub fn live(&self) -> Option<Arc<LiveApp>> {
        self.slot.current()
    }

    /// The App's client (the API's writes call GitHub); `None` until configured.
    pub fn github(&self) -> Option<GitHubApp> {
        self.live().map(|app| app.github.clone())
    }
}

/// The whole router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/webhook", post(webhook::receive).layer(DefaultBodyLimit::max(MAX_WEBHOOK_BODY)))
        .merge(api::routes())
        .merge(api_write::routes())
        .route("/api/jobs/{id}/stream", get(stream::stream))
        .route("/metrics", get(metrics::metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .with_state(state)
}

async fn healthz(axum::extract::State(state): axum::extract::State<AppState>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "configured": state.live().is_some(),
    }))
}

/// A JSON error answer: `{"error": "…"}` with a status.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = crate::masker::global().mask(&self.message);
        (self.status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}
