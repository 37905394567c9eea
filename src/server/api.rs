//! The JSON API (read side): jobs and their event logs. Every route requires
//! `Authorization: Bearer $MAXION_API_TOKEN` (or the pages' session cookie,
//! which only that token can obtain); with no token configured the API
//! answers 401 to everyone rather than being open.

use std::collections::HashMap;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::routing::get;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::jobs::{Job, JobId, StoredEvent};

const DEFAULT_PER_PAGE: u32 = 30;
const MAX_PER_PAGE: u32 = 100;
const MAX_EVENTS: u32 = 1000;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/jobs", get(list_jobs))
        .route("/api/jobs/{id}", get(get_job))
        .route("/api/jobs/{id}/events", get(job_events))
}

/// Proof that the request carried the API token. Handlers that take it are protected.
pub struct Authorized;

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "a valid bearer token is required");
        let Some(expected) = state.inner.api_token_digest else { return Err(unauthorized()) };
        let bearer = parts.headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        // The pages' session (a browser cannot send the bearer token) opens
        // the same reads, e.g. the live log's event stream. Never writes:
        // the pages' forms carry a CSRF token and have routes of their own.
        let read = parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD;
        if bearer.is_none() && read && super::session::has_session(state, &parts.headers) {
            return Ok(Authorized);
        }
        let presented = bearer.and_then(|v| v.strip_prefix("Bearer ")).ok_or_else(unauthorized)?;
        let digest: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        if bool::from(digest.ct_eq(&expected)) { Ok(Authorized) } else { Err(unauthorized()) }
    }
}

#[derive(serde::Serialize)]
struct JobList {
    jobs: Vec<Job>,
    page: u32,
    per_page: u32,
    total: i64,
}

async fn list_jobs(
    _: Authorized,
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<JobList>, ApiError> {
    let page = number(&query, "page", 1, 1..=u32::MAX)?;
    let per_page = number(&query, "per_page", DEFAULT_PER_PAGE, 1..=MAX_PER_PAGE)?;
    let jobs = state.store.list_jobs(page, per_page).await.map_err(store_error)?;
    let total = state.store.count_jobs().await.map_err(store_error)?;
    Ok(Json(JobList { jobs, page, per_page, total }))
}

/// One job with its brief; the list leaves briefs out (each is up to ~100 KB).
#[derive(serde::Serialize)]
struct JobDetail {
    #[serde(flatten)]
    job: Job,
    /// The Markdown brief the agent was given; `null` until it is assembled.
    brief: Option<String>,
}

async fn get_job(
    _: Authorized,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<JobDetail>, ApiError> {
    let id = job_id(&id)?;
    let Some(job) = state.store.get_job(id).await.map_err(store_error)? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")));
    };
    let brief = state.store.job_brief(id).await.map_err(store_error)?;
    Ok(Json(JobDetail { job, brief }))
}

#[derive(serde::Serialize)]
struct EventList {
    events: Vec<StoredEvent>,
    /// Pass as `after` to read on from here.
    next_after: i64,
}

async fn job_events(
    _: Authorized,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<EventList>, ApiError> {
    let id = job_id(&id)?;
    let after = number(&query, "after", 0i64, 0..=i64::MAX)?;
    let limit = number(&query, "limit", MAX_EVENTS, 1..=MAX_EVENTS)?;
    if state.store.get_job(id).await.map_err(store_error)?.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")));
    }
    let events = state.store.job_events(id, after, limit).await.map_err(store_error)?;
    let next_after = events.last().map_or(after, |e| e.id);
    Ok(Json(EventList { events, next_after }))
}

pub fn job_id(raw: &str) -> Result<JobId, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(JobId)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, format!("{raw:?} is not a job id")))
}

fn number<T>(
    query: &HashMap<String, String>,
    name: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ApiError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display,
{
    let Some(raw) = query.get(name) else { return Ok(default) };
    match raw.parse::<T>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{name} must be a number from {} to {}", range.start(), range.end()),
        )),
    }
}

pub fn store_error(error: anyhow::Error) -> ApiError {
    tracing::error!(error = format!("{error:#}"), "store error in the API");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the store is unavailable")
}
