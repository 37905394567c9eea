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
mod render;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::server::AppState;

pub use auth::Viewer;

/// The pages' routes (merged into the server's router by `service`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(list::index))
        .route("/jobs", get(list::jobs))
        .route("/jobs/{id}", get(job_page::show))
        .route("/jobs/{id}/log.txt", get(job_page::raw_log))
        .route("/jobs/{id}/cancel", post(actions::cancel))
        .route("/jobs/{id}/retry", post(actions::retry))
        .route("/signin", get(auth::sign_in_page).post(auth::sign_in))
        .route("/signout", post(auth::sign_out))
        .route("/assets/job.js", get(script))
        .route("/assets/style.css", get(style))
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
