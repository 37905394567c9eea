//! The App's OAuth web flow and the calls a user-to-server token makes, as
//! GitHub does them: `GET /login/oauth/authorize` (here the "browser user"
//! a test chose approves at once, or denies), `POST /login/oauth/access_token`
//! (client credentials, a single-use code valid ten minutes, the same
//! `redirect_uri`; errors as 200 with an `error` field, as GitHub answers
//! `Accept: application/json`), and `GET /user`, `GET /user/installations`,
//! `GET /user/installations/{id}/repositories` with the user's token.
//! Anything GitHub would refuse is also recorded as a violation.

use std::collections::HashMap;

use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::FakeGitHub;
use super::model::{APP_CLIENT_ID, AuthKind, RecordedRequest, State};
use super::server::Shared;
use super::spec::{query_decode, spec};

pub const CLIENT_SECRET: &str = "fake-oauth-client-secret-0123456789abcdef";

#[derive(Default)]
pub struct OAuthState {
    /// Who is signed in to github.com in the test's browser.
    browser_user: Option<String>,
    deny: bool,
    /// The App's registered callback URL; `redirect_uri` must match it.
    callback: Option<String>,
    codes: HashMap<String, (String, String, DateTime<Utc>)>,
    tokens: HashMap<String, String>,
    next: u64,
    /// The App's webhook URL (`GET /app/hook/config`; see `api_web.rs`).
    pub hook_url: Option<String>,
}

impl FakeGitHub {
    /// The user signed in to GitHub in the browser that will authorize the App.
    pub fn set_browser_user(&self, login: &str) {
        let mut s = self.lock();
        s.user(login);
        s.oauth.browser_user = Some(login.to_owned());
    }
    /// The user clicks "Cancel" on GitHub's authorization page.
    pub fn set_oauth_denied(&self, deny: bool) {
        self.lock().oauth.deny = deny;
    }
    /// The App's callback URL, as registered on GitHub.
    pub fn set_oauth_callback(&self, url: &str) {
        self.lock().oauth.callback = Some(url.to_owned());
    }
    pub fn oauth_client_secret(&self) -> &'static str {
        CLIENT_SECRET
    }
}

impl OAuthState {
    /// The callback URL registered with the App (by a manifest).
    pub fn set_callback(&mut self, url: &str) {
        self.callback = Some(url.to_owned());
    }
}

pub fn is_oauth_path(path: &str) -> bool {
    path.starts_with("/login/oauth/") || path == "/user" || path.starts_with("/user/")
}

pub fn parse_pairs(raw: &str) -> HashMap<String, String> {
    raw.split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (query_decode(k), query_decode(v))
        })
        .collect()
}

/// Records a request to GitHub's web host (not the API): method, path and query.
pub fn record_web(s: &mut State, method: &Method, path: &str, query: &HashMap<String, String>) {
    s.requests.push(RecordedRequest {
        method: method.to_string(),
        path: path.to_owned(),
        query: query.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        body: Value::Null,
        auth: AuthKind::None,
        operation: Some(path.to_owned()),
        status: 0,
        at: Utc::now(),
    });
}

pub fn serve(shared: &Shared, method: &Method, uri: &axum::http::Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    let mut s = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = uri.path().to_owned();
    let query = parse_pairs(uri.query().unwrap_or_default());
    record_web(&mut s, method, &path, &query);
    let (status, response) = match (method.as_str(), path.as_str()) {
        ("GET", "/login/oauth/authorize") => authorize(&mut s, &query),
        ("POST", "/login/oauth/access_token") => access_token(&mut s, headers, body),
        ("GET", p) => api(&mut s, p, &query, headers),
        _ => {
            s.violation(format!("{method} {path}: not a route of GitHub's OAuth flow"));
            (404, json!({"message": "Not Found"}).to_string().into_response())
        }
    };
    if let Some(last) = s.requests.last_mut() {
        last.status = status;
    }
    response
}

fn authorize(s: &mut State, q: &HashMap<String, String>) -> (u16, Response) {
    let bad = |s: &mut State, why: &str| {
        s.violation(format!("GET /login/oauth/authorize: {why}"));
        (400, (StatusCode::BAD_REQUEST, why.to_owned()).into_response())
    };
    if q.get("client_id").map(String::as_str) != Some(APP_CLIENT_ID) {
        return bad(s, "unknown client_id");
    }
    let Some(redirect) = q.get("redirect_uri").cloned() else { return bad(s, "no redirect_uri") };
    if s.oauth.callback.as_ref().is_some_and(|c| *c != redirect) {
        return bad(s, "The redirect_uri is not associated with this application");
    }
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let state = q.get("state").map(|st| format!("&state={}", encode(st))).unwrap_or_default();
    if s.oauth.deny {
        let to = format!("{redirect}{sep}error=access_denied&error_description=denied{state}");
        return (302, (StatusCode::FOUND, [("location", to)]).into_response());
    }
    let Some(login) = s.oauth.browser_user.clone() else { return bad(s, "no user is signed in to the fake") };
    s.oauth.next += 1;
    let code = format!("fakecode{:012}", s.oauth.next);
    s.oauth.codes.insert(code.clone(), (login, redirect.clone(), Utc::now()));
    let to = format!("{redirect}{sep}code={code}{state}");
    (302, (StatusCode::FOUND, [("location", to)]).into_response())
}

pub fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn oauth_error(error: &str, description: &str) -> (u16, Response) {
    let body = json!({"error": error, "error_description": description,
        "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"});
    (200, axum::Json(body).into_response())
}

fn access_token(s: &mut State, headers: &HeaderMap, body: &[u8]) -> (u16, Response) {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let form: HashMap<String, String> = if content_type.starts_with("application/json") {
        serde_json::from_slice::<HashMap<String, String>>(body).unwrap_or_default()
    } else {
        parse_pairs(&String::from_utf8_lossy(body))
    };
    if !headers.get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json")) {
        s.violation(
            "POST /login/oauth/access_token without Accept: application/json (GitHub answers form-encoded)".into(),
        );
    }
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    if field("client_id") != APP_CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return oauth_error("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.");
    }
    let Some((login, redirect, at)) = s.oauth.codes.remove(&field("code")) else {
        return oauth_error("bad_verification_code", "The code passed is incorrect or expired.");
    };
    if Utc::now() - at > Duration::minutes(10) {
        return oauth_error("bad_verification_code", "The code passed is incorrect or expired.");
    }
    if form.contains_key("redirect_uri") && field("redirect_uri") != redirect {
        return oauth_error(
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
        );
    }
    s.oauth.next += 1;
    let token = format!("ghu_fake{:028}", s.oauth.next);
    s.oauth.tokens.insert(token.clone(), login);
    let body = json!({"access_token": token, "expires_in": 28800, "refresh_token": format!("ghr_fake{:028}", s.oauth.next),
        "refresh_token_expires_in": 15897600, "scope": "", "token_type": "bearer"});
    (200, axum::Json(body).into_response())
}

fn api(s: &mut State, path: &str, q: &HashMap<String, String>, headers: &HeaderMap) -> (u16, Response) {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("token ")))
        .unwrap_or_default();
    let Some(login) = s.oauth.tokens.get(token).cloned() else {
        s.violation(format!("GET {path}: not a user-to-server token"));
        let body =
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"});
        return (401, (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response());
    };
    for (k, v) in q {
        let ok = match k.as_str() {
            "per_page" => v.parse::<u32>().is_ok_and(|n| (1..=100).contains(&n)),
            "page" => v.parse::<u32>().is_ok_and(|n| n >= 1),
            _ => false,
        };
        if !ok {
            s.violation(format!("GET {path}: query parameter {k}={v} is not in GitHub's description"));
        }
    }
    let user = s.user(&login);
    let (template, mut body) = if path == "/user" {
        ("/user", json!({"login": user.login, "id": user.id, "type": "User"}))
    } else if path == "/user/installations" {
        let ids: Vec<Value> = s
            .installations
            .keys()
            .filter(|i| readable(s, **i, &login).next().is_some())
            .map(|i| json!({"id": i.0, "app_id": super::model::APP_ID, "app_slug": super::model::APP_SLUG}))
            .collect();
        ("/user/installations", json!({"total_count": ids.len(), "installations": ids}))
    } else if let Some(id) = path.strip_prefix("/user/installations/").and_then(|r| r.strip_suffix("/repositories")) {
        let Some(inst) =
            id.parse::<u64>().ok().map(super::model::InstallationId).filter(|i| s.installations.contains_key(i))
        else {
            return (404, (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response());
        };
        let repos: Vec<Value> = readable(s, inst, &login)
            .map(|(id, full_name, level)| {
                json!({"id": id, "full_name": full_name, "permissions": {
                    "admin": level >= 5, "maintain": level >= 4, "push": level >= 3, "triage": level >= 2, "pull": level >= 1}})
            })
            .collect();
        let per_page = q.get("per_page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(30);
        let page = q.get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1);
        let total = repos.len();
        let slice: Vec<Value> = repos.into_iter().skip((page - 1) * per_page).take(per_page).collect();
        ("/user/installations/{installation_id}/repositories", json!({"total_count": total, "repositories": slice}))
    } else {
        s.violation(format!("GET {path}: not implemented by the fake"));
        return (404, (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response());
    };
    spec().conform(&Method::GET, template, 200, &mut body);
    (200, axum::Json(body).into_response())
}

/// Repositories of an installation `login` can read: `(id, full_name, level)`,
/// level 1 read … 5 admin. Public repositories are readable by anyone.
fn readable<'a>(
    s: &'a State,
    inst: super::model::InstallationId,
    login: &'a str,
) -> impl Iterator<Item = (u64, String, u8)> + 'a {
    s.repos.iter().filter(move |(_, r)| r.installation == inst).filter_map(move |(id, r)| {
        let level = match r.permissions.get(login).map(String::as_str) {
            Some("admin") => 5,
            Some("maintain") => 4,
            Some("write") => 3,
            Some("triage") => 2,
            Some("read") => 1,
            _ if !r.private => 1,
            _ => 0,
        };
        (level > 0).then(|| (id.0, r.full_name(), level))
    })
}
