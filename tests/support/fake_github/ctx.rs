//! What handlers see and return: `Ctx` (the locked state plus the decoded request and
//! caller) and `Reply` (status, JSON body, headers), with GitHub-style pagination and the
//! conversion into an HTTP response. No routing or policy here.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::auth::Caller;
use super::model::{RepoId, State};
use super::render;

/// What a handler sees: the state (locked), the decoded request, the caller.
pub struct Ctx<'a> {
    pub state: &'a mut State,
    pub params: BTreeMap<String, String>,
    pub query: BTreeMap<String, String>,
    pub body: Value,
    pub caller: Caller,
    pub repo: Option<RepoId>,
    pub doc_url: String,
    pub path: String,
}

impl Ctx<'_> {
    pub fn param(&self, name: &str) -> &str {
        self.params
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
    pub fn num(&self, name: &str) -> u64 {
        self.param(name).parse().unwrap_or_default()
    }
    pub fn repo_id(&self) -> RepoId {
        self.repo.expect("repository route")
    }
    /// The login the caller acts as (the App's bot user for installation tokens).
    pub fn actor(&self) -> String {
        super::model::bot_login()
    }
    pub fn not_found(&self) -> Reply {
        Reply::error(404, "Not Found", &self.doc_url)
    }
    pub fn unprocessable(&self, message: &str) -> Reply {
        Reply::error(422, message, &self.doc_url)
    }

    /// `per_page`/`page` slicing with GitHub's `Link` header.
    pub fn paginate(&self, items: Vec<Value>) -> Reply {
        let per_page = self
            .query
            .get("per_page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page = self
            .query
            .get("page")
            .and_then(|p| p.parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let last = items.len().div_ceil(per_page).max(1);
        let slice: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let mut reply = Reply::ok(Value::Array(slice));
        let link = |p: usize, rel: &str| {
            let mut q: Vec<String> = self
                .query
                .iter()
                .filter(|(k, _)| k.as_str() != "page" && k.as_str() != "per_page")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            q.push(format!("per_page={per_page}"));
            q.push(format!("page={p}"));
            format!(
                "<{}{}?{}>; rel=\"{rel}\"",
                self.state.base_url,
                self.path,
                q.join("&")
            )
        };
        let mut links = Vec::new();
        if page < last {
            links.push(link(page + 1, "next"));
            links.push(link(last, "last"));
        }
        if page > 1 {
            links.push(link(1, "first"));
            links.push(link(page - 1, "prev"));
        }
        if !links.is_empty() {
            reply.headers.push(("link".into(), links.join(", ")));
        }
        reply
    }
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn new(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body,
            headers: Vec::new(),
        }
    }
    pub fn ok(body: Value) -> Reply {
        Reply::new(200, body)
    }
    pub fn created(body: Value) -> Reply {
        Reply::new(201, body)
    }
    pub fn error(status: u16, message: &str, doc_url: &str) -> Reply {
        Reply::new(status, render::error(message, doc_url, status))
    }
    pub fn header(mut self, name: &str, value: impl ToString) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

pub fn respond(reply: Reply) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = if reply.status == 204 || reply.body.is_null() {
        status.into_response()
    } else {
        (status, axum::Json(reply.body)).into_response()
    };
    let headers = response.headers_mut();
    headers.insert(
        "x-github-api-version-selected",
        HeaderValue::from_static("2022-11-28"),
    );
    headers.insert("x-ratelimit-limit", HeaderValue::from_static("5000"));
    if !headers.contains_key("x-ratelimit-remaining") {
        headers.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
    }
    for (name, value) in reply.headers {
        if let (Ok(n), Ok(v)) = (
            axum::http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.insert(n, v);
        }
    }
    response
}
