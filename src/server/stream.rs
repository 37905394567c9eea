//! `GET /api/jobs/{id}/stream`: a job's event log as Server-Sent Events.
//!
//! Every event carries `id:` (the stored event's id), so a browser's
//! `EventSource` that reconnects sends `Last-Event-ID` and the stream goes on
//! after it: nothing is lost or repeated, because the store's event ids only
//! grow. `?after=N` does the same for a first connection (a page that already
//! rendered the log up to N). A comment line every 15 s keeps proxies from
//! closing an idle stream; `X-Accel-Buffering: no` keeps nginx from holding
//! events back. The stream ends once the job has ended and every event up to
//! its end was sent.
//!
//! The stream polls the store rather than listening to this process's
//! workers: the job may run on another instance sharing the database.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;

use super::api::{Authorized, job_id, store_error};
use super::{ApiError, AppState};
use crate::jobs::{JobEvent, JobId, Store, StoredEvent};

/// How often an idle stream looks for new events.
const POLL: Duration = Duration::from_millis(250);
/// Events read from the store at once.
const BATCH: u32 = 500;
/// Between heartbeat comments on an idle stream.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

pub(super) async fn stream(
    _: Authorized,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    let after = resume_point(&headers, &query)?;
    if state.store.get_job(id).await.map_err(store_error)?.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, crate::report::text::api::no_job(id)));
    }
    Ok(event_stream(state.store.clone(), id, after).into_response())
}

/// The SSE response for `job` from after event `after`, with the headers
/// every route serving it needs.
pub fn event_stream(store: Store, job: JobId, after: i64) -> Response {
    let sse = Sse::new(events(store, job, after)).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat"));
    let mut response = sse.into_response();
    let h = response.headers_mut();
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    response
}

/// `Last-Event-ID` (a reconnect) wins over `?after=` (the URL the page first opened).
pub fn resume_point(headers: &HeaderMap, query: &HashMap<String, String>) -> Result<i64, ApiError> {
    let raw = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| query.get("after").cloned());
    let Some(raw) = raw else { return Ok(0) };
    raw.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, crate::report::text::api::bad_event_id(&raw)))
}

struct Cursor {
    store: Store,
    job: JobId,
    after: i64,
    pending: VecDeque<StoredEvent>,
    done: bool,
}

fn events(store: Store, job: JobId, after: i64) -> impl Stream<Item = Result<Event, Infallible>> {
    let cursor = Cursor { store, job, after, pending: VecDeque::new(), done: false };
    futures_util::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(e) = c.pending.pop_front() {
                return Some((Ok(to_event(&e)), c));
            }
            if c.done {
                return None;
            }
            // The state before the events: an event written before the job
            // ended is then always read before the stream decides to end.
            let ended = match c.store.get_job(c.job).await {
                Ok(job) => job.is_none_or(|j| j.state.is_terminal()),
                Err(e) => {
                    // The client reconnects with Last-Event-ID and loses nothing.
                    tracing::warn!(job = %c.job, error = format!("{e:#}"), "job stream: reading the job failed");
                    return None;
                }
            };
            match c.store.job_events(c.job, c.after, BATCH).await {
                Ok(batch) if !batch.is_empty() => {
                    c.after = batch.last().map_or(c.after, |e| e.id);
                    c.pending.extend(batch);
                }
                Ok(_) if ended => c.done = true,
                Ok(_) => tokio::time::sleep(POLL).await,
                Err(e) => {
                    tracing::warn!(job = %c.job, error = format!("{e:#}"), "job stream: reading events failed");
                    return None;
                }
            }
        }
    })
}

fn to_event(e: &StoredEvent) -> Event {
    // Stored text was masked when written; masking again covers secrets
    // registered since (a token minted after the event was stored).
    let mut value = serde_json::to_value(e).unwrap_or_default();
    // The page's live script shows Maxion's own events with the same words
    // as the server-rendered log.
    if !matches!(e.event, JobEvent::Output { .. })
        && let Some(map) = value.as_object_mut()
    {
        map.insert("note".into(), crate::report::text::web::log_note(&e.event).into());
    }
    let data = value.to_string();
    Event::default().id(e.id.to_string()).data(crate::masker::global().mask(&data))
}
