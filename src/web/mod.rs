//! The web pages, rendered on the server with maud (no JavaScript build, no
//! CDN): `/` (the job list, or the setup page while no App is configured),
//! `/jobs`, `/jobs/{id}` with its live log, `/jobs/{id}/log.txt`, and the
//! sign-in page. One small script of its own (`assets/job.js`) follows the
//! job's event stream and filters the log.
//!
//! Who may look: until sign-in with GitHub exists, whoever holds the API
//! token (`server::session`). Everything shown comes from the store, whose
//! text was masked when written, and is masked again on the way out.

mod actions;
pub mod ansi;
mod auth;
mod job_page;
mod list;
pub mod log;
mod oauth;
mod render;
mod setup;
mod setup_access;
mod setup_page;
mod users;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::server::AppState;

pub use auth::Viewer;

/// What the pages' handlers share: the server's state, signed-in users and
/// the first-run setup's one-time values.
#[derive(Clone)]
pub struct WebState {
    pub app: AppState,
    pub users: Arc<users::Users>,
    pub setup: Arc<setup_access::Setup>,
}

impl WebState {
    /// The App's OAuth client, when the App is configured with one (sign-in with GitHub).
    pub fn oauth(&self) -> Option<crate::github::OAuthClient> {
        self.app.live().and_then(|app| app.oauth.clone())
    }
}

impl FromRef<WebState> for AppState {
    fn from_ref(state: &WebState) -> AppState {
        state.app.clone()
    }
}

/// The pages' routes (merged into the server's router by `service`).
pub fn routes(app: AppState) -> Router {
    let setup = setup_access::Setup::new(app.live().is_some());
    if let Some(code) = setup.code() {
        tracing::warn!("{}", crate::report::text::setup::code_log(&app.settings.public_url, &code));
    }
    let state = WebState { setup: Arc::new(setup), app, users: Arc::new(users::Users::new()) };
    Router::new()
        .merge(setup::routes())
        .route("/", get(list::index))
        .route("/jobs", get(list::jobs))
        .route("/jobs/{id}", get(job_page::show))
        .route("/jobs/{id}/log.txt", get(job_page::raw_log))
        .route("/jobs/{id}/stream", get(job_page::stream))
        .route("/auth/github", get(oauth::start))
        .route("/auth/github/callback", get(oauth::callback))
        .route("/jobs/{id}/cancel", post(actions::cancel))
        .route("/jobs/{id}/retry", post(actions::retry))
        .route("/signin", get(auth::sign_in_page).post(auth::sign_in))
        .route("/signout", post(auth::sign_out))
        .route("/assets/job.js", get(script))
        .route("/assets/style.css", get(style))
        .with_state(state)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("assets/job.js"))
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/style.css"))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=300")], body).into_response()
}

/// The pages' 404: the same for a job that does not exist and one the
/// viewer may not see.
pub(crate) fn not_found() -> Response {
    let page = render::message_page(crate::report::text::web::NOT_FOUND);
    (StatusCode::NOT_FOUND, page).into_response()
}
