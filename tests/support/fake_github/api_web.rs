//! What Maxion's JSON API and web pages call: opening an issue (a free-text
//! task), and a reader for the issues the bot opened. Kept apart from the
//! pipeline's endpoints so parallel work on the fake merges cleanly.

use super::FakeGitHub;
use super::model::{Issue, RepoId};
use super::render;
use super::server::{Ctx, Reply};

/// `POST /repos/{owner}/{repo}/issues`. The schema (title required) is checked
/// before this runs; GitHub's own rules on top of it are checked here.
pub fn create_issue(ctx: &mut Ctx) -> Reply {
    let rid = ctx.repo_id();
    let title = match &ctx.body["title"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if title.trim().is_empty() {
        return ctx.unprocessable("Validation Failed: title can't be blank");
    }
    if title.chars().count() > 256 {
        return ctx.unprocessable("Validation Failed: title is too long (maximum is 256 characters)");
    }
    let body = ctx.body["body"].as_str().unwrap_or_default().to_owned();
    if body.chars().count() > 65_536 {
        return ctx.unprocessable("Validation Failed: body is too long (maximum is 65536 characters)");
    }
    let login = ctx.actor();
    ctx.state.user(&login);
    let id = ctx.state.next_id();
    let now = ctx.state.now();
    let r = ctx.state.repo_mut(rid);
    r.next_number += 1;
    let issue = Issue {
        number: r.next_number,
        id,
        title,
        body,
        labels: Vec::new(),
        state: "open".into(),
        user: login,
        created_at: now,
    };
    r.issues.insert(issue.number, issue.clone());
    let r = ctx.state.repo(rid);
    Reply::created(render::issue(ctx.state, r, &issue))
}

/// `GET /app/hook/config` (App JWT): the App's webhook delivery settings.
pub fn hook_config(ctx: &mut Ctx) -> Reply {
    let url = ctx.state.oauth.hook_url.clone().unwrap_or_default();
    Reply::ok(serde_json::json!({"content_type": "json", "insecure_ssl": "0", "secret": "********", "url": url}))
}

impl FakeGitHub {
    /// The webhook URL set on the App's page.
    pub fn set_hook_url(&self, url: &str) {
        self.lock().oauth.hook_url = Some(url.to_owned());
    }

    /// An issue's `(title, body, author)`.
    pub fn issue(&self, repo: RepoId, number: u64) -> Option<(String, String, String)> {
        let s = self.lock();
        s.repo(repo).issues.get(&number).map(|i| (i.title.clone(), i.body.clone(), i.user.clone()))
    }

    /// Closes an issue (as a maintainer would on github.com).
    pub fn close_issue(&self, repo: RepoId, number: u64) {
        let mut s = self.lock();
        if let Some(i) = s.repo_mut(repo).issues.get_mut(&number) {
            i.state = "closed".into();
        }
    }
}
