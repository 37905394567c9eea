//! Issues, issue comments, reactions and the issue timeline. Issue numbers are shared with
//! pull requests, as on GitHub: a PR number is a valid issue number for comments.

use serde_json::{Value, json};

use super::model::{Comment, Reaction, ReactionTarget, RepoId, timestamp};
use super::render;
use super::server::{Ctx, Reply};

fn issue_exists(ctx: &Ctx, rid: RepoId, number: u64) -> bool {
    let r = ctx.state.repo(rid);
    r.issues.contains_key(&number) || r.pulls.contains_key(&number)
}

/// GitHub's comment limit; the reporter must truncate, so crossing it is a violation.
fn too_long(ctx: &mut Ctx, body: &str) -> Option<Reply> {
    let chars = body.chars().count();
    if chars <= 65_536 {
        return None;
    }
    let what = format!("{}: comment body of {chars} characters", ctx.path);
    ctx.state.violation(what);
    Some(ctx.unprocessable("Validation Failed: body is too long (maximum is 65536 characters)"))
}

pub fn get_issue(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let n = ctx.num("issue_number");
    let r = ctx.state.repo(rid);
    if let Some(i) = r.issues.get(&n) {
        return Reply::ok(render::issue(ctx.state, r, i));
    }
    if let Some(p) = r.pulls.get(&n) {
        let mut v = render::issue(ctx.state, r, &super::api_pulls::as_issue(p));
        v["pull_request"] = json!({
            "url": format!("{}/repos/{}/pulls/{n}", ctx.state.base_url, r.full_name()),
            "html_url": format!("{}/{}/pull/{n}", ctx.state.base_url, r.full_name()),
            "diff_url": format!("{}/{}/pull/{n}.diff", ctx.state.base_url, r.full_name()),
            "patch_url": format!("{}/{}/pull/{n}.patch", ctx.state.base_url, r.full_name()),
            "merged_at": null,
        });
        return Reply::ok(v);
    }
    ctx.not_found()
}

pub fn list_comments(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let n = ctx.num("issue_number");
    if !issue_exists(ctx, rid, n) {
        return ctx.not_found();
    }
    let since = ctx
        .query
        .get("since")
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&chrono::Utc));
    let r = ctx.state.repo(rid);
    let items: Vec<Value> = r
        .comments
        .iter()
        .filter(|c| c.issue == n && since.is_none_or(|s| c.updated_at >= s))
        .map(|c| render::comment(ctx.state, r, c))
        .collect();
    ctx.paginate(items)
}

pub fn create_comment(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let n = ctx.num("issue_number");
    if !issue_exists(ctx, rid, n) {
        return ctx.not_found();
    }
    let body = ctx.body["body"].as_str().unwrap_or_default().to_string();
    if let Some(refusal) = too_long(ctx, &body) {
        return refusal;
    }
    let login = ctx.actor();
    ctx.state.user(&login);
    let now = ctx.state.now();
    let id = ctx.state.next_id();
    let c = Comment {
        id,
        issue: n,
        user: login,
        body: body.clone(),
        history: vec![body],
        created_at: now,
        updated_at: now,
    };
    ctx.state.repo_mut(rid).comments.push(c.clone());
    let r = ctx.state.repo(rid);
    Reply::created(render::comment(ctx.state, r, &c))
}

pub fn update_comment(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let id = ctx.num("comment_id");
    let body = ctx.body["body"].as_str().unwrap_or_default().to_string();
    if let Some(refusal) = too_long(ctx, &body) {
        return refusal;
    }
    let now = ctx.state.now();
    let actor = ctx.actor();
    let Some(c) = ctx
        .state
        .repo_mut(rid)
        .comments
        .iter_mut()
        .find(|c| c.id == id)
    else {
        return ctx.not_found();
    };
    if c.user != actor {
        // An App may only edit its own comments.
        let what = format!("PATCH {}: editing a comment by {}", ctx.path, c.user);
        ctx.state.violation(what);
        return Reply::error(403, "Resource not accessible by integration", &ctx.doc_url);
    }
    c.body = body.clone();
    c.history.push(body);
    c.updated_at = now;
    let c = c.clone();
    let r = ctx.state.repo(rid);
    Reply::ok(render::comment(ctx.state, r, &c))
}

fn react(ctx: &mut Ctx, target: ReactionTarget) -> Reply {
    let rid = ctx.repo_id();
    let content = ctx.body["content"].as_str().unwrap_or_default().to_string();
    let login = ctx.actor();
    let now = ctx.state.now();
    let existing = ctx
        .state
        .repo(rid)
        .reactions
        .iter()
        .find(|x| x.target == target && x.content == content && x.user == login)
        .cloned();
    if let Some(x) = existing {
        // Reacting twice is idempotent on GitHub: 200 with the existing reaction.
        return Reply::ok(render::reaction(ctx.state, &x));
    }
    let id = ctx.state.next_id();
    let x = Reaction {
        id,
        target,
        content,
        user: login,
        created_at: now,
    };
    ctx.state.repo_mut(rid).reactions.push(x.clone());
    Reply::created(render::reaction(ctx.state, &x))
}

pub fn react_issue(ctx: &mut Ctx) -> Reply {
    let n = ctx.num("issue_number");
    if !issue_exists(ctx, ctx.repo_id(), n) {
        return ctx.not_found();
    }
    react(ctx, ReactionTarget::Issue(n))
}

pub fn react_comment(ctx: &mut Ctx) -> Reply {
    let id = ctx.num("comment_id");
    if !ctx
        .state
        .repo(ctx.repo_id())
        .comments
        .iter()
        .any(|c| c.id == id)
    {
        return ctx.not_found();
    }
    react(ctx, ReactionTarget::Comment(id))
}

/// `commented` events for the issue's comments and `cross-referenced` events for pull
/// requests whose body mentions `#N`, oldest first.
pub fn timeline(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let n = ctx.num("issue_number");
    if !issue_exists(ctx, rid, n) {
        return ctx.not_found();
    }
    let r = ctx.state.repo(rid);
    let mut events: Vec<(chrono::DateTime<chrono::Utc>, Value)> = Vec::new();
    for c in r.comments.iter().filter(|c| c.issue == n) {
        let mut v = render::comment(ctx.state, r, c);
        v["event"] = json!("commented");
        v["actor"] = render::user_by_login(ctx.state, &c.user);
        events.push((c.created_at, v));
    }
    let mention = format!("#{n}");
    for p in r.pulls.values().filter(|p| p.number != n) {
        let body = p.body.clone().unwrap_or_default();
        let mentions = body
            .match_indices(&mention)
            .any(|(i, _)| !body[i + mention.len()..].starts_with(|c: char| c.is_ascii_digit()));
        if !mentions {
            continue;
        }
        let mut source = render::issue(ctx.state, r, &super::api_pulls::as_issue(p));
        source["pull_request"] = json!({
            "url": format!("{}/repos/{}/pulls/{}", ctx.state.base_url, r.full_name(), p.number),
            "html_url": format!("{}/{}/pull/{}", ctx.state.base_url, r.full_name(), p.number),
            "diff_url": null, "patch_url": null, "merged_at": null,
        });
        source["repository"] = render::repository(ctx.state, r, false);
        events.push((
            p.created_at,
            json!({
                "event": "cross-referenced",
                "actor": render::user_by_login(ctx.state, &p.user),
                "created_at": timestamp(p.created_at),
                "updated_at": timestamp(p.updated_at),
                "source": { "type": "issue", "issue": source },
            }),
        ));
    }
    events.sort_by_key(|(t, _)| *t);
    ctx.paginate(events.into_iter().map(|(_, v)| v).collect())
}
