//! Webhook payloads as GitHub sends them, for one installation and
//! repository: the one place the tests build `issues`, `issue_comment`,
//! `pull_request_review_comment` and `check_run` bodies.

use serde_json::{Value, json};

/// Where deliveries come from: an installation and one of its repositories.
#[derive(Clone, Debug)]
pub struct Source {
    pub installation: u64,
    pub repository: Value,
    /// The REST base URL pull request links point at.
    pub api_url: String,
}

impl Source {
    /// `octo/demo` of installation 77 (not on the fake GitHub), for the
    /// intake tests.
    pub fn unknown() -> Source {
        Source {
            installation: 77,
            repository: json!({"id": 4242, "name": "demo", "full_name": "octo/demo", "private": false,
                               "clone_url": "https://github.com/octo/demo.git", "default_branch": "main"}),
            api_url: "https://api.github.com".into(),
        }
    }

    fn full_name(&self) -> &str {
        self.repository["full_name"].as_str().unwrap_or_default()
    }

    fn envelope(&self, action: &str, sender: &str) -> Value {
        json!({
            "action": action,
            "repository": self.repository,
            "installation": {"id": self.installation},
            "sender": user(sender),
        })
    }

    /// `issues` `labeled`/`unlabeled` with the trigger label `maxion`, by `sender`.
    pub fn label(&self, action: &str, issue: u64, title: &str, body: &str, sender: &str) -> Value {
        let mut v = self.envelope(action, sender);
        v["label"] = json!({"id": 1, "name": "maxion", "color": "ededed"});
        v["issue"] = json!({"number": issue, "title": title, "body": body, "state": "open", "user": user("alice")});
        v
    }

    /// `issue_comment` (`created`, `edited` with the body it had `from`, `deleted`).
    pub fn comment(
        &self,
        action: &str,
        issue: u64,
        comment_id: u64,
        login: &str,
        body: &str,
        from: Option<&str>,
    ) -> Value {
        let mut v = self.envelope(action, login);
        v["comment"] = json!({"id": comment_id, "body": body, "user": user(login)});
        v["issue"] = json!({"number": issue, "title": format!("Issue {issue}"), "state": "open"});
        if let Some(from) = from {
            v["changes"] = json!({"body": {"from": from}});
        }
        v
    }

    /// `issue_comment` `created` on pull request `pull` (an issue with a `pull_request` object).
    pub fn pr_comment(&self, pull: u64, comment_id: u64, login: &str, body: &str) -> Value {
        let mut v = self.comment("created", pull, comment_id, login, body, None);
        v["issue"]["pull_request"] =
            json!({"url": format!("{}/repos/{}/pulls/{pull}", self.api_url, self.full_name()), "merged_at": null});
        v
    }

    /// `pull_request_review_comment` `created` on `path` at `line` of the diff.
    pub fn review_comment(&self, pull: u64, id: u64, login: &str, at: (&str, i64, &str), body: &str) -> Value {
        let (path, line, diff_hunk) = at;
        let mut v = self.envelope("created", login);
        v["comment"] = json!({"id": id, "body": body, "path": path, "line": line, "original_line": line,
                              "diff_hunk": diff_hunk, "user": user(login)});
        v["pull_request"] = json!({"number": pull, "title": format!("Pull {pull}"), "state": "open"});
        v
    }

    /// `check_run` `rerequested` (no identifier) or `requested_action` (a button).
    pub fn check_run(&self, run: u64, sha: &str, external_id: &str, login: &str, identifier: Option<&str>) -> Value {
        let action = if identifier.is_some() { "requested_action" } else { "rerequested" };
        let mut v = self.envelope(action, login);
        v["check_run"] = json!({"id": run, "name": "maxion", "head_sha": sha, "external_id": external_id,
                                "status": "completed"});
        if let Some(id) = identifier {
            v["requested_action"] = json!({"identifier": id});
        }
        v
    }
}

/// A GitHub user as webhooks show one.
pub fn user(login: &str) -> Value {
    json!({"login": login, "id": login.len(), "type": "User"})
}
