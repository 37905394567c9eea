//! GitHub's App manifest flow, as the fake's one App: the browser posts the
//! manifest form to `/settings/apps/new` or `/organizations/{org}/settings/
//! apps/new` (`?state=` in the action, the `manifest` JSON in the body); the
//! "user" creates the App at once and the browser is sent to the manifest's
//! `redirect_url` with a code and the state. `POST /app-manifests/{code}/
//! conversions` (unauthenticated; the code works once, within an hour) then
//! answers the App with its key, a fresh webhook secret and OAuth client.
//! The App created is the fake's App (its id and key), now with the
//! manifest's webhook URL and callback URL. Anything GitHub would refuse is
//! answered as GitHub does and recorded as a violation.

use std::collections::HashMap;

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::FakeGitHub;
use super::model::{APP_CLIENT_ID, APP_ID, APP_SLUG, State};
use super::oauth::{encode, parse_pairs as pairs, record_web};
use super::server::{Ctx, Reply, Shared};
use super::spec::spec;

#[derive(Default)]
pub struct ManifestState {
    codes: HashMap<String, (Value, DateTime<Utc>)>,
    next: u64,
    /// The manifests GitHub created an App from, oldest first.
    pub created: Vec<Value>,
    /// The webhook secret of the last conversion.
    pub webhook_secret: Option<String>,
}

impl FakeGitHub {
    /// The manifests the "user" created an App from.
    pub fn created_manifests(&self) -> Vec<Value> {
        self.lock().manifest.created.clone()
    }
    /// The webhook secret GitHub generated for the App (after a conversion).
    pub fn app_webhook_secret(&self) -> Option<String> {
        self.lock().manifest.webhook_secret.clone()
    }
    /// A code issued for `manifest` without the browser round trip.
    pub fn issue_manifest_code(&self, manifest: Value) -> String {
        issue(&mut self.lock(), manifest)
    }
}

pub fn is_manifest_path(path: &str) -> bool {
    path == "/settings/apps/new"
        || path
            .strip_prefix("/organizations/")
            .and_then(|r| r.strip_suffix("/settings/apps/new"))
            .is_some_and(|org| !org.is_empty() && org.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

fn issue(s: &mut State, manifest: Value) -> String {
    s.manifest.next += 1;
    let code = format!("{:020x}", s.token_seed.wrapping_add(s.manifest.next).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    s.manifest.codes.insert(code.clone(), (manifest, s.now()));
    code
}

/// The browser's form post (the user then clicks "Create GitHub App").
pub fn serve(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    let mut s = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = uri.path().to_owned();
    let query = pairs(uri.query().unwrap_or_default());
    record_web(&mut s, method, &path, &query);
    let (status, response) = create(&mut s, method, &query, headers, body);
    if let Some(last) = s.requests.last_mut() {
        last.status = status;
    }
    response
}

fn create(
    s: &mut State,
    method: &Method,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> (u16, Response) {
    let bad = |s: &mut State, why: String| {
        s.violation(format!("App manifest form: {why}"));
        (422, (StatusCode::UNPROCESSABLE_ENTITY, why).into_response())
    };
    if method != Method::POST {
        return bad(s, format!("{method}: the manifest is posted as a form"));
    }
    let form_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !form_type.starts_with("application/x-www-form-urlencoded") {
        return bad(s, format!("content type {form_type:?}, not a form"));
    }
    let form = pairs(&String::from_utf8_lossy(body));
    let Some(manifest) = form.get("manifest") else { return bad(s, "no `manifest` field".into()) };
    let manifest: Value = match serde_json::from_str(manifest) {
        Ok(m) => m,
        Err(e) => return bad(s, format!("`manifest` is not JSON: {e}")),
    };
    if let Err(why) = check(&manifest) {
        return bad(s, why);
    }
    let Some(redirect) = manifest["redirect_url"].as_str().map(str::to_owned) else {
        return bad(s, "no redirect_url: GitHub would show the code on its own page".into());
    };
    let code = issue(s, manifest);
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let state = query.get("state").map(|st| format!("&state={}", encode(st))).unwrap_or_default();
    let to = format!("{redirect}{sep}code={code}{state}");
    (302, (StatusCode::FOUND, [("location", to)]).into_response())
}

/// The manifest's parameters as GitHub documents them.
fn check(m: &Value) -> Result<(), String> {
    const KNOWN: &[&str] = &[
        "name",
        "url",
        "hook_attributes",
        "redirect_url",
        "callback_urls",
        "setup_url",
        "description",
        "public",
        "default_events",
        "default_permissions",
        "request_oauth_on_install",
        "setup_on_update",
    ];
    let Some(obj) = m.as_object() else { return Err("the manifest is not an object".into()) };
    if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(format!("unknown manifest parameter {k:?}"));
    }
    let url = |v: &Value, what: &str| match v.as_str().map(url::Url::parse) {
        Some(Ok(u)) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(format!("{what} is not an http(s) URL: {v}")),
    };
    url(&m["url"], "url")?;
    for key in ["redirect_url", "setup_url"] {
        if !m[key].is_null() {
            url(&m[key], key)?;
        }
    }
    if let Some(hook) = m.get("hook_attributes") {
        url(&hook["url"], "hook_attributes.url")?;
        if !hook["active"].is_null() && !hook["active"].is_boolean() {
            return Err("hook_attributes.active is not a boolean".into());
        }
    }
    let callbacks = m["callback_urls"].as_array().cloned().unwrap_or_default();
    if callbacks.len() > 10 {
        return Err("more than 10 callback_urls".into());
    }
    for c in &callbacks {
        url(c, "a callback URL")?;
    }
    for key in ["public", "request_oauth_on_install", "setup_on_update"] {
        if !m[key].is_null() && !m[key].is_boolean() {
            return Err(format!("{key} is not a boolean"));
        }
    }
    let perms = m["default_permissions"].as_object().into_iter().flatten();
    if let Some((k, v)) = perms.into_iter().find(|(_, v)| !matches!(v.as_str(), Some("read" | "write" | "admin"))) {
        return Err(format!("default_permissions.{k} is {v}, not read, write or admin"));
    }
    if m.get("default_events").is_some_and(|e| !e.is_array()) {
        return Err("default_events is not a list".into());
    }
    Ok(())
}

/// `POST /app-manifests/{code}/conversions` (anonymous; authenticated by the code).
pub fn convert(ctx: &mut Ctx) -> Reply {
    let code = ctx.param("code").to_owned();
    let Some((manifest, at)) = ctx.state.manifest.codes.remove(&code) else { return ctx.not_found() };
    if ctx.state.now() - at > Duration::hours(1) {
        return ctx.not_found();
    }
    let secret = format!("{:032x}", rand::random::<u128>());
    ctx.state.manifest.webhook_secret = Some(secret.clone());
    ctx.state.hooks.secret = secret.clone();
    ctx.state.oauth.hook_url = manifest["hook_attributes"]["url"].as_str().map(str::to_owned);
    if let Some(callback) = manifest["callback_urls"][0].as_str() {
        ctx.state.oauth.set_callback(callback);
    }
    let mut body = spec().example("integration-from-manifest");
    body["id"] = json!(APP_ID);
    body["slug"] = json!(APP_SLUG);
    body["client_id"] = json!(APP_CLIENT_ID);
    body["client_secret"] = json!(super::oauth::CLIENT_SECRET);
    body["pem"] = json!(super::auth::PRIVATE_KEY_PEM);
    body["webhook_secret"] = json!(secret);
    body["html_url"] = json!(format!("{}/apps/{APP_SLUG}", ctx.state.base_url));
    body["name"] = manifest["name"].clone();
    body["external_url"] = manifest["url"].clone();
    body["events"] = manifest["default_events"].clone();
    body["permissions"] = manifest["default_permissions"].clone();
    ctx.state.manifest.created.push(manifest);
    Reply::created(body)
}
