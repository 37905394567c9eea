//! `/` and `/jobs`: the job list, newest first, filtered by repository and
//! state, paged; a signed-in user sees only repositories GitHub says they can
//! read. `/` is the setup page while no App is configured.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};

use super::WebState;
use super::auth::Viewer;
use super::render::{self, ListView};
use crate::jobs::JobState;

const PER_PAGE: u32 = 30;

pub async fn index(
    State(state): State<WebState>,
    viewer: Result<Viewer, Response>,
    query: Query<HashMap<String, String>>,
) -> Response {
    if state.app.live().is_none() {
        let file = crate::config::env_file::path(&state.app.settings.data_dir);
        return super::setup_page::welcome(&state.app.settings.missing, &file.display().to_string()).into_response();
    }
    match viewer {
        Ok(viewer) => jobs(viewer, State(state), query).await,
        Err(redirect) => redirect,
    }
}

pub async fn jobs(viewer: Viewer, State(state): State<WebState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let repo = q.get("repo").map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
    let job_state = q.get("state").and_then(|s| JobState::parse(s));
    let page = q.get("page").and_then(|p| p.parse::<u32>().ok()).filter(|p| *p >= 1).unwrap_or(1);
    let repos = match viewer.repos(&state).await {
        Ok(r) => r,
        Err(response) => return response,
    };
    let only: Option<Vec<i64>> = repos.map(|r| r.keys().map(|id| id.db()).collect());
    let listed = state.app.store.list_jobs_filtered(repo.as_deref(), job_state, only.as_deref(), page, PER_PAGE).await;
    match listed {
        Ok((jobs, total)) => {
            let view = ListView { jobs, total, page, per_page: PER_PAGE, repo, state: job_state };
            render::job_list(&view, &render::Chrome::of(&viewer, &state)).into_response()
        }
        Err(e) => crate::server::api::store_error(e).into_response(),
    }
}
