//! The first-run setup: `/setup` (create the App from the manifest, or import
//! one), `/setup/callback` (GitHub sends the browser back with a one-time
//! code, exchanged for the new App's credentials) and `/setup/import`. Both
//! ways end the same: the credentials are written to the data directory's
//! `.env` (mode 0600) and the App goes into the running service's
//! [`crate::server::live::AppSlot`], which starts the webhooks, the control
//! loop and the workers without a restart.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use secrecy::SecretString;

use super::WebState;
use super::render::message_page;
use super::setup_access::{COOKIE, Peer, Purpose};
use super::setup_page::{self, CreateForm, SetupView};
use crate::config::{AppCredentials, OAuthCredentials, env_file};
use crate::github::manifest;
use crate::report::text::setup as text;
use crate::server::live::LiveApp;

pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/setup", get(show))
        .route("/setup/callback", get(callback))
        .route("/setup/import", post(import))
}

fn page(status: StatusCode, message: &str) -> Response {
    (status, message_page(message)).into_response()
}

async fn show(
    State(state): State<WebState>,
    peer: Peer,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if state.app.live().is_some() {
        return Redirect::to("/").into_response();
    }
    if let Some(code) = q.get("code") {
        return match state.setup.redeem(code) {
            Some(sid) => {
                let secure = if state.app.settings.public_url.starts_with("https://") { "; Secure" } else { "" };
                let cookie = format!("{COOKIE}={sid}; Path=/setup; HttpOnly; SameSite=Lax; Max-Age=3600{secure}");
                ([(header::SET_COOKIE, cookie)], Redirect::to("/setup")).into_response()
            }
            None => page(StatusCode::FORBIDDEN, text::CODE_USED),
        };
    }
    if !state.setup.allowed(&peer, &headers) {
        return page(StatusCode::FORBIDDEN, text::FORBIDDEN);
    }
    let org = q.get("org").map(|o| o.trim().to_owned()).filter(|o| !o.is_empty());
    match org.as_deref() {
        Some(o) if !manifest::valid_org(o) => {
            render(&state, StatusCode::UNPROCESSABLE_ENTITY, None, Some(text::BAD_ORG))
        }
        _ => render(&state, StatusCode::OK, org, None),
    }
}

/// The setup page with fresh one-time values.
fn render(state: &WebState, status: StatusCode, org: Option<String>, error: Option<&str>) -> Response {
    let settings = &state.app.settings;
    let create = if crate::config::is_unreachable_from_github(&settings.public_url) {
        Err(text::unreachable_public_url(&settings.public_url))
    } else {
        match manifest::manifest(&settings.public_url) {
            Ok(m) => Ok(CreateForm {
                action: manifest::new_app_url(
                    &settings.web.github_url,
                    org.as_deref(),
                    &state.setup.issue(Purpose::Create),
                ),
                manifest: m.to_string(),
                org,
            }),
            Err(e) => Err(e.to_string()),
        }
    };
    let env_file = env_file::path(&settings.data_dir).display().to_string();
    let import_token = state.setup.issue(Purpose::Import);
    let view =
        SetupView { public_url: &settings.public_url, env_file: &env_file, create, import_token: &import_token, error };
    // The page holds one-time values: never from a cache, never twice.
    (status, [(header::CACHE_CONTROL, "no-store")], setup_page::setup(&view)).into_response()
}

/// GitHub's redirect after creating the App. Open to any browser: the
/// `state` (one-time, issued only to a setup page) is what binds it, as
/// GitHub sends the browser to `MAXION_PUBLIC_URL`, not to localhost.
async fn callback(State(state): State<WebState>, Query(q): Query<HashMap<String, String>>) -> Response {
    if state.app.live().is_some() {
        return page(StatusCode::CONFLICT, text::ALREADY);
    }
    let (Some(code), Some(returned)) = (q.get("code"), q.get("state")) else {
        return page(StatusCode::BAD_REQUEST, text::STALE);
    };
    if !state.setup.take(Purpose::Create, returned) {
        return page(StatusCode::BAD_REQUEST, text::STALE);
    }
    // The code works once: make sure the credentials can be kept before spending it.
    if let Err(e) = env_file::check_writable(&state.app.settings.data_dir) {
        return page(StatusCode::INTERNAL_SERVER_ERROR, &text::not_saved(&format!("{e:#}")));
    }
    let created = match manifest::convert(&state.app.settings.github_api_url, code).await {
        Ok(app) => app,
        Err(e) => {
            tracing::warn!(error = %e, "exchanging the App manifest code failed");
            return page(StatusCode::BAD_GATEWAY, &text::conversion_failed(&e.to_string()));
        }
    };
    let Some(webhook_secret) = created.webhook_secret else {
        return page(StatusCode::BAD_GATEWAY, text::no_webhook_secret());
    };
    let creds = AppCredentials { app_id: created.id, private_key: created.pem, webhook_secret };
    let oauth = OAuthCredentials { client_id: created.client_id, client_secret: created.client_secret };
    let live = match LiveApp::build(&state.app.settings, &creds, Some(&oauth)) {
        Ok(live) => live,
        Err(e) => return page(StatusCode::BAD_GATEWAY, &text::conversion_failed(&format!("{e:#}"))),
    };
    if let Err(response) = finish(&state, live, &creds, Some(&oauth), &created.slug).await {
        return response;
    }
    Redirect::to(&install_url(&created.html_url, &state.app.settings.web.github_url, &created.slug)).into_response()
}

/// `{html_url}/installations/new`, where the new App is installed; GitHub's
/// `/apps/{slug}/installations/new` if the answer's URL is not a web address.
fn install_url(html_url: &str, github_url: &str, slug: &str) -> String {
    match url::Url::parse(html_url) {
        Ok(u) if matches!(u.scheme(), "https" | "http") => {
            format!("{}/installations/new", html_url.trim_end_matches('/'))
        }
        _ => format!("{github_url}/apps/{slug}/installations/new"),
    }
}

#[derive(serde::Deserialize)]
struct Import {
    state: String,
    app_id: String,
    private_key: String,
    webhook_secret: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: String,
}

async fn import(State(state): State<WebState>, peer: Peer, headers: HeaderMap, Form(form): Form<Import>) -> Response {
    if state.app.live().is_some() {
        return page(StatusCode::CONFLICT, text::ALREADY);
    }
    if !state.setup.allowed(&peer, &headers) {
        return page(StatusCode::FORBIDDEN, text::FORBIDDEN);
    }
    if !state.setup.take(Purpose::Import, &form.state) {
        return page(StatusCode::FORBIDDEN, crate::report::text::web::BAD_FORM);
    }
    let refuse = |why: &str| render(&state, StatusCode::UNPROCESSABLE_ENTITY, None, Some(why));
    let (creds, oauth) = match parse_import(form) {
        Ok(parsed) => parsed,
        Err(why) => return refuse(why),
    };
    let live = match LiveApp::build(&state.app.settings, &creds, oauth.as_ref()) {
        Ok(live) => live,
        Err(e) => return refuse(&text::not_this_app(&format!("{e:#}"))),
    };
    let info = match live.github.app_info().await {
        Ok(info) if info.id == creds.app_id => info,
        Ok(info) => return refuse(&text::not_this_app(&format!("the key belongs to App {}", info.id))),
        Err(e) => return refuse(&text::not_this_app(&e.to_string())),
    };
    if let Err(response) = finish(&state, live, &creds, oauth.as_ref(), &info.slug).await {
        return response;
    }
    Redirect::to(&format!("{}/apps/{}/installations/new", state.app.settings.web.github_url, info.slug)).into_response()
}

/// The import form's values, checked, as secrets registered with the masker.
fn parse_import(form: Import) -> Result<(AppCredentials, Option<OAuthCredentials>), &'static str> {
    let app_id = form.app_id.trim().parse::<u64>().ok().filter(|id| *id > 0).ok_or(text::BAD_APP_ID)?;
    let pem = form.private_key.trim().replace("\r\n", "\n");
    if !crate::config::valid_private_key(&pem) {
        return Err(text::BAD_KEY);
    }
    let private_key = SecretString::from(pem);
    let _ = crate::masker::global().add(&private_key);
    manifest::register_pem_lines(&private_key);
    let secret = form.webhook_secret.trim();
    if secret.is_empty() || !env_file::storable(secret) {
        return Err(text::BAD_SECRET);
    }
    let webhook_secret = SecretString::from(secret.to_owned());
    let _ = crate::masker::global().add(&webhook_secret);
    let (client_id, client_secret) = (form.client_id.trim(), form.client_secret.trim());
    let oauth = match (client_id.is_empty(), client_secret.is_empty()) {
        (true, true) => None,
        (false, false) if env_file::storable(client_id) && env_file::storable(client_secret) => {
            let client_secret = SecretString::from(client_secret.to_owned());
            let _ = crate::masker::global().add(&client_secret);
            Some(OAuthCredentials { client_id: client_id.to_owned(), client_secret })
        }
        _ => return Err(text::BAD_CLIENT),
    };
    Ok((AppCredentials { app_id, private_key, webhook_secret }, oauth))
}

/// Writes the App to the data directory's `.env` and puts it into the
/// running service. The error is the page to answer with.
async fn finish(
    state: &WebState,
    live: LiveApp,
    creds: &AppCredentials,
    oauth: Option<&OAuthCredentials>,
    slug: &str,
) -> Result<(), Response> {
    let _one_at_a_time = state.setup.finishing.lock().await;
    if state.app.live().is_some() {
        return Err(page(StatusCode::CONFLICT, text::ALREADY));
    }
    let settings = &state.app.settings;
    let stored = env_file::AppEnv {
        app_id: creds.app_id,
        private_key: &creds.private_key,
        webhook_secret: &creds.webhook_secret,
        oauth: oauth.map(|o| (o.client_id.as_str(), &o.client_secret)),
    };
    let file = env_file::write_app(&settings.data_dir, &stored)
        .map_err(|e| page(StatusCode::INTERNAL_SERVER_ERROR, &text::not_saved(&format!("{e:#}"))))?;
    state.app.slot.install(live);
    tracing::info!("{}", text::configured_log(creds.app_id, slug, &file.display().to_string()));
    Ok(())
}
