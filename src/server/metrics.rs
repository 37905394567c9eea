//! `GET /metrics`: the Prometheus exposition (`crate::metrics`), with the
//! store's totals read at scrape time. Needs the API token unless
//! `MAXION_METRICS_PUBLIC=true`.

use axum::extract::{FromRequestParts, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use super::api::{Authorized, store_error};
use super::{ApiError, AppState};
use crate::metrics::StoreFigures;

pub(super) async fn metrics(State(state): State<AppState>, mut parts: Parts) -> Result<Response, ApiError> {
    if !state.settings.web.metrics_public {
        Authorized::from_request_parts(&mut parts, &state).await?;
    }
    let snapshot = state.store.metrics_snapshot().await.map_err(store_error)?;
    let queued =
        snapshot.jobs_by_state.iter().find(|(s, _)| *s == crate::jobs::JobState::Queued).map_or(0, |(_, n)| *n);
    let figures = StoreFigures {
        jobs_by_state: crate::jobs::JobState::ALL
            .iter()
            .map(|s| (s.as_str(), snapshot.jobs_by_state.iter().find(|(t, _)| t == s).map_or(0, |(_, n)| *n)))
            .collect(),
        queued,
        oldest_queued_wait: snapshot.oldest_queued_wait,
        deliveries: snapshot.deliveries,
    };
    let text = crate::metrics::render(figures).map_err(|e| store_error(anyhow::anyhow!("encoding metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text).into_response())
}
