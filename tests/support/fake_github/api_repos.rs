//! Repository reads: the repository itself, file contents at a ref, the (recursive) tree,
//! a branch, and a user's collaborator permission. Missing files are a normal 404 (not a
//! violation): Maxion probes for optional files such as `AGENTS.md`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::model::{Branch, Repo, blob_sha, fake_sha};
use super::render;
use super::server::{Ctx, Reply};

pub fn get_repo(ctx: &mut Ctx) -> Reply {
    let r = ctx.state.repo(ctx.repo_id());
    Reply::ok(render::repository(ctx.state, r, true))
}

/// Resolves a ref (branch name, `refs/heads/x`, or a branch head sha) to a branch.
pub fn resolve_ref<'a>(r: &'a Repo, reference: Option<&str>) -> Option<(String, &'a Branch)> {
    let reference = reference.unwrap_or(&r.default_branch);
    let name = reference.strip_prefix("refs/heads/").unwrap_or(reference);
    if let Some(b) = r.branches.get(name) {
        return Some((name.to_string(), b));
    }
    r.branches
        .iter()
        .find(|(_, b)| b.sha == reference)
        .map(|(n, b)| (n.clone(), b))
}

pub fn contents(ctx: &mut Ctx) -> Reply {
    let r = ctx.state.repo(ctx.repo_id());
    let reference = ctx.query.get("ref").cloned();
    let Some((branch, b)) = resolve_ref(r, reference.as_deref()) else {
        return Reply::error(404, "No commit found for the ref", &ctx.doc_url);
    };
    let path = ctx.param("path").trim_matches('/').to_string();
    let shown_ref = reference.unwrap_or(branch);
    if let Some(bytes) = b.files.get(&path) {
        return Reply::ok(render::file_content(ctx.state, r, &shown_ref, &path, bytes));
    }
    let prefix = format!("{path}/");
    let mut seen = BTreeSet::new();
    let mut entries = Vec::new();
    for (file, bytes) in b.files.range(prefix.clone()..) {
        let Some(rest) = file.strip_prefix(&prefix) else {
            break;
        };
        let (name, is_dir) = match rest.split_once('/') {
            Some((dir, _)) => (dir, true),
            None => (rest, false),
        };
        if !seen.insert(name.to_string()) {
            continue;
        }
        let child = format!("{prefix}{name}");
        entries.push(if is_dir {
            render::dir_entry(
                ctx.state,
                r,
                &shown_ref,
                &child,
                "dir",
                &fake_sha(&[&b.sha, &child]),
                0,
            )
        } else {
            render::dir_entry(
                ctx.state,
                r,
                &shown_ref,
                &child,
                "file",
                &blob_sha(bytes),
                bytes.len(),
            )
        });
    }
    if entries.is_empty() {
        return ctx.not_found();
    }
    Reply::ok(Value::Array(entries))
}

pub fn tree(ctx: &mut Ctx) -> Reply {
    let r = ctx.state.repo(ctx.repo_id());
    let Some((_, b)) = resolve_ref(r, Some(ctx.param("tree_sha"))) else {
        return ctx.not_found();
    };
    let recursive = ctx.query.contains_key("recursive");
    let base = format!("{}/repos/{}/git", ctx.state.base_url, r.full_name());
    let mut dirs = BTreeSet::new();
    let mut entries = Vec::new();
    for (path, bytes) in &b.files {
        let parts: Vec<&str> = path.split('/').collect();
        for depth in 1..parts.len() {
            let dir = parts[..depth].join("/");
            if (recursive || depth == 1) && dirs.insert(dir.clone()) {
                let sha = fake_sha(&[&b.sha, &dir]);
                entries.push(json!({
                    "path": dir, "mode": "040000", "type": "tree", "sha": sha,
                    "url": format!("{base}/trees/{sha}"),
                }));
            }
        }
        if recursive || parts.len() == 1 {
            let sha = blob_sha(bytes);
            entries.push(json!({
                "path": path, "mode": "100644", "type": "blob", "sha": sha, "size": bytes.len(),
                "url": format!("{base}/blobs/{sha}"),
            }));
        }
    }
    entries.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    Reply::ok(json!({
        "sha": b.sha,
        "url": format!("{base}/trees/{}", b.sha),
        "tree": entries,
        "truncated": false,
    }))
}

pub fn branch(ctx: &mut Ctx) -> Reply {
    let r = ctx.state.repo(ctx.repo_id());
    let name = ctx.param("branch").to_string();
    let Some(b) = r.branches.get(&name) else {
        return Reply::error(404, "Branch not found", &ctx.doc_url);
    };
    let mut text = super::spec::spec().example("branch-get").to_string();
    text = text
        .replace("7fd1a60b01f91b314f59955a4e4d4e80d8edf11d", &b.sha)
        .replace(
            "https://api.github.com/repos/octocat/Hello-World",
            &format!("{}/repos/{}", ctx.state.base_url, r.full_name()),
        )
        .replace(
            "https://github.com/octocat/Hello-World",
            &format!("{}/{}", ctx.state.base_url, r.full_name()),
        )
        .replace("https://api.github.com", &ctx.state.base_url)
        .replace("https://github.com", &ctx.state.base_url);
    let mut v: Value = serde_json::from_str(&text).expect("branch example");
    v["name"] = json!(name);
    v["_links"]["self"] = json!(format!(
        "{}/repos/{}/branches/{name}",
        ctx.state.base_url,
        r.full_name()
    ));
    v["_links"]["html"] = json!(format!(
        "{}/{}/tree/{name}",
        ctx.state.base_url,
        r.full_name()
    ));
    Reply::ok(v)
}

pub fn permission(ctx: &mut Ctx) -> Reply {
    let login = ctx.param("username").to_string();
    let Some(u) = ctx.state.users.get(&login).cloned() else {
        return Reply::error(404, &format!("{login} is not a user"), &ctx.doc_url);
    };
    let r = ctx.state.repo(ctx.repo_id());
    let role = if login == r.owner {
        "admin".to_string()
    } else {
        r.permissions
            .get(&login)
            .cloned()
            .unwrap_or_else(|| "none".into())
    };
    // `permission` is the legacy coarse level; `role_name` the precise role.
    let permission = match role.as_str() {
        "admin" => "admin",
        "maintain" | "write" => "write",
        "triage" | "read" => "read",
        _ => "none",
    };
    let mut v = super::spec::spec()
        .example("repository-collaborator-permission-response-if-user-has-admin-permissions");
    let mut user = render::user(ctx.state, &u);
    let rank = |want: &[&str]| want.contains(&role.as_str());
    user["permissions"] = json!({
        "admin": rank(&["admin"]),
        "maintain": rank(&["admin", "maintain"]),
        "push": rank(&["admin", "maintain", "write"]),
        "triage": rank(&["admin", "maintain", "write", "triage"]),
        "pull": rank(&["admin", "maintain", "write", "triage", "read"]),
    });
    user["role_name"] = json!(role);
    v["permission"] = json!(permission);
    v["role_name"] = json!(role);
    v["user"] = user;
    Reply::ok(v)
}
