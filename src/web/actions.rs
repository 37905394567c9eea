//! The job page's Cancel and Retry buttons: form POSTs with the CSRF token,
//! carried out by the control loop like the API's (and the comment
//! commands'), then back to the page.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::auth::{CsrfForm, Viewer};
use super::render;
use crate::jobs::ControlAction;
use crate::report::text::web as text;
use crate::server::api_write::control;
use crate::server::{AppState, session};

pub async fn cancel(
    _: Viewer,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    act(state, &id, &form, true).await
}

pub async fn retry(
    _: Viewer,
    State(state): State<AppState>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    act(state, &id, &form, false).await
}

async fn act(state: AppState, raw_id: &str, form: &CsrfForm, cancel: bool) -> Response {
    if !session::csrf_ok(&state, &form.csrf) {
        return (StatusCode::FORBIDDEN, render::message_page(text::BAD_FORM)).into_response();
    }
    let Ok(id) = crate::server::api::job_id(raw_id) else { return super::not_found() };
    let job = match state.store.get_job(id).await {
        Ok(Some(job)) => job,
        Ok(None) => return super::not_found(),
        Err(e) => return crate::server::api::store_error(e).into_response(),
    };
    // A stale page (the job ended, or a retry is already running) gets the
    // page again, which shows what is true now.
    let allowed = if cancel { job.state.is_active() } else { !job.state.is_active() };
    if allowed {
        let (action, by) = if cancel {
            (ControlAction::OperatorCancel { job: id }, String::new())
        } else {
            (ControlAction::OperatorRetry { job: id }, job.spec.sender_login.clone())
        };
        if let Err(e) = control(&state, &job, action, &by).await {
            return e.into_response();
        }
    }
    Redirect::to(&format!("/jobs/{id}")).into_response()
}
