//! The request pipeline every call goes through, in GitHub's order: record → route →
//! authenticate → repository scope → permission → validate (query, body) → injected failure
//! → apply → answer. Anything the real GitHub would refuse is answered as GitHub would and
//! recorded as a violation, which fails the test at `assert_ok()` / drop.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{Value, json};

use super::auth::{self, Caller, Refusal};
use super::failure::{self, Failure};
use super::model::{AuthKind, RecordedRequest, RepoId, State};
use super::spec::{Route, query_decode, spec};
use super::{api_app, api_checks, api_issues, api_pulls, api_repos, api_web, git, hooks};

pub type Shared = Arc<Mutex<State>>;

const SECONDARY_MESSAGE: &str = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.";
const SECONDARY_DOC: &str =
    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits";

use super::ctx::respond;
pub use super::ctx::{Ctx, Reply};

pub async fn handle(
    AxumState(shared): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    if git::is_git_path(&path) {
        return git::serve(shared, method, uri, headers, body).await;
    }
    if super::oauth::is_oauth_path(&path) {
        return super::oauth::serve(&shared, &method, &uri, &headers, &body);
    }
    if super::manifest::is_manifest_path(&path) {
        return super::manifest::serve(&shared, &method, &uri, &headers, &body);
    }
    let query: Vec<(String, String)> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (query_decode(k), query_decode(v))
        })
        .collect();
    let parsed_body = if body.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice::<Value>(&body).map_err(|e| e.to_string())
    };
    let index = {
        let mut state = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            body: parsed_body.clone().unwrap_or(Value::Null),
            auth: AuthKind::None,
            operation: None,
            status: 0,
            at: chrono::Utc::now(),
        });
        state.requests.len() - 1
    };
    let (reply, delay) = prepare(&shared, index, &method, &path, &query, &headers, parsed_body);
    let reply = match (reply, delay) {
        (Step::Done(reply), _) => reply,
        (Step::Apply(pending), delay) => {
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
            }
            // A panicking handler is a bug in the fake; say so instead of dropping the
            // connection and leaving the client with a puzzling transport error.
            let pending = *pending;
            let what = format!("{} {}", pending.method, pending.path);
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| apply(&shared, pending))) {
                Ok(reply) => reply,
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    let mut state = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    state.violation(format!("{what}: the fake itself panicked: {message}"));
                    Reply::error(500, "fake GitHub bug", "https://docs.github.com/rest")
                }
            }
        }
    };
    shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner).requests[index].status = reply.status;
    respond(reply)
}

enum Step {
    Done(Reply),
    Apply(Box<Pending>),
}

struct Pending {
    template: String,
    method: Method,
    params: BTreeMap<String, String>,
    query: BTreeMap<String, String>,
    body: Value,
    caller: Caller,
    repo: Option<RepoId>,
    doc_url: String,
    path: String,
    fail_after: bool,
}

/// Everything up to (not including) applying the request; holds the lock throughout.
fn prepare(
    shared: &Shared,
    index: usize,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: Result<Value, String>,
) -> (Step, Option<std::time::Duration>) {
    let spec = spec();
    let mut guard = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let state = &mut *guard;
    let Some(m) = spec.match_route(method, path) else {
        state.violation(format!("unknown route {method} {path} (404)"));
        return (Step::Done(Reply::error(404, "Not Found", "https://docs.github.com/rest")), None);
    };
    let route: &Route = m.route;
    let doc = route.doc_url.clone();
    state.requests[index].operation = Some(route.template.clone());
    let what = format!("{method} {path}");

    // GitHub refuses API requests without a User-Agent before anything else.
    if !headers.contains_key(axum::http::header::USER_AGENT) {
        state.violation(format!("{what}: no User-Agent header"));
        let message = "Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.";
        return (Step::Done(Reply::new(403, json!({ "message": message }))), None);
    }

    // GitHub answers 400 to an API version it does not have.
    if let Some(version) = headers.get("x-github-api-version") {
        let known = ["2022-11-28", "2026-03-10"];
        if !known.iter().any(|k| version.as_bytes() == k.as_bytes()) {
            state.violation(format!("{what}: unknown X-GitHub-Api-Version {version:?}"));
            let message = format!("API version {} is not supported.", String::from_utf8_lossy(version.as_bytes()));
            return (
                Step::Done(Reply::error(400, &message, "https://docs.github.com/rest/about-the-rest-api/api-versions")),
                None,
            );
        }
    }

    let caller = match auth::authenticate(state, headers, &route.template) {
        Ok(c) => c,
        Err(refusal) => return (Step::Done(refuse(state, index, &what, refusal, &doc)), None),
    };
    state.requests[index].auth = match &caller {
        Caller::Anonymous => AuthKind::None,
        Caller::App => AuthKind::AppJwt,
        Caller::Installation { data, .. } => AuthKind::InstallationToken(data.installation),
    };

    // Repository scope: the token must have been minted for this repository.
    let mut repo = None;
    if let (Some(owner), Some(name)) = (m.params.get("owner"), m.params.get("repo")) {
        let Some(id) = state.repo_by_name(owner, name) else {
            return (Step::Done(Reply::error(404, "Not Found", &doc)), None);
        };
        if let Caller::Installation { data, .. } = &caller {
            let r = state.repo(id);
            let in_scope =
                r.installation == data.installation && data.repos.as_ref().is_none_or(|ids| ids.contains(&id));
            if !in_scope {
                let refusal = if r.private { Refusal::new(404, "Not Found") } else { Refusal::not_accessible() };
                let what = format!("{what}: token not scoped to {}", r.full_name());
                return (Step::Done(refuse(state, index, &what, refusal, &doc)), None);
            }
        }
        repo = Some(id);
    }
    if let (Caller::Installation { data, .. }, Some((perm, level))) =
        (&caller, auth::required_permission(method, &route.template))
        && !auth::has_permission(&data.permissions, perm, level)
    {
        let what = format!("{what}: token lacks {perm}:{level}");
        return (Step::Done(refuse(state, index, &what, Refusal::not_accessible(), &doc)), None);
    }

    // Validation against the published description.
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            state.violation(format!("{what}: body is not JSON: {e}"));
            return (Step::Done(Reply::error(400, "Problems parsing JSON", &doc)), None);
        }
    };
    let mut problems = Vec::new();
    for param in &route.query {
        let Some((_, raw)) = query.iter().find(|(k, _)| *k == param.name) else {
            if param.required {
                problems.push(format!("query parameter `{}` is required", param.name));
            }
            continue;
        };
        let value = if param.integer {
            raw.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(raw))
        } else if param.boolean {
            raw.parse::<bool>().map(Value::from).unwrap_or_else(|_| json!(raw))
        } else {
            json!(raw)
        };
        for err in param.validator.iter_errors(&value) {
            problems.push(format!("query parameter `{}`: {err}", param.name));
        }
    }
    match (&route.body, &body) {
        (Some(spec_body), Value::Null) if spec_body.required => {
            problems.push("a request body is required".into());
        }
        (Some(spec_body), b) if !b.is_null() => {
            for err in spec_body.validator().iter_errors(b) {
                problems.push(format!("body{}: {}", err.instance_path(), clip(&err.to_string())));
            }
        }
        _ => {}
    }
    if !problems.is_empty() {
        let detail = problems.join("\n");
        state.violation(format!("{what}: request does not match GitHub's schema:\n{detail}\nbody: {body}"));
        return (Step::Done(Reply::error(422, &format!("Invalid request.\n\n{detail}"), &doc)), None);
    }

    if let Some(reply) = secondary_limit(state, &caller, method, &what) {
        return (Step::Done(reply), None);
    }

    let mut delay = None;
    let mut fail_after = false;
    let injected = failure::take(&mut state.failures, method.as_str(), &route.template, path)
        .or_else(|| state.chaos.as_mut().and_then(super::chaos::Chaos::roll));
    if let Some(f) = injected {
        match f {
            Failure::Status(code) => {
                let message = match code {
                    500 => "Internal Server Error",
                    502 => "Server Error",
                    503 => "Service Unavailable",
                    404 => "Not Found",
                    _ => "Injected failure",
                };
                return (Step::Done(Reply::error(code, message, &doc)), None);
            }
            Failure::SecondaryRateLimit { retry_after_secs } => {
                let reply = Reply::error(403, SECONDARY_MESSAGE, SECONDARY_DOC).header("retry-after", retry_after_secs);
                return (Step::Done(reply), None);
            }
            Failure::PrimaryRateLimit { reset_in_secs } => {
                let reset = chrono::Utc::now().timestamp() + reset_in_secs as i64;
                let inst = auth::installation_of(&caller).map(|i| i.0).unwrap_or_default();
                let reply = Reply::error(
                    403,
                    &format!("API rate limit exceeded for installation ID {inst}."),
                    "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-the-primary-rate-limit",
                )
                .header("x-ratelimit-remaining", 0)
                .header("x-ratelimit-reset", reset)
                .header("x-ratelimit-used", 5000);
                return (Step::Done(reply), None);
            }
            Failure::ExpiredToken => {
                if let Caller::Installation { token, .. } = &caller
                    && let Some(t) = state.tokens.get_mut(token)
                {
                    t.revoked = true;
                    t.refused = true;
                }
                return (Step::Done(Reply::error(401, "Bad credentials", "https://docs.github.com/rest")), None);
            }
            Failure::Delay(d) => delay = Some(d),
            Failure::FailAfterApply => fail_after = true,
        }
    }
    let pending = Pending {
        template: route.template.clone(),
        method: route.method.clone(),
        params: m.params.clone(),
        query: query.iter().cloned().collect(),
        body,
        caller,
        repo,
        doc_url: doc,
        path: path.to_string(),
        fail_after,
    };
    (Step::Apply(Box::new(pending)), delay)
}

/// GitHub's documented secondary limits on content-creating requests: at most 80 per
/// minute and 500 per hour per installation. Exceeding them is answered as GitHub does and
/// is a violation: Maxion's limiter must keep it from ever happening.
fn secondary_limit(state: &mut State, caller: &Caller, method: &Method, what: &str) -> Option<Reply> {
    let Caller::Installation { data, .. } = caller else {
        return None;
    };
    if *method == Method::GET {
        return None;
    }
    let now = chrono::Utc::now();
    let recent = state.mutations.entry(data.installation).or_default();
    recent.retain(|t| now - *t < chrono::Duration::hours(1));
    let last_minute = recent.iter().filter(|t| now - **t < chrono::Duration::minutes(1)).count();
    let last_hour = recent.len();
    if last_minute >= 80 || last_hour >= 500 {
        state.violation(format!("{what}: over GitHub's secondary rate limit ({last_minute}/min, {last_hour}/h)"));
        let reply = Reply::error(403, SECONDARY_MESSAGE, SECONDARY_DOC).header("retry-after", 60);
        return Some(reply);
    }
    state.mutations.entry(data.installation).or_default().push(now);
    None
}

/// Schema errors quote the offending value; keep the head and the verdict at the tail.
fn clip(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 400 {
        return s.to_string();
    }
    let head: String = chars[..150].iter().collect();
    let tail: String = chars[chars.len() - 150..].iter().collect();
    format!("{head} … {tail}")
}

fn refuse(state: &mut State, index: usize, what: &str, refusal: Refusal, doc: &str) -> Reply {
    state.requests[index].auth = AuthKind::Invalid;
    if !refusal.excusable {
        state.violation(format!("{what}: refused {} {}", refusal.status, refusal.message));
    }
    let doc = if refusal.status == 401 { "https://docs.github.com/rest" } else { doc };
    Reply::error(refusal.status, &refusal.message, doc)
}

fn apply(shared: &Shared, p: Pending) -> Reply {
    let mut guard = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut ctx = Ctx {
        state: &mut guard,
        params: p.params,
        query: p.query,
        body: p.body,
        caller: p.caller,
        repo: p.repo,
        doc_url: p.doc_url,
        path: p.path,
    };
    let t = p.template.as_str();
    let reply = match (p.method.as_str(), t) {
        ("GET", "/app") => api_app::get_app(&mut ctx),
        ("POST", "/app-manifests/{code}/conversions") => super::manifest::convert(&mut ctx),
        ("GET", "/app/hook/config") => api_web::hook_config(&mut ctx),
        ("POST", "/app/installations/{installation_id}/access_tokens") => api_app::access_token(&mut ctx),
        ("GET", "/repos/{owner}/{repo}/installation") => api_app::repo_installation(&mut ctx),
        ("GET", "/users/{username}") => api_app::get_user(&mut ctx),
        ("GET", "/search/issues") => api_app::search_issues(&mut ctx),
        ("GET", "/app/hook/deliveries") => hooks::list(&mut ctx),
        ("GET", "/app/hook/deliveries/{delivery_id}") => hooks::get(&mut ctx),
        ("POST", "/app/hook/deliveries/{delivery_id}/attempts") => hooks::redeliver(&mut ctx),
        ("GET", "/repos/{owner}/{repo}") => api_repos::get_repo(&mut ctx),
        ("GET", "/repos/{owner}/{repo}/contents/{path}") => api_repos::contents(&mut ctx),
        ("GET", "/repos/{owner}/{repo}/git/trees/{tree_sha}") => api_repos::tree(&mut ctx),
        ("GET", "/repos/{owner}/{repo}/branches/{branch}") => api_repos::branch(&mut ctx),
        ("GET", "/repos/{owner}/{repo}/collaborators/{username}/permission") => api_repos::permission(&mut ctx),
        ("POST", "/repos/{owner}/{repo}/check-runs") => api_checks::create(&mut ctx),
        ("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}") => api_checks::update(&mut ctx),
        ("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs") => api_checks::list_for_ref(&mut ctx),
        ("GET", "/repos/{owner}/{repo}/issues/{issue_number}") => api_issues::get_issue(&mut ctx),
        ("POST", "/repos/{owner}/{repo}/issues") => api_web::create_issue(&mut ctx),
        ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments") => api_issues::list_comments(&mut ctx),
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments") => api_issues::create_comment(&mut ctx),
        ("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}") => api_issues::update_comment(&mut ctx),
        ("POST", "/repos/{owner}/{repo}/issues/{issue_number}/reactions") => api_issues::react_issue(&mut ctx),
        ("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions") => api_issues::react_comment(&mut ctx),
        ("GET", "/repos/{owner}/{repo}/issues/{issue_number}/timeline") => api_issues::timeline(&mut ctx),
        ("GET", "/repos/{owner}/{repo}/pulls") => api_pulls::list(&mut ctx),
        ("POST", "/repos/{owner}/{repo}/pulls") => api_pulls::create(&mut ctx),
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}") => api_pulls::get(&mut ctx),
        ("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}") => api_pulls::update(&mut ctx),
        ("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files") => api_pulls::files(&mut ctx),
        ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers") => {
            api_pulls::request_reviewers(&mut ctx)
        }
        ("POST", "/repos/{owner}/{repo}/pulls/{pull_number}/comments/{comment_id}/replies") => {
            api_pulls::reply(&mut ctx)
        }
        _ => {
            let what = format!("{} {}", p.method, t);
            ctx.state.violation(format!("{what}: described but not implemented by the fake"));
            Reply::error(501, "Not implemented by the fake", &ctx.doc_url)
        }
    };
    drop(ctx);
    drop(guard);
    hooks::flush(shared);
    if p.fail_after && reply.status < 400 {
        return Reply::error(502, "Server Error", "https://docs.github.com/rest");
    }
    let mut reply = reply;
    if reply.status < 300 {
        spec().conform(&p.method, t, reply.status, &mut reply.body);
    }
    reply
}
