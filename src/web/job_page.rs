//! `/jobs/{id}`, `/jobs/{id}/log.txt` and `/jobs/{id}/stream` (the page's
//! live log). A job the viewer may not read answers 404, exactly as one that
//! does not exist: its existence is not revealed.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};

use super::WebState;
use super::auth::{Access, Viewer};
use super::render::{self, Chrome, JobView};
use crate::jobs::{Job, JobId, StoredEvent};

/// Events a page renders at most; past that it says so and links the raw log.
const PAGE_EVENTS: u32 = 20_000;

/// The job, if it exists and the viewer may read it; else the 404 page.
async fn readable(viewer: &Viewer, state: &WebState, raw_id: &str) -> Result<(Job, Access), Response> {
    let Ok(id) = crate::server::api::job_id(raw_id) else { return Err(super::not_found()) };
    let job = match state.app.store.get_job(id).await {
        Ok(Some(job)) => job,
        Ok(None) => return Err(super::not_found()),
        Err(e) => return Err(crate::server::api::store_error(e).into_response()),
    };
    match viewer.access(state, &job).await? {
        Access::None => Err(super::not_found()),
        access => Ok((job, access)),
    }
}

pub async fn show(viewer: Viewer, State(state): State<WebState>, Path(id): Path<String>) -> Response {
    let (job, access) = match readable(&viewer, &state, &id).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let loaded = async {
        let brief = state.app.store.job_brief(job.id).await?;
        let events = state.app.store.job_events(job.id, 0, PAGE_EVENTS).await?;
        anyhow::Ok((brief, events))
    };
    match loaded.await {
        Ok((brief, events)) => {
            let truncated = events.len() as u32 >= PAGE_EVENTS;
            let view = JobView {
                job,
                brief,
                events,
                truncated,
                web_url: state.app.settings.web.github_url.clone(),
                can_act: access == Access::Act,
            };
            render::job_page(&view, &Chrome::of(&viewer, &state)).into_response()
        }
        Err(e) => crate::server::api::store_error(e).into_response(),
    }
}

pub async fn raw_log(viewer: Viewer, State(state): State<WebState>, Path(id): Path<String>) -> Response {
    let job = match readable(&viewer, &state, &id).await {
        Ok((job, _)) => job,
        Err(response) => return response,
    };
    match all_events(&state, job.id).await {
        Ok(events) => {
            let text = crate::masker::global().mask(&super::log::raw(&events));
            let disposition = format!("inline; filename=\"maxion-job-{}.log\"", job.id);
            let headers = [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ];
            (headers, text).into_response()
        }
        Err(e) => crate::server::api::store_error(e).into_response(),
    }
}

/// The job's events as SSE, for its page (`server::stream` does the work;
/// this route checks that the viewer may read the job).
pub async fn stream(
    viewer: Viewer,
    State(state): State<WebState>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let job = match readable(&viewer, &state, &id).await {
        Ok((job, _)) => job,
        Err(response) => return response,
    };
    match crate::server::stream::resume_point(&headers, &q) {
        Ok(after) => crate::server::stream::event_stream(state.app.store.clone(), job.id, after),
        Err(e) => e.into_response(),
    }
}

/// Every event of a job (the raw log has no page limit).
async fn all_events(state: &WebState, id: JobId) -> anyhow::Result<Vec<StoredEvent>> {
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let batch = state.app.store.job_events(id, after, 5_000).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        all.extend(batch);
    }
    Ok(all)
}
