//! Pull requests: list (by state/head/base), create (head and base must be existing,
//! different branches; one open PR per head/base pair), get, update, changed files (a real
//! diff of the two branches' files), review requests and review-comment replies.

use serde_json::Value;

use super::model::{Issue, Pull, Repo, ReviewComment, blob_sha};
use super::render;
use super::server::{Ctx, Reply};

pub struct FileChange {
    pub filename: String,
    pub status: &'static str,
    pub additions: u64,
    pub deletions: u64,
    pub sha: String,
}

pub fn as_issue(p: &Pull) -> Issue {
    Issue {
        number: p.number,
        id: p.id,
        title: p.title.clone(),
        body: p.body.clone().unwrap_or_default(),
        labels: Vec::new(),
        state: p.state.clone(),
        user: p.user.clone(),
        created_at: p.created_at,
    }
}

fn lines(bytes: &[u8]) -> u64 {
    String::from_utf8_lossy(bytes).lines().count() as u64
}

/// Whole-file granularity is enough for Maxion (it reports which files changed).
pub fn diff(r: &Repo, p: &Pull) -> Vec<FileChange> {
    let empty = Default::default();
    let head = r.branches.get(&p.head).map(|b| &b.files).unwrap_or(&empty);
    let base = r.branches.get(&p.base).map(|b| &b.files).unwrap_or(&empty);
    let mut out = Vec::new();
    for (path, bytes) in head {
        match base.get(path) {
            None => out.push(FileChange {
                filename: path.clone(),
                status: "added",
                additions: lines(bytes),
                deletions: 0,
                sha: blob_sha(bytes),
            }),
            Some(old) if old != bytes => out.push(FileChange {
                filename: path.clone(),
                status: "modified",
                additions: lines(bytes),
                deletions: lines(old),
                sha: blob_sha(bytes),
            }),
            Some(_) => {}
        }
    }
    for (path, old) in base {
        if !head.contains_key(path) {
            out.push(FileChange {
                filename: path.clone(),
                status: "removed",
                additions: 0,
                deletions: lines(old),
                sha: blob_sha(old),
            });
        }
    }
    out
}

pub fn list(ctx: &mut Ctx) -> Reply {
    let r = ctx.state.repo(ctx.repo_id());
    let state = ctx.query.get("state").map(String::as_str).unwrap_or("open");
    let head = ctx.query.get("head").map(|h| match h.split_once(':') {
        Some((owner, branch)) => (Some(owner.to_string()), branch.to_string()),
        None => (None, h.clone()),
    });
    let base = ctx.query.get("base");
    let mut pulls: Vec<&Pull> = r
        .pulls
        .values()
        .filter(|p| state == "all" || p.state == state)
        .filter(|p| match &head {
            Some((owner, branch)) => {
                owner
                    .as_ref()
                    .is_none_or(|o| o.eq_ignore_ascii_case(&r.owner))
                    && *branch == p.head
            }
            None => true,
        })
        .filter(|p| base.is_none_or(|b| *b == p.base))
        .collect();
    if ctx.query.get("direction").map(String::as_str) != Some("asc") {
        pulls.reverse();
    }
    let items: Vec<Value> = pulls
        .into_iter()
        .map(|p| render::pull_simple(ctx.state, r, p))
        .collect();
    ctx.paginate(items)
}

pub fn create(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let head_raw = ctx.body["head"].as_str().unwrap_or_default().to_string();
    let base = ctx.body["base"].as_str().unwrap_or_default().to_string();
    let r = ctx.state.repo(rid);
    let head = match head_raw.split_once(':') {
        Some((owner, branch)) if owner.eq_ignore_ascii_case(&r.owner) => branch.to_string(),
        Some(_) => {
            return ctx
                .unprocessable("Validation Failed: head is invalid (forks are not modelled)");
        }
        None => head_raw.clone(),
    };
    let Some(head_branch) = r.branches.get(&head) else {
        return ctx.unprocessable(&format!("Validation Failed: head `{head}` is not a branch"));
    };
    let Some(base_branch) = r.branches.get(&base) else {
        return ctx.unprocessable(&format!("Validation Failed: base `{base}` is not a branch"));
    };
    if head == base || head_branch.files == base_branch.files {
        return ctx.unprocessable(&format!(
            "Validation Failed: No commits between {base} and {head}"
        ));
    }
    if r.pulls
        .values()
        .any(|p| p.state == "open" && p.head == head && p.base == base)
    {
        return ctx.unprocessable(&format!(
            "Validation Failed: A pull request already exists for {}:{head}.",
            r.owner
        ));
    }
    let Some(title) = ctx.body["title"].as_str().map(str::to_string) else {
        return ctx.unprocessable("Validation Failed: title is missing");
    };
    let (head_sha, base_sha) = (head_branch.sha.clone(), base_branch.sha.clone());
    let now = ctx.state.now();
    let id = ctx.state.next_id();
    let user = ctx.actor();
    let r = ctx.state.repo_mut(rid);
    r.next_number += 1;
    let pull = Pull {
        number: r.next_number,
        id,
        title,
        body: ctx.body["body"].as_str().map(str::to_string),
        head,
        head_sha,
        base,
        base_sha,
        draft: ctx.body["draft"].as_bool().unwrap_or(false),
        state: "open".into(),
        maintainer_can_modify: ctx.body["maintainer_can_modify"].as_bool().unwrap_or(false),
        requested_reviewers: Vec::new(),
        user,
        created_at: now,
        updated_at: now,
    };
    r.pulls.insert(pull.number, pull.clone());
    let r = ctx.state.repo(rid);
    Reply::created(render::pull(ctx.state, r, &pull))
}

pub fn get(ctx: &mut Ctx) -> Reply {
    let r = ctx.state.repo(ctx.repo_id());
    match r.pulls.get(&ctx.num("pull_number")) {
        Some(p) => Reply::ok(render::pull(ctx.state, r, p)),
        None => ctx.not_found(),
    }
}

pub fn update(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let n = ctx.num("pull_number");
    let now = ctx.state.now();
    let body = ctx.body.clone();
    if let Some(base) = body["base"].as_str()
        && !ctx.state.repo(rid).branches.contains_key(base)
    {
        return ctx.unprocessable(&format!("Validation Failed: base `{base}` is not a branch"));
    }
    let Some(p) = ctx.state.repo_mut(rid).pulls.get_mut(&n) else {
        return ctx.not_found();
    };
    if let Some(t) = body["title"].as_str() {
        p.title = t.to_string();
    }
    if body.get("body").is_some() {
        p.body = body["body"].as_str().map(str::to_string);
    }
    if let Some(s) = body["state"].as_str() {
        p.state = s.to_string();
    }
    if let Some(b) = body["base"].as_str() {
        p.base = b.to_string();
    }
    if let Some(m) = body["maintainer_can_modify"].as_bool() {
        p.maintainer_can_modify = m;
    }
    p.updated_at = now;
    let p = p.clone();
    let r = ctx.state.repo(rid);
    Reply::ok(render::pull(ctx.state, r, &p))
}

pub fn files(ctx: &mut Ctx) -> Reply {
    let r = ctx.state.repo(ctx.repo_id());
    let Some(p) = r.pulls.get(&ctx.num("pull_number")) else {
        return ctx.not_found();
    };
    let template = super::spec::spec().example("diff-entry-items")[0].clone();
    let base = &ctx.state.base_url;
    let full = r.full_name();
    let items = diff(r, p)
        .into_iter()
        .map(|f| {
            let mut v = template.clone();
            v["sha"] = f.sha.clone().into();
            v["filename"] = f.filename.clone().into();
            v["status"] = f.status.into();
            v["additions"] = f.additions.into();
            v["deletions"] = f.deletions.into();
            v["changes"] = (f.additions + f.deletions).into();
            v["blob_url"] = format!("{base}/{full}/blob/{}/{}", p.head_sha, f.filename).into();
            v["raw_url"] = format!("{base}/{full}/raw/{}/{}", p.head_sha, f.filename).into();
            v["contents_url"] = format!(
                "{base}/repos/{full}/contents/{}?ref={}",
                f.filename, p.head_sha
            )
            .into();
            v.as_object_mut().expect("diff entry").remove("patch");
            v
        })
        .collect();
    ctx.paginate(items)
}

pub fn request_reviewers(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let n = ctx.num("pull_number");
    let r = ctx.state.repo(rid);
    let Some(p) = r.pulls.get(&n) else {
        return ctx.not_found();
    };
    let wanted: Vec<String> = ctx.body["reviewers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    for login in &wanted {
        let collaborator =
            *login == r.owner || r.permissions.get(login).is_some_and(|l| l != "none");
        if !collaborator {
            return ctx.unprocessable(&format!(
                "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the {} repository.",
                r.full_name()
            ));
        }
        if *login == p.user {
            return ctx.unprocessable("Review cannot be requested from pull request author.");
        }
    }
    let p = ctx
        .state
        .repo_mut(rid)
        .pulls
        .get_mut(&n)
        .expect("checked above");
    for login in wanted {
        if !p.requested_reviewers.contains(&login) {
            p.requested_reviewers.push(login);
        }
    }
    let p = p.clone();
    let r = ctx.state.repo(rid);
    Reply::created(render::pull_simple(ctx.state, r, &p))
}

pub fn reply(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let n = ctx.num("pull_number");
    let to = ctx.num("comment_id");
    if !ctx
        .state
        .repo(rid)
        .review_comments
        .iter()
        .any(|c| c.id == to && c.pull == n)
    {
        return ctx.not_found();
    }
    let now = ctx.state.now();
    let id = ctx.state.next_id();
    let c = ReviewComment {
        id,
        pull: n,
        in_reply_to: Some(to),
        user: ctx.actor(),
        body: ctx.body["body"].as_str().unwrap_or_default().to_string(),
        created_at: now,
    };
    ctx.state.repo_mut(rid).review_comments.push(c.clone());
    let r = ctx.state.repo(rid);
    Reply::created(render::review_comment(ctx.state, r, &c))
}
