//! `/jobs/{id}` and `/jobs/{id}/log.txt`.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::auth::Viewer;
use super::render::{self, JobView};
use crate::jobs::{JobId, StoredEvent};
use crate::server::AppState;

/// Events a page renders at most; past that it says so and links the raw log.
const PAGE_EVENTS: u32 = 20_000;

pub async fn show(_: Viewer, State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = crate::server::api::job_id(&id) else { return super::not_found() };
    let loaded = async {
        let Some(job) = state.store.get_job(id).await? else { return Ok(None) };
        let brief = state.store.job_brief(id).await?;
        let events = state.store.job_events(id, 0, PAGE_EVENTS).await?;
        anyhow::Ok(Some((job, brief, events)))
    };
    match loaded.await {
        Ok(Some((job, brief, events))) => {
            let truncated = events.len() as u32 >= PAGE_EVENTS;
            let view = JobView {
                job,
                brief,
                events,
                truncated,
                web_url: web_url(&state.settings.github_api_url),
                csrf: crate::server::session::csrf_token(&state),
            };
            render::job_page(&view).into_response()
        }
        Ok(None) => super::not_found(),
        Err(e) => crate::server::api::store_error(e).into_response(),
    }
}

pub async fn raw_log(_: Viewer, State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = crate::server::api::job_id(&id) else { return super::not_found() };
    match all_events(&state, id).await {
        Ok(Some(events)) => {
            let text = crate::masker::global().mask(&super::log::raw(&events));
            let disposition = format!("inline; filename=\"maxion-job-{id}.log\"");
            (
                [
                    (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                text,
            )
                .into_response()
        }
        Ok(None) => super::not_found(),
        Err(e) => crate::server::api::store_error(e).into_response(),
    }
}

/// Every event of a job (the raw log has no page limit), or `None` when there is no such job.
async fn all_events(state: &AppState, id: JobId) -> anyhow::Result<Option<Vec<StoredEvent>>> {
    if state.store.get_job(id).await?.is_none() {
        return Ok(None);
    }
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let batch = state.store.job_events(id, after, 5_000).await?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        all.extend(batch);
    }
    Ok(Some(all))
}

/// GitHub's web address for an API base URL: `https://api.github.com` →
/// `https://github.com`; a GitHub Enterprise Server's `https://HOST/api/v3`
/// → `https://HOST`.
pub fn web_url(api_url: &str) -> String {
    if let Some(rest) = api_url.strip_prefix("https://api.") {
        return format!("https://{rest}");
    }
    api_url.strip_suffix("/api/v3").unwrap_or(api_url).to_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn web_urls() {
        assert_eq!(super::web_url("https://api.github.com"), "https://github.com");
        assert_eq!(super::web_url("https://ghe.example/api/v3"), "https://ghe.example");
    }
}
