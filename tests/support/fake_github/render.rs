//! Response bodies. Each starts from the published example in the OpenAPI description (so
//! every field GitHub sends is present with a plausible value), has the example's
//! `api.github.com` / `octocat/Hello-World` URLs pointed at the fake, and then has the fields
//! that carry state overwritten. Reads state; never mutates it.

use base64::Engine;
use serde_json::{Value, json};

use super::model::{
    APP_CLIENT_ID, APP_ID, APP_SLUG, CheckRun, Comment, Installation, Issue, Pull, Reaction, Repo, ReviewComment,
    State, User, UserType, blob_sha, timestamp,
};
use super::spec::spec;

/// An example with its URLs rebased onto the fake and onto `full_name` (when given).
fn example(state: &State, name: &str, full_name: Option<&str>) -> Value {
    let mut text = spec().example(name).to_string();
    let base = &state.base_url;
    if let Some(full) = full_name {
        text = text
            .replace("https://api.github.com/repos/octocat/Hello-World", &format!("{base}/repos/{full}"))
            .replace("https://github.com/octocat/Hello-World", &format!("{base}/{full}"))
            .replace("octocat/Hello-World", full);
    }
    text = text.replace("https://api.github.com", base).replace("https://github.com", base);
    serde_json::from_str(&text).expect("rebased example is JSON")
}

fn node_id(kind: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("0{}:{kind}{id}", kind.len()))
}

pub fn user(state: &State, u: &User) -> Value {
    let base = &state.base_url;
    let login = &u.login;
    let mut v = example(state, "reaction", None)["user"].clone();
    // Bot logins end in `[bot]`, which GitHub percent-encodes in URLs.
    let escaped = login.replace('[', "%5B").replace(']', "%5D");
    let api = format!("{base}/users/{escaped}");
    v["login"] = json!(login);
    v["id"] = json!(u.id);
    v["node_id"] = json!(node_id(if u.kind == UserType::Bot { "Bot" } else { "User" }, u.id));
    v["type"] = json!(u.kind.as_str());
    v["url"] = json!(api);
    v["html_url"] = json!(match login.strip_suffix("[bot]") {
        Some(slug) => format!("{base}/apps/{slug}"),
        None => format!("{base}/{login}"),
    });
    for (key, suffix) in [
        ("events_url", "/events{/privacy}"),
        ("followers_url", "/followers"),
        ("following_url", "/following{/other_user}"),
        ("gists_url", "/gists{/gist_id}"),
        ("organizations_url", "/orgs"),
        ("received_events_url", "/received_events"),
        ("repos_url", "/repos"),
        ("starred_url", "/starred{/owner}{/repo}"),
        ("subscriptions_url", "/subscriptions"),
    ] {
        v[key] = json!(format!("{api}{suffix}"));
    }
    v
}

pub fn user_by_login(state: &State, login: &str) -> Value {
    let u = state.users.get(login).cloned().unwrap_or(User { id: 1, login: login.to_string(), kind: UserType::User });
    user(state, &u)
}

pub fn public_user(state: &State, u: &User) -> Value {
    let mut v = example(state, "public-user-default-response", None);
    let short = user(state, u);
    for (k, val) in short.as_object().expect("user object") {
        v[k] = val.clone();
    }
    v["name"] = json!(u.login);
    v
}

pub fn app(state: &State) -> Value {
    let mut v = example(state, "integration", None);
    v["id"] = json!(APP_ID);
    v["slug"] = json!(APP_SLUG);
    v["client_id"] = json!(APP_CLIENT_ID);
    v["name"] = json!("Maxion (test)");
    v["node_id"] = json!(node_id("Integration", APP_ID));
    v
}

/// The App's installation on an account (`GET /repos/{o}/{r}/installation`).
pub fn installation(state: &State, i: &Installation) -> Value {
    let mut v = example(state, "installation", None);
    let base = &state.base_url;
    let account = state.users.get(&i.account).cloned().unwrap_or(User {
        id: i.id.0 + 1,
        login: i.account.clone(),
        kind: UserType::User,
    });
    v["id"] = json!(i.id.0);
    v["account"] = user(state, &account);
    v["target_id"] = json!(account.id);
    v["target_type"] = json!(account.kind.as_str());
    v["app_id"] = json!(APP_ID);
    v["app_slug"] = json!(APP_SLUG);
    v["client_id"] = json!(APP_CLIENT_ID);
    v["permissions"] = json!(i.permissions);
    v["repository_selection"] = json!("selected");
    v["access_tokens_url"] = json!(format!("{base}/app/installations/{}/access_tokens", i.id.0));
    v["html_url"] = json!(format!("{base}/settings/installations/{}", i.id.0));
    v["events"] = json!(["issues", "issue_comment", "check_run", "pull_request"]);
    v
}

pub fn repository(state: &State, r: &Repo, full: bool) -> Value {
    let full_name = r.full_name();
    let mut v = if full {
        example(state, "full-repository-default-response", Some(&full_name))
    } else {
        example(state, "installation-token", Some(&full_name))["repositories"][0].clone()
    };
    let obj = v.as_object_mut().expect("repository object");
    for gone in ["parent", "source", "template_repository", "organization"] {
        obj.remove(gone);
    }
    let owner = state.users.get(&r.owner).cloned().unwrap_or(User {
        id: r.id.0 + 1,
        login: r.owner.clone(),
        kind: UserType::User,
    });
    v["id"] = json!(r.id.0);
    v["node_id"] = json!(node_id("Repository", r.id.0));
    v["name"] = json!(r.name);
    v["full_name"] = json!(full_name);
    v["owner"] = user(state, &owner);
    v["private"] = json!(r.private);
    v["visibility"] = json!(if r.private { "private" } else { "public" });
    v["fork"] = json!(false);
    v["default_branch"] = json!(r.default_branch);
    v["clone_url"] = json!(format!("{}/{full_name}.git", state.base_url));
    v["open_issues_count"] = json!(r.issues.values().filter(|i| i.state == "open").count());
    v
}

pub fn issue(state: &State, r: &Repo, i: &Issue) -> Value {
    let full = r.full_name();
    let mut v = example(state, "issue", Some(&full));
    v.as_object_mut().expect("issue object").remove("pull_request");
    let api = format!("{}/repos/{full}/issues/{}", state.base_url, i.number);
    v["id"] = json!(i.id);
    v["node_id"] = json!(node_id("Issue", i.id));
    v["number"] = json!(i.number);
    v["title"] = json!(i.title);
    v["body"] = json!(i.body);
    v["state"] = json!(i.state);
    v["state_reason"] = Value::Null;
    v["closed_at"] = Value::Null;
    v["closed_by"] = Value::Null;
    v["locked"] = json!(false);
    v["active_lock_reason"] = Value::Null;
    v["assignee"] = Value::Null;
    v["assignees"] = json!([]);
    v["milestone"] = Value::Null;
    v["pinned_comment"] = Value::Null;
    v["user"] = user_by_login(state, &i.user);
    v["url"] = json!(api);
    v["comments_url"] = json!(format!("{api}/comments"));
    v["events_url"] = json!(format!("{api}/events"));
    v["html_url"] = json!(format!("{}/{full}/issues/{}", state.base_url, i.number));
    v["comments"] = json!(r.comments.iter().filter(|c| c.issue == i.number).count());
    v["created_at"] = json!(timestamp(i.created_at));
    v["updated_at"] = json!(timestamp(i.created_at));
    let label_template = v["labels"][0].clone();
    v["labels"] = i
        .labels
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let mut l = label_template.clone();
            l["id"] = json!(n as u64 + 1);
            l["node_id"] = json!(node_id("Label", n as u64 + 1));
            l["name"] = json!(name);
            l["default"] = json!(false);
            l["url"] = json!(format!("{}/repos/{full}/labels/{name}", state.base_url));
            l
        })
        .collect();
    v
}

pub fn comment(state: &State, r: &Repo, c: &Comment) -> Value {
    let full = r.full_name();
    let mut v = example(state, "issue-comment", Some(&full));
    v["id"] = json!(c.id);
    v["node_id"] = json!(node_id("IssueComment", c.id));
    v["body"] = json!(c.body);
    v["user"] = user_by_login(state, &c.user);
    v["author_association"] = json!(association(r, &c.user));
    v["url"] = json!(format!("{}/repos/{full}/issues/comments/{}", state.base_url, c.id));
    v["issue_url"] = json!(format!("{}/repos/{full}/issues/{}", state.base_url, c.issue));
    v["html_url"] = json!(format!("{}/{full}/issues/{}#issuecomment-{}", state.base_url, c.issue, c.id));
    v["created_at"] = json!(timestamp(c.created_at));
    v["updated_at"] = json!(timestamp(c.updated_at));
    v
}

fn association(r: &Repo, login: &str) -> &'static str {
    if login == r.owner {
        return "OWNER";
    }
    match r.permissions.get(login).map(String::as_str) {
        Some("admin" | "maintain" | "write" | "triage") => "COLLABORATOR",
        _ => "NONE",
    }
}

pub fn reaction(state: &State, x: &Reaction) -> Value {
    let mut v = example(state, "reaction", None);
    v["id"] = json!(x.id);
    v["node_id"] = json!(node_id("Reaction", x.id));
    v["content"] = json!(x.content);
    v["user"] = user_by_login(state, &x.user);
    v["created_at"] = json!(timestamp(x.created_at));
    v
}

pub fn check_run(state: &State, r: &Repo, c: &CheckRun) -> Value {
    let full = r.full_name();
    let mut v = example(state, "check-run", Some(&full));
    let api = format!("{}/repos/{full}/check-runs/{}", state.base_url, c.id);
    v["id"] = json!(c.id);
    v["node_id"] = json!(node_id("CheckRun", c.id));
    v["name"] = json!(c.name);
    v["head_sha"] = json!(c.head_sha);
    v["status"] = json!(c.status);
    v["conclusion"] = json!(c.conclusion);
    v["details_url"] = json!(c.details_url);
    v["external_id"] = json!(c.external_id.clone().unwrap_or_default());
    v["url"] = json!(api);
    v["html_url"] = json!(format!("{}/{full}/runs/{}", state.base_url, c.id));
    v["started_at"] = json!(timestamp(c.started_at));
    v["completed_at"] = json!(c.completed_at.map(timestamp));
    v["pull_requests"] = json!([]);
    v["app"] = app(state);
    v["app"]["owner"] = user_by_login(state, &r.owner);
    v["output"] = json!({
        "title": c.title,
        "summary": c.summary,
        "text": c.text,
        "annotations_count": c.annotations.len(),
        "annotations_url": format!("{api}/annotations"),
    });
    v
}

fn pull_common(state: &State, r: &Repo, p: &Pull, mut v: Value) -> Value {
    let full = r.full_name();
    let base = &state.base_url;
    let api = format!("{base}/repos/{full}/pulls/{}", p.number);
    v["id"] = json!(p.id);
    v["node_id"] = json!(node_id("PullRequest", p.id));
    v["number"] = json!(p.number);
    v["title"] = json!(p.title);
    v["body"] = json!(p.body);
    v["state"] = json!(p.state);
    v["draft"] = json!(p.draft);
    v["locked"] = json!(false);
    v["user"] = user_by_login(state, &p.user);
    v["url"] = json!(api);
    v["html_url"] = json!(format!("{base}/{full}/pull/{}", p.number));
    v["issue_url"] = json!(format!("{base}/repos/{full}/issues/{}", p.number));
    v["created_at"] = json!(timestamp(p.created_at));
    v["updated_at"] = json!(timestamp(p.updated_at));
    v["closed_at"] = Value::Null;
    v["merged_at"] = Value::Null;
    v["merge_commit_sha"] = Value::Null;
    v["assignee"] = Value::Null;
    v["assignees"] = json!([]);
    v["milestone"] = Value::Null;
    v["labels"] = json!([]);
    v["requested_teams"] = json!([]);
    v["auto_merge"] = Value::Null;
    v["author_association"] = json!("NONE");
    v["requested_reviewers"] = p.requested_reviewers.iter().map(|l| user_by_login(state, l)).collect();
    let repo_json = repository(state, r, false);
    let owner = user_by_login(state, &r.owner);
    for (side, reference, sha) in [("head", &p.head, &p.head_sha), ("base", &p.base, &p.base_sha)] {
        v[side]["ref"] = json!(reference);
        v[side]["sha"] = json!(sha);
        v[side]["label"] = json!(format!("{}:{reference}", r.owner));
        v[side]["repo"] = repo_json.clone();
        v[side]["user"] = owner.clone();
    }
    v
}

pub fn pull(state: &State, r: &Repo, p: &Pull) -> Value {
    let v = example(state, "pull-request", Some(&r.full_name()));
    let mut v = pull_common(state, r, p, v);
    v["merged"] = json!(false);
    v["merged_by"] = Value::Null;
    v["mergeable"] = Value::Null;
    v["rebaseable"] = Value::Null;
    v["mergeable_state"] = json!("unknown");
    v["comments"] = json!(r.comments.iter().filter(|c| c.issue == p.number).count());
    v["review_comments"] = json!(r.review_comments.iter().filter(|c| c.pull == p.number).count());
    v["maintainer_can_modify"] = json!(p.maintainer_can_modify);
    v["commits"] = json!(1);
    let files = super::api_pulls::diff(r, p);
    v["changed_files"] = json!(files.len());
    v["additions"] = json!(files.iter().map(|f| f.additions).sum::<u64>());
    v["deletions"] = json!(files.iter().map(|f| f.deletions).sum::<u64>());
    v
}

pub fn pull_simple(state: &State, r: &Repo, p: &Pull) -> Value {
    let v = example(state, "pull-request-simple-items", Some(&r.full_name()))[0].clone();
    pull_common(state, r, p, v)
}

pub fn review_comment(state: &State, r: &Repo, c: &ReviewComment) -> Value {
    let full = r.full_name();
    let mut v = example(state, "pull-request-review-comment", Some(&full));
    v["id"] = json!(c.id);
    v["node_id"] = json!(node_id("PullRequestReviewComment", c.id));
    v["body"] = json!(c.body);
    v["in_reply_to_id"] = json!(c.in_reply_to);
    v["user"] = user_by_login(state, &c.user);
    v["url"] = json!(format!("{}/repos/{full}/pulls/comments/{}", state.base_url, c.id));
    v["pull_request_url"] = json!(format!("{}/repos/{full}/pulls/{}", state.base_url, c.pull));
    v["created_at"] = json!(timestamp(c.created_at));
    v["updated_at"] = json!(timestamp(c.created_at));
    v
}

pub fn file_content(state: &State, r: &Repo, reference: &str, path: &str, bytes: &[u8]) -> Value {
    let full = r.full_name();
    let mut v = example(state, "content-file-response-if-content-is-a-file", Some(&full));
    let sha = blob_sha(bytes);
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    // GitHub wraps the base64 payload at 60 characters per line.
    let wrapped: Vec<String> = encoded.as_bytes().chunks(60).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let name = path.rsplit('/').next().unwrap_or(path);
    let api = format!("{}/repos/{full}/contents/{path}?ref={reference}", state.base_url);
    let html = format!("{}/{full}/blob/{reference}/{path}", state.base_url);
    let git = format!("{}/repos/{full}/git/blobs/{sha}", state.base_url);
    v["type"] = json!("file");
    v["encoding"] = json!("base64");
    v["size"] = json!(bytes.len());
    v["name"] = json!(name);
    v["path"] = json!(path);
    v["content"] = json!(wrapped.join("\n") + "\n");
    v["sha"] = json!(sha);
    v["url"] = json!(api);
    v["git_url"] = json!(git);
    v["html_url"] = json!(html);
    v["download_url"] = json!(format!("{}/{full}/raw/{reference}/{path}", state.base_url));
    v["_links"] = json!({ "self": api, "git": git, "html": html });
    v.as_object_mut().expect("content object").remove("target");
    v.as_object_mut().expect("content object").remove("submodule_git_url");
    v
}

/// One entry of a directory listing (`type` is `file` or `dir`).
pub fn dir_entry(state: &State, r: &Repo, reference: &str, path: &str, kind: &str, sha: &str, size: usize) -> Value {
    let full = r.full_name();
    let api = format!("{}/repos/{full}/contents/{path}?ref={reference}", state.base_url);
    let html = format!("{}/{full}/{}/{reference}/{path}", state.base_url, if kind == "dir" { "tree" } else { "blob" });
    let git = format!("{}/repos/{full}/git/{}/{sha}", state.base_url, if kind == "dir" { "trees" } else { "blobs" });
    json!({
        "type": kind,
        "size": size,
        "name": path.rsplit('/').next().unwrap_or(path),
        "path": path,
        "sha": sha,
        "url": api,
        "git_url": git,
        "html_url": html,
        "download_url": if kind == "file" { json!(format!("{}/{full}/raw/{reference}/{path}", state.base_url)) } else { Value::Null },
        "_links": { "self": api, "git": git, "html": html },
    })
}

pub fn error(message: &str, doc_url: &str, status: u16) -> Value {
    json!({ "message": message, "documentation_url": doc_url, "status": status.to_string() })
}
