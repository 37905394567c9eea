//! `/` and `/jobs`: the job list, newest first, filtered by repository and
//! state, paged. `/` is the setup page while no App is configured.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

use super::auth::Viewer;
use super::render::{self, ListView};
use crate::jobs::JobState;
use crate::server::AppState;

const PER_PAGE: u32 = 30;

pub async fn index(
    State(state): State<AppState>,
    viewer: Result<Viewer, Response>,
    query: Query<HashMap<String, String>>,
) -> Response {
    if state.settings.app.is_none() {
        return render::setup(&state.settings.missing).into_response();
    }
    match viewer {
        Ok(viewer) => jobs(viewer, State(state), query).await,
        Err(redirect) => redirect,
    }
}

pub async fn jobs(_: Viewer, State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let repo = q.get("repo").map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let job_state = q.get("state").and_then(|s| JobState::parse(s));
    let page = q.get("page").and_then(|p| p.parse::<u32>().ok()).filter(|p| *p >= 1).unwrap_or(1);
    match state.store.list_jobs_filtered(repo.as_deref(), job_state, page, PER_PAGE).await {
        Ok((jobs, total)) => {
            let view = ListView { jobs, total, page, per_page: PER_PAGE, repo, state: job_state };
            render::job_list(&view, crate::server::session::csrf_token(&state).as_deref()).into_response()
        }
        Err(e) => crate::server::api::store_error(e).into_response(),
    }
}
