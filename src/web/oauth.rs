//! "Sign in with GitHub": the App's OAuth web flow. `/auth/github` sends the
//! browser to GitHub with a fresh `state` (kept here and in a short-lived
//! cookie, so the callback is bound to the browser that started it);
//! `/auth/github/callback` checks it, exchanges the code for a user-to-server
//! token, asks GitHub who the user is, and starts a session.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::WebState;
use super::auth::safe_next;
use super::render;
use super::users::{self, SESSION_TTL};
use crate::report::text::web as text;
use crate::server::session;

fn redirect_uri(state: &WebState) -> String {
    format!("{}/auth/github/callback", state.app.settings.public_url)
}

fn secure(state: &WebState) -> &'static str {
    if state.app.settings.public_url.starts_with("https://") { "; Secure" } else { "" }
}

pub async fn start(State(state): State<WebState>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(oauth) = state.oauth() else {
        return (StatusCode::NOT_FOUND, render::message_page(text::SIGN_IN_GITHUB_OFF)).into_response();
    };
    let oauth_state = state.users.begin(safe_next(q.get("next")));
    let cookie = format!(
        "{}={oauth_state}; Path=/auth/github; HttpOnly; SameSite=Lax; Max-Age=600{}",
        users::STATE_COOKIE,
        secure(&state)
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(&oauth.authorize_url(&redirect_uri(&state), &oauth_state)))
        .into_response()
}

pub async fn callback(
    State(state): State<WebState>,
    Query(q): Query<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let refuse = |message: &'static str| (StatusCode::BAD_REQUEST, render::message_page(message)).into_response();
    let Some(oauth) = state.oauth() else { return refuse(text::SIGN_IN_GITHUB_OFF) };
    // The user said no on GitHub's page.
    if q.contains_key("error") {
        return refuse(text::SIGN_IN_DENIED);
    }
    let (Some(code), Some(returned)) = (q.get("code"), q.get("state")) else { return refuse(text::SIGN_IN_STALE) };
    let bound = session::cookie(&headers, users::STATE_COOKIE).is_some_and(|c| &c == returned);
    let next = match state.users.finish(returned) {
        Some(next) if bound => next,
        _ => return refuse(text::SIGN_IN_STALE),
    };
    let token = match oauth.exchange(code, &redirect_uri(&state)).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "exchanging a sign-in code failed");
            return refuse(text::SIGN_IN_STALE);
        }
    };
    let user = match oauth.user(&token).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "reading the signed-in user failed");
            return (StatusCode::BAD_GATEWAY, render::message_page(text::GITHUB_UNAVAILABLE)).into_response();
        }
    };
    let value = state.users.start(user.login, user.id as i64, token);
    let session = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        users::COOKIE,
        SESSION_TTL.as_secs(),
        secure(&state)
    );
    let clear_state = format!("{}=; Path=/auth/github; HttpOnly; SameSite=Lax; Max-Age=0", users::STATE_COOKIE);
    let mut response = Redirect::to(&next).into_response();
    for cookie in [session, clear_state] {
        if let Ok(v) = header::HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}
