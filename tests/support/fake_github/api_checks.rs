//! Check runs: create, update and list per commit, with GitHub's semantics on top of the
//! schema: a conclusion implies `completed`, `completed` needs a conclusion, the head sha
//! must be a commit the repository knows, annotations accumulate across updates, and a
//! listing shows only the newest run of each name unless asked for `filter=all`.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::model::{APP_ID, CheckRun};
use super::render;
use super::server::{Ctx, Reply};

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// Applies the fields of a create/update body; `Err` is GitHub's 422 message.
fn apply_fields(run: &mut CheckRun, body: &Value, now: DateTime<Utc>) -> Result<(), String> {
    if let Some(name) = string(&body["name"]) {
        run.name = name;
    }
    if let Some(s) = string(&body["status"]) {
        run.status = s;
    }
    if let Some(c) = string(&body["conclusion"]) {
        run.conclusion = Some(c);
        run.status = "completed".into();
    }
    if run.status == "completed" && run.conclusion.is_none() {
        return Err("Invalid request.\n\n`conclusion` is required when `status` is `completed`.".into());
    }
    if body.get("details_url").is_some() {
        run.details_url = string(&body["details_url"]);
    }
    if body.get("external_id").is_some() {
        run.external_id = string(&body["external_id"]);
    }
    if let Some(t) = time(&body["started_at"]) {
        run.started_at = t;
    }
    if run.status == "completed" {
        run.completed_at = Some(time(&body["completed_at"]).unwrap_or(now));
    }
    if let Some(output) = body.get("output").filter(|o| o.is_object()) {
        if output.get("title").is_some() {
            run.title = string(&output["title"]);
        }
        if output.get("summary").is_some() {
            run.summary = string(&output["summary"]);
        }
        if output.get("text").is_some() {
            run.text = string(&output["text"]);
        }
        if let Some(a) = output["annotations"].as_array() {
            for ann in a {
                let columns = ann.get("start_column").is_some() || ann.get("end_column").is_some();
                if columns && ann["start_line"] != ann["end_line"] {
                    return Err("Invalid request.\n\n`start_column` and `end_column` may only be used when `start_line` equals `end_line`.".into());
                }
            }
            run.annotations.extend(a.iter().cloned());
        }
    }
    if let Some(actions) = body["actions"].as_array() {
        run.actions = actions.clone();
    }
    Ok(())
}

pub fn create(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let head_sha = ctx.body["head_sha"].as_str().unwrap_or_default().to_string();
    if !ctx.state.repo(rid).commits.contains(&head_sha) {
        return ctx.unprocessable(&format!("No commit found for SHA: {head_sha}"));
    }
    let now = ctx.state.now();
    let id = ctx.state.next_id();
    let mut run = CheckRun::new(id, "", &head_sha, "queued", now);
    let body = ctx.body.clone();
    if let Err(message) = apply_fields(&mut run, &body, now) {
        ctx.state.violation(format!("POST {}: {message}", ctx.path));
        return ctx.unprocessable(&message);
    }
    let r = ctx.state.repo_mut(rid);
    r.check_runs.push(run.clone());
    let r = ctx.state.repo(rid);
    Reply::created(render::check_run(ctx.state, r, &run))
}

pub fn update(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let id = ctx.num("check_run_id");
    let now = ctx.state.now();
    let body = ctx.body.clone();
    let Some(run) = ctx.state.repo_mut(rid).check_runs.iter_mut().find(|c| c.id == id) else {
        return ctx.not_found();
    };
    let mut updated = run.clone();
    match apply_fields(&mut updated, &body, now) {
        Ok(()) => {
            updated.updates += 1;
            *run = updated.clone();
        }
        Err(message) => {
            let path = ctx.path.clone();
            ctx.state.violation(format!("PATCH {path}: {message}"));
            return ctx.unprocessable(&message);
        }
    }
    let r = ctx.state.repo(rid);
    Reply::ok(render::check_run(ctx.state, r, &updated))
}

/// `GET /repos/{owner}/{repo}/commits/{ref}/check-runs`. `ref` is a commit sha or a branch
/// name. GitHub's default `filter=latest` keeps only the most recently created run of each
/// name (what a PR's checks box shows), so a client looking for an older run of the same
/// name, e.g. by `external_id`, must ask for `filter=all`. Newest first; GitHub documents
/// no order, so clients must not rely on this one.
pub fn list_for_ref(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let reference = ctx.param("ref").to_string();
    let r = ctx.state.repo(rid);
    let sha = if r.commits.contains(&reference) {
        reference.clone()
    } else if let Some(b) = r.branches.get(&reference) {
        b.sha.clone()
    } else {
        return ctx.unprocessable(&format!("No commit found for SHA: {reference}"));
    };
    let name = ctx.query.get("check_name");
    let status = ctx.query.get("status");
    let other_app = ctx.query.get("app_id").is_some_and(|id| *id != APP_ID.to_string());
    let latest_only = ctx.query.get("filter").is_none_or(|f| f == "latest");
    let mut runs: Vec<&CheckRun> = r
        .check_runs
        .iter()
        .filter(|c| c.head_sha == sha && !other_app)
        .filter(|c| name.is_none_or(|n| c.name == *n) && status.is_none_or(|s| c.status == *s))
        .collect();
    runs.sort_by_key(|c| std::cmp::Reverse(c.id));
    if latest_only {
        let mut seen = BTreeSet::new();
        runs.retain(|c| seen.insert(c.name.clone()));
    }
    let items: Vec<Value> = runs.iter().map(|c| render::check_run(ctx.state, r, c)).collect();
    let total = items.len();
    let page = ctx.paginate(items);
    Reply { status: 200, body: json!({ "total_count": total, "check_runs": page.body }), headers: page.headers }
}
