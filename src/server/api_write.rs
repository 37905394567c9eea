//! The JSON API's writes: create a job (for an issue, or for a free-text
//! task, which first opens an issue to anchor it), cancel, retry, delete.
//! Every route needs the API token. Cancel and retry are stored as control
//! requests and carried out by the control loop, exactly as the comment
//! commands are, so a running job on another instance is stopped too and the
//! status comment and check run say what happened.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::api::{Authorized, job_id, store_error};
use super::{ApiError, AppState};
use crate::github::{GitHubError, RepoClient};
use crate::jobs::{
    ControlAction, ControlRequest, Deleted, IssueNumber, Job, JobId, NewJob, RepoId, RepoRef, Submitted, TriggerKind,
};
use crate::report::text::api as text;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/jobs", post(create_job))
        .route("/api/jobs/{id}", axum::routing::delete(delete_job))
        .route("/api/jobs/{id}/cancel", post(cancel_job))
        .route("/api/jobs/{id}/retry", post(retry_job))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateJob {
    /// `owner/name`.
    repository: String,
    issue: Option<u64>,
    task: Option<String>,
    instructions: Option<String>,
    requested_by: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Act {
    requested_by: Option<String>,
}

#[derive(serde::Serialize)]
struct Accepted {
    job: JobId,
    url: String,
    repository: String,
    issue: IssueNumber,
}

/// A JSON body, with a JSON error (not axum's plain text) when it does not parse.
fn parse<T: serde::de::DeserializeOwned + Default>(body: &[u8], optional: bool) -> Result<T, ApiError> {
    if optional && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, text::bad_body(&e.to_string())))
}

async fn create_job(
    _: Authorized,
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let req: CreateJob = parse(&body, false)?;
    let app =
        state.github().ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, text::app_not_configured()))?;
    let requested_by = requested_by(req.requested_by.as_deref())?;
    let task = req.task.as_deref().map(str::trim);
    if req.issue.is_some() == task.is_some() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, text::issue_or_task()));
    }
    if task == Some("") {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, text::task_empty()));
    }
    let full_name = req.repository.trim();
    let installation = app.repo_installation_id(full_name).await.map_err(|e| match e.status() {
        Some(404) => ApiError::new(StatusCode::NOT_FOUND, text::not_installed(full_name)),
        _ => github_error(&e, "finding the App's installation"),
    })?;
    let repo = app
        .repo(installation, full_name)
        .map_err(|_| ApiError::new(StatusCode::NOT_FOUND, text::not_installed(full_name)))?;
    let info = repo.get_repository().await.map_err(|e| github_error(&e, "reading the repository"))?;
    let user = repo.get_user(&requested_by).await.map_err(|e| match e.status() {
        Some(404) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, text::no_such_user(&requested_by)),
        _ => github_error(&e, "looking up the user"),
    })?;
    let issue = match (req.issue, task) {
        (Some(number), _) => existing_issue(&repo, &info.full_name, number, &state.settings.command).await?,
        (None, Some(task)) => repo
            .create_issue(&text::task_issue_title(task), &text::task_issue_body(task, &user.login))
            .await
            .map_err(|e| github_error(&e, "opening the task's issue"))?,
        (None, None) => return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, text::issue_or_task())),
    };
    let new = NewJob {
        installation_id: installation,
        repo: RepoRef {
            id: RepoId(info.id),
            full_name: info.full_name.clone(),
            clone_url: info.clone_url.clone(),
            default_branch: info.default_branch.clone(),
        },
        issue_number: issue.number,
        issue_title: issue.title.clone(),
        trigger: TriggerKind::Api,
        trigger_comment_id: None,
        sender_login: user.login.clone(),
        sender_id: user.id as i64,
        instructions: req.instructions.map(|i| i.trim().to_owned()).filter(|i| !i.is_empty()),
        delivery_id: request_id(),
        follow_up: None,
    };
    match state.store.submit_api_job(&new).await.map_err(store_error)? {
        Submitted::Created(id) => {
            state.ledger.control_available.notify_waiters();
            let body = Accepted {
                job: id,
                url: state.settings.job_url(id),
                repository: new.repo.full_name,
                issue: new.issue_number,
            };
            Ok((StatusCode::CREATED, Json(body)).into_response())
        }
        Submitted::Active(id) => Err(ApiError::new(StatusCode::CONFLICT, text::already_active(id))),
    }
}

async fn existing_issue(
    repo: &RepoClient,
    full_name: &str,
    number: u64,
    command: &str,
) -> Result<crate::github::Issue, ApiError> {
    let issue = repo.get_issue(IssueNumber(number)).await.map_err(|e| match e.status() {
        Some(404 | 410) => ApiError::new(StatusCode::NOT_FOUND, text::no_such_issue(full_name, number)),
        _ => github_error(&e, "reading the issue"),
    })?;
    if issue.is_pull_request {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, text::is_pull_request(full_name, number, command)));
    }
    if issue.state != "open" {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, text::issue_closed(full_name, number)));
    }
    Ok(issue)
}

async fn cancel_job(
    _: Authorized,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let act: Act = parse(&body, true)?;
    // Without a login the cancellation is the operator's, and says so.
    let by = act.requested_by.as_deref().map(|l| requested_by(Some(l))).transpose()?.unwrap_or_default();
    let job = find(&state, &id).await?;
    if !job.state.is_active() {
        return Err(ApiError::new(StatusCode::CONFLICT, text::not_active(job.id, job.state)));
    }
    control(&state, &job, ControlAction::OperatorCancel { job: job.id }, &by).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"job": job.id, "cancelling": true}))).into_response())
}

async fn retry_job(
    _: Authorized,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let act: Act = parse(&body, true)?;
    let job = find(&state, &id).await?;
    // Without a login the retry is done for whoever the job was for.
    let by = match act.requested_by.as_deref() {
        Some(login) => requested_by(Some(login))?,
        None => job.spec.sender_login.clone(),
    };
    if job.state.is_active() {
        return Err(ApiError::new(StatusCode::CONFLICT, text::still_active(job.id, job.state)));
    }
    let active =
        state.store.active_job_for_issue(job.spec.repo.id, job.spec.issue_number).await.map_err(store_error)?;
    if let Some(active) = active {
        return Err(ApiError::new(StatusCode::CONFLICT, text::already_active(active.id)));
    }
    control(&state, &job, ControlAction::OperatorRetry { job: job.id }, &by).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({"job": job.id, "retrying": true}))).into_response())
}

async fn delete_job(
    _: Authorized,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    match state.store.delete_finished_job(id).await.map_err(store_error)? {
        Deleted::Deleted => Ok(StatusCode::NO_CONTENT.into_response()),
        Deleted::Missing => Err(ApiError::new(StatusCode::NOT_FOUND, text::no_job(id))),
        Deleted::Active => {
            let state_now = state.store.get_job(id).await.map_err(store_error)?.map(|j| j.state);
            let shown = state_now.unwrap_or(crate::jobs::JobState::Running);
            Err(ApiError::new(StatusCode::CONFLICT, text::still_active(id, shown)))
        }
    }
}

async fn find(state: &AppState, raw: &str) -> Result<Job, ApiError> {
    let id = job_id(raw)?;
    state
        .store
        .get_job(id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, text::no_job(id)))
}

/// Stores a control request on `job`'s issue and wakes the control loop
/// (also what the pages' Cancel and Retry buttons do).
pub async fn control(state: &AppState, job: &Job, action: ControlAction, by: &str) -> Result<(), ApiError> {
    let Some(app) = state.github() else {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, text::app_not_configured()));
    };
    // The id makes the `Co-authored-by` line of a retry's commit.
    let sender_id = if by.eq_ignore_ascii_case(&job.spec.sender_login) {
        job.spec.sender_id
    } else if by.is_empty() {
        0
    } else {
        let repo = app
            .repo(job.spec.installation_id, &job.spec.repo.full_name)
            .map_err(|e| github_error(&e, "reading the repository"))?;
        let user = repo.get_user(by).await.map_err(|e| match e.status() {
            Some(404) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, text::no_such_user(by)),
            _ => github_error(&e, "looking up the user"),
        })?;
        user.id as i64
    };
    let req = ControlRequest {
        action,
        installation_id: job.spec.installation_id,
        repo: job.spec.repo.clone(),
        issue_number: job.spec.issue_number,
        issue_title: job.spec.issue_title.clone(),
        comment_id: None,
        sender_login: by.to_owned(),
        sender_id,
    };
    state.store.submit_control_request(&request_id(), &req).await.map_err(store_error)?;
    state.ledger.control_available.notify_waiters();
    Ok(())
}

/// A GitHub login as GitHub spells them: letters, digits and single hyphens.
fn requested_by(raw: Option<&str>) -> Result<String, ApiError> {
    let login = raw.map(str::trim).unwrap_or_default();
    let valid = !login.is_empty()
        && login.len() <= 39
        && login.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !login.starts_with('-');
    if valid {
        Ok(login.to_owned())
    } else {
        Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, text::requested_by_missing()))
    }
}

/// An id for the records an API call writes (jobs and control requests carry
/// the id of what asked for them, as webhook deliveries do).
fn request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("api-{}-{}", chrono::Utc::now().timestamp_millis(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn github_error(error: &GitHubError, what: &str) -> ApiError {
    tracing::warn!(error = %error, "GitHub call failed in the API while {what}");
    ApiError::new(StatusCode::BAD_GATEWAY, text::github_failed(what))
}
