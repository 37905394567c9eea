//! Who is looking at a page. Until sign-in with GitHub exists, a viewer is
//! whoever holds the API token: as a bearer header (scripts, curl) or as the
//! session cookie the sign-in page gives for it. Anyone else is sent to
//! `/signin`.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::render;
use crate::report::text::web as text;
use crate::server::{AppState, session};

/// Proof that the request may see the pages.
pub struct Viewer;

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if session::has_session(state, &parts.headers) {
            return Ok(Viewer);
        }
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer.is_some_and(|t| session::is_api_token(state, t)) {
            return Ok(Viewer);
        }
        let here = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        Err(Redirect::to(&format!("/signin?next={}", encode(here))).into_response())
    }
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only paths on this site: an open redirect would let a link send a
/// freshly signed-in user anywhere.
fn safe_next(next: Option<&String>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.clone(),
        _ => "/".to_owned(),
    }
}

pub async fn sign_in_page(State(state): State<AppState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let note = state.settings.api_token.is_none().then_some(text::SIGN_IN_NO_TOKEN);
    render::sign_in(&safe_next(q.get("next")), note).into_response()
}

#[derive(serde::Deserialize)]
pub struct SignIn {
    token: String,
    next: Option<String>,
}

pub async fn sign_in(State(state): State<AppState>, Form(form): Form<SignIn>) -> Response {
    let next = safe_next(form.next.as_ref());
    match session::set_cookie(&state) {
        Some(cookie) if session::is_api_token(&state, &form.token) => {
            ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
        }
        _ => (StatusCode::UNAUTHORIZED, render::sign_in(&next, Some(text::SIGN_IN_WRONG))).into_response(),
    }
}

#[derive(serde::Deserialize)]
pub struct CsrfForm {
    pub csrf: String,
}

pub async fn sign_out(State(state): State<AppState>, Form(form): Form<CsrfForm>) -> Response {
    if !session::csrf_ok(&state, &form.csrf) {
        return (StatusCode::FORBIDDEN, render::message_page(text::BAD_FORM)).into_response();
    }
    ([(header::SET_COOKIE, session::clear_cookie(&state))], Redirect::to("/signin")).into_response()
}
