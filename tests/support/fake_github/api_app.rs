//! App-level operations: `GET /app`, minting installation tokens, which installation
//! covers a repository, `GET /users/{username}`, and `GET /search/issues`. Token minting enforces GitHub's rules: repositories must belong
//! to the installation and requested permissions must not exceed the installation's.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::auth::{self, Caller};
use super::model::{InstallationId, RepoId, Token, timestamp};
use super::render;
use super::server::{Ctx, Reply};

pub fn get_app(ctx: &mut Ctx) -> Reply {
    Reply::ok(render::app(ctx.state))
}

pub fn access_token(ctx: &mut Ctx) -> Reply {
    let id = InstallationId(ctx.num("installation_id"));
    let Some(inst) = ctx.state.installations.get(&id).cloned() else {
        return ctx.not_found();
    };
    let installation_repos: Vec<RepoId> =
        ctx.state.repos.values().filter(|r| r.installation == id).map(|r| r.id).collect();
    let mut scoped: Option<Vec<RepoId>> = None;
    if let Some(names) = ctx.body["repositories"].as_array() {
        let mut ids = Vec::new();
        for name in names {
            let name = name.as_str().unwrap_or_default();
            let found = installation_repos.iter().find(|r| ctx.state.repo(**r).name.eq_ignore_ascii_case(name));
            match found {
                Some(r) => ids.push(*r),
                None => {
                    return ctx.unprocessable(
                        "There is at least one repository that does not exist or is not accessible to the parent installation.",
                    );
                }
            }
        }
        scoped = Some(ids);
    }
    if let Some(wanted) = ctx.body["repository_ids"].as_array() {
        let mut ids = scoped.take().unwrap_or_default();
        for w in wanted {
            let rid = RepoId(w.as_u64().unwrap_or_default());
            if !installation_repos.contains(&rid) {
                return ctx.unprocessable(
                    "There is at least one repository that does not exist or is not accessible to the parent installation.",
                );
            }
            ids.push(rid);
        }
        scoped = Some(ids);
    }
    let permissions: BTreeMap<String, String> = match ctx.body["permissions"].as_object() {
        Some(requested) => {
            let mut granted = BTreeMap::new();
            for (perm, level) in requested {
                let level = level.as_str().unwrap_or_default().to_string();
                if !auth::has_permission(&inst.permissions, perm, &level) {
                    return ctx.unprocessable("The permissions requested are not granted to this installation.");
                }
                granted.insert(perm.clone(), level);
            }
            granted.entry("metadata".into()).or_insert_with(|| "read".into());
            granted
        }
        None => inst.permissions.clone(),
    };
    let token = auth::mint(ctx.state);
    let expires_at = ctx.state.now() + chrono::Duration::from_std(ctx.state.token_lifetime).unwrap_or_default();
    ctx.state.issued_tokens.push(token.clone());
    ctx.state.tokens.insert(
        token.clone(),
        Token {
            installation: id,
            repos: scoped.clone(),
            permissions: permissions.clone(),
            expires_at,
            revoked: false,
            refused: false,
        },
    );
    let repos: Vec<Value> = scoped
        .clone()
        .unwrap_or(installation_repos)
        .iter()
        .map(|r| render::repository(ctx.state, ctx.state.repo(*r), false))
        .collect();
    let mut body = render_token_example(ctx);
    body["token"] = json!(token);
    body["expires_at"] = json!(timestamp(expires_at));
    body["permissions"] = json!(permissions);
    body["repository_selection"] = json!(if scoped.is_some() { "selected" } else { "all" });
    body["repositories"] = json!(repos);
    Reply::created(body)
}

/// `GET /repos/{owner}/{repo}/installation` (App JWT): the installation holding the
/// repository. A repository the App is not installed on is unknown to the fake, so the
/// server has already answered 404 for it, as GitHub does.
pub fn repo_installation(ctx: &mut Ctx) -> Reply {
    let inst = ctx.state.repo(ctx.repo_id()).installation;
    match ctx.state.installations.get(&inst) {
        Some(i) => Reply::ok(render::installation(ctx.state, i)),
        None => ctx.not_found(),
    }
}

fn render_token_example(_ctx: &Ctx) -> Value {
    super::spec::spec().example("installation-token")
}

pub fn get_user(ctx: &mut Ctx) -> Reply {
    let login = ctx.param("username").to_string();
    match ctx.state.users.get(&login).cloned() {
        Some(u) => Reply::ok(render::public_user(ctx.state, &u)),
        None => ctx.not_found(),
    }
}

/// A small subset of GitHub's search syntax: `repo:o/r`, `is:issue|pr`, `type:issue|pr`,
/// `is:open|closed`, `state:open|closed`, and free words matched against title and body.
pub fn search_issues(ctx: &mut Ctx) -> Reply {
    let q = ctx.query.get("q").cloned().unwrap_or_default();
    let (mut repo, mut kind, mut state) = (None, None, None);
    let mut words = Vec::new();
    for term in q.split_whitespace() {
        match term.split_once(':') {
            Some(("repo", v)) => repo = Some(v.to_ascii_lowercase()),
            Some(("is" | "type", "pr" | "pull-request")) => kind = Some(true),
            Some(("is" | "type", "issue")) => kind = Some(false),
            Some(("is" | "state", v @ ("open" | "closed"))) => state = Some(v.to_string()),
            Some(_) => {}
            None => words.push(term.trim_matches('"').to_ascii_lowercase()),
        }
    }
    let allowed: Option<Vec<RepoId>> = match &ctx.caller {
        Caller::Installation { data, .. } => Some(data.repos.clone().unwrap_or_else(|| {
            ctx.state.repos.values().filter(|r| r.installation == data.installation).map(|r| r.id).collect()
        })),
        _ => None,
    };
    let mut items = Vec::new();
    for r in ctx.state.repos.values() {
        if allowed.as_ref().is_some_and(|a| !a.contains(&r.id)) {
            continue;
        }
        if repo.as_ref().is_some_and(|want| *want != r.full_name().to_ascii_lowercase()) {
            continue;
        }
        let mut hits: Vec<(u64, Value)> = Vec::new();
        if kind != Some(true) {
            for i in r.issues.values() {
                let text = format!("{} {}", i.title, i.body).to_ascii_lowercase();
                if state.as_ref().is_some_and(|s| *s != i.state) || !words.iter().all(|w| text.contains(w)) {
                    continue;
                }
                hits.push((i.number, render::issue(ctx.state, r, i)));
            }
        }
        if kind != Some(false) {
            for p in r.pulls.values() {
                let text = format!("{} {}", p.title, p.body.clone().unwrap_or_default()).to_ascii_lowercase();
                if state.as_ref().is_some_and(|s| *s != p.state) || !words.iter().all(|w| text.contains(w)) {
                    continue;
                }
                let mut v = render::issue(ctx.state, r, &super::api_pulls::as_issue(p));
                let api = format!("{}/repos/{}/pulls/{}", ctx.state.base_url, r.full_name(), p.number);
                v["pull_request"] = json!({
                    "url": api,
                    "html_url": format!("{}/{}/pull/{}", ctx.state.base_url, r.full_name(), p.number),
                    "diff_url": format!("{}/{}/pull/{}.diff", ctx.state.base_url, r.full_name(), p.number),
                    "patch_url": format!("{}/{}/pull/{}.patch", ctx.state.base_url, r.full_name(), p.number),
                    "merged_at": null,
                });
                hits.push((p.number, v));
            }
        }
        hits.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
        items.extend(hits.into_iter().map(|(_, mut v)| {
            v["score"] = json!(1.0);
            v
        }));
    }
    let total = items.len();
    let page = ctx.paginate(items);
    let mut body = json!({ "total_count": total, "incomplete_results": false, "search_type": "lexical" });
    body["items"] = page.body;
    Reply { status: 200, body, headers: page.headers }
}
