//! The job page's Cancel and Retry buttons: form POSTs with the CSRF token,
//! carried out by the control loop like the API's and the comment commands'.
//! A signed-in user acts as themself: the control loop checks their
//! permission as it does for `/maxion cancel`. Then back to the page.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::WebState;
use super::auth::{Access, CsrfForm, Viewer};
use super::render;
use crate::jobs::ControlAction;
use crate::report::text::web as text;
use crate::server::api_write::control;

pub async fn cancel(
    viewer: Viewer,
    State(state): State<WebState>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    act(viewer, state, &id, &form, true).await
}

pub async fn retry(
    viewer: Viewer,
    State(state): State<WebState>,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    act(viewer, state, &id, &form, false).await
}

async fn act(viewer: Viewer, state: WebState, raw_id: &str, form: &CsrfForm, cancel: bool) -> Response {
    if !viewer.csrf_ok(&state, &form.csrf) {
        return (StatusCode::FORBIDDEN, render::message_page(text::BAD_FORM)).into_response();
    }
    let Ok(id) = crate::server::api::job_id(raw_id) else { return super::not_found() };
    let job = match state.app.store.get_job(id).await {
        Ok(Some(job)) => job,
        Ok(None) => return super::not_found(),
        Err(e) => return crate::server::api::store_error(e).into_response(),
    };
    match viewer.access(&state, &job).await {
        Ok(Access::Act) => {}
        Ok(Access::Read) => return (StatusCode::FORBIDDEN, render::message_page(text::NOT_PERMITTED)).into_response(),
        Ok(Access::None) => return super::not_found(),
        Err(response) => return response,
    }
    // A stale page (the job ended, or a retry is already running) gets the
    // page again, which shows what is true now.
    let allowed = if cancel { job.state.is_active() } else { !job.state.is_active() };
    if allowed {
        let (action, by) = match (&viewer, cancel) {
            (Viewer::Operator, true) => (ControlAction::OperatorCancel { job: id }, String::new()),
            (Viewer::Operator, false) => (ControlAction::OperatorRetry { job: id }, job.spec.sender_login.clone()),
            (Viewer::User(u), true) => (ControlAction::CheckRunCancel { job: id }, u.login.clone()),
            (Viewer::User(u), false) => (ControlAction::CheckRunRetry { job: id }, u.login.clone()),
        };
        if let Err(e) = control(&state.app, &job, action, &by).await {
            return e.into_response();
        }
    }
    Redirect::to(&format!("/jobs/{id}")).into_response()
}
