//! Who is looking at a page: a GitHub user signed in through the App's OAuth
//! flow (`oauth.rs`), who sees the jobs of repositories GitHub says they can
//! read; or the operator, who holds the API token (as a bearer header, or the
//! session cookie `/signin` gives for it) and sees everything. Anyone else is
//! sent to `/signin`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::WebState;
use super::render;
use super::users::{self, UserSession};
use crate::github::{RepoId, RepoPermission, UserRepo};
use crate::jobs::Job;
use crate::report::text::web as text;
use crate::server::session;

/// Proof that the request may see the pages, and as whom.
#[derive(Clone)]
pub enum Viewer {
    Operator,
    User(Arc<UserSession>),
}

impl FromRequestParts<WebState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Self::Rejection> {
        if let Some(user) = session::cookie(&parts.headers, users::COOKIE).and_then(|c| state.users.get(&c)) {
            return Ok(Viewer::User(user));
        }
        if session::has_session(&state.app, &parts.headers) {
            return Ok(Viewer::Operator);
        }
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer.is_some_and(|t| session::is_api_token(&state.app, t)) {
            return Ok(Viewer::Operator);
        }
        let here = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        Err(Redirect::to(&format!("/signin?next={}", encode(here))).into_response())
    }
}

/// What a viewer may do on one job's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Not even its existence is shown (404).
    None,
    Read,
    /// Read, and cancel or retry (the comment commands' rule).
    Act,
}

impl Viewer {
    /// The repositories the viewer can read; `None`: all (the operator).
    pub async fn repos(&self, state: &WebState) -> Result<Option<Arc<HashMap<RepoId, UserRepo>>>, Response> {
        let Viewer::User(user) = self else { return Ok(None) };
        let Some(oauth) = state.oauth() else { return Ok(Some(Arc::default())) };
        match user.repos(&oauth).await {
            Ok(repos) => Ok(Some(repos)),
            Err(e) => {
                tracing::warn!(user = %user.login, error = %e, "reading a user's repositories from GitHub failed");
                Err((StatusCode::BAD_GATEWAY, render::message_page(text::GITHUB_UNAVAILABLE)).into_response())
            }
        }
    }

    pub async fn access(&self, state: &WebState, job: &Job) -> Result<Access, Response> {
        let Some(repos) = self.repos(state).await? else { return Ok(Access::Act) };
        let required = state.app.settings.required_permission;
        Ok(match repos.get(&job.spec.repo.id) {
            None => Access::None,
            Some(r) if r.permission >= required => Access::Act,
            Some(r) if r.permission >= RepoPermission::Read => Access::Read,
            Some(_) => Access::None,
        })
    }

    /// The CSRF token this viewer's forms carry.
    pub fn csrf(&self, state: &WebState) -> Option<String> {
        match self {
            Viewer::Operator => session::csrf_token(&state.app),
            Viewer::User(user) => Some(state.users.csrf(user)),
        }
    }

    pub fn csrf_ok(&self, state: &WebState, presented: &str) -> bool {
        self.csrf(state).is_some_and(|t| t.len() == presented.len() && t == presented)
    }
}

pub(super) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only paths on this site: an open redirect would let a link send a
/// freshly signed-in user anywhere.
pub(super) fn safe_next(next: Option<&String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.clone(),
        _ => "/".to_owned(),
    }
}

pub async fn sign_in_page(State(state): State<WebState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let note = state.app.settings.api_token.is_none().then_some(text::SIGN_IN_NO_TOKEN);
    render::sign_in(&safe_next(q.get("next")), note, state.oauth().is_some()).into_response()
}

#[derive(serde::Deserialize)]
pub struct SignIn {
    token: String,
    next: Option<String>,
}

pub async fn sign_in(State(state): State<WebState>, Form(form): Form<SignIn>) -> Response {
    let next = safe_next(form.next.as_ref());
    match session::set_cookie(&state.app) {
        Some(cookie) if session::is_api_token(&state.app, &form.token) => {
            ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
        }
        _ => (StatusCode::UNAUTHORIZED, render::sign_in(&next, Some(text::SIGN_IN_WRONG), state.oauth().is_some()))
            .into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

pub async fn sign_out(viewer: Viewer, State(state): State<WebState>, Form(form): Form<CsrfForm>) -> Response {
    if !viewer.csrf_ok(&state, &form.csrf) {
        return (StatusCode::FORBIDDEN, render::message_page(text::BAD_FORM)).into_response();
    }
    if let Viewer::User(user) = &viewer {
        state.users.end(user);
    }
    let clear_user = format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0", users::COOKIE);
    let mut response = Redirect::to("/signin").into_response();
    let headers = response.headers_mut();
    for cookie in [session::clear_cookie(&state.app), clear_user] {
        if let Ok(v) = header::HeaderValue::from_str(&cookie) {
            headers.append(header::SET_COOKIE, v);
        }
    }
    response
}
