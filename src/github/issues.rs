//! Issue-side calls on a [`RepoClient`]: issues, comments (including the
//! marked status comment that must never be posted twice), reactions,
//! search and timeline cross-references.

use http::Method;
use serde::Deserialize;

use super::error::GitHubError;
use super::ids::{CommentId, IssueNumber};
use super::repo::{RepoClient, enc};
use super::tokens::Permissions;
use super::transport::Safety;
use super::types::{Comment, Issue, Reaction, RelatedItem, User};

#[derive(Deserialize)]
struct IssueResponse {
    number: IssueNumber,
    title: String,
    body: Option<String>,
    state: String,
    #[serde(default)]
    labels: Vec<LabelOrName>,
    user: Option<User>,
    #[serde(default)]
    html_url: String,
    pull_request: Option<serde_json::Value>,
    repository_url: Option<String>,
}

/// Labels come as objects; be lenient about bare strings.
#[derive(Deserialize)]
#[serde(untagged)]
enum LabelOrName {
    Obj { name: String },
    Name(String),
}

impl From<IssueResponse> for Issue {
    fn from(r: IssueResponse) -> Self {
        Issue {
            number: r.number,
            title: r.title,
            body: r.body,
            state: r.state,
            labels: r
                .labels
                .into_iter()
                .map(|l| match l {
                    LabelOrName::Obj { name } | LabelOrName::Name(name) => name,
                })
                .collect(),
            author: r.user.map(|u| u.login),
            html_url: r.html_url,
            is_pull_request: r.pull_request.is_some(),
        }
    }
}

impl IssueResponse {
    fn related(self) -> RelatedItem {
        let repository = self.repository_url.as_deref().and_then(|u| u.split("/repos/").nth(1)).map(str::to_owned);
        RelatedItem {
            number: self.number,
            title: self.title,
            state: self.state,
            html_url: self.html_url,
            is_pull_request: self.pull_request.is_some(),
            repository,
        }
    }
}

#[derive(Deserialize)]
struct SearchResponse {
    items: Vec<IssueResponse>,
}

#[derive(Deserialize)]
struct TimelineEvent {
    #[serde(default)]
    event: String,
    source: Option<TimelineSource>,
}

#[derive(Deserialize)]
struct TimelineSource {
    issue: Option<IssueResponse>,
}

impl RepoClient {
    pub async fn get_issue(&self, number: IssueNumber) -> Result<Issue, GitHubError> {
        let r: IssueResponse =
            self.get(Permissions::issues_read(), self.path(&format!("/issues/{number}")), "issue").await?;
        Ok(r.into())
    }

    /// Every comment on an issue or PR, oldest first (all pages).
    pub async fn list_comments(&self, number: IssueNumber) -> Result<Vec<Comment>, GitHubError> {
        self.get_pages(Permissions::issues_read(), &self.path(&format!("/issues/{number}/comments")), "issue comments")
            .await
    }

    /// Reacts to the issue itself (a label trigger). Re-sending is harmless:
    /// GitHub answers an existing reaction with 200 instead of adding one.
    pub async fn add_issue_reaction(&self, number: IssueNumber, reaction: Reaction) -> Result<(), GitHubError> {
        self.react(&format!("/issues/{number}/reactions"), reaction, "issue").await
    }

    /// Reacts to an issue comment (a `/maxion` trigger).
    pub async fn add_comment_reaction(&self, comment_id: CommentId, reaction: Reaction) -> Result<(), GitHubError> {
        self.react(&format!("/issues/comments/{comment_id}/reactions"), reaction, "comment").await
    }

    /// POSTs a reaction to `repo_path` (under the repository); `what` names the target in errors.
    async fn react(&self, repo_path: &str, reaction: Reaction, what: &'static str) -> Result<(), GitHubError> {
        self.send::<serde_json::Value>(
            Permissions::issues_write(),
            Method::POST,
            self.path(repo_path),
            serde_json::json!({"content": reaction.as_str()}),
            Safety::Idempotent,
            what,
        )
        .await
        .map(drop)
    }

    /// Posts a comment. Not re-sent after an unknown outcome (a 5xx may have
    /// posted it); use [`RepoClient::create_marked_comment`] where a duplicate matters.
    pub async fn create_comment(&self, number: IssueNumber, body: &str) -> Result<Comment, GitHubError> {
        let body = crate::masker::global().mask(body);
        let path = self.path(&format!("/issues/{number}/comments"));
        self.send(
            Permissions::issues_write(),
            Method::POST,
            path,
            serde_json::json!({"body": body}),
            Safety::NonIdempotent,
            "issue",
        )
        .await
    }

    /// Edits a comment in place.
    pub async fn update_comment(&self, comment_id: CommentId, body: &str) -> Result<Comment, GitHubError> {
        let body = crate::masker::global().mask(body);
        let path = self.path(&format!("/issues/comments/{comment_id}"));
        self.send(
            Permissions::issues_write(),
            Method::PATCH,
            path,
            serde_json::json!({"body": body}),
            Safety::Idempotent,
            "comment",
        )
        .await
    }

    /// Maxion's own comment on the issue containing `marker` (a hidden
    /// `<!-- ... -->`), newest first. Comments by others are ignored even if
    /// they quote the marker.
    pub async fn find_own_comment(&self, number: IssueNumber, marker: &str) -> Result<Option<Comment>, GitHubError> {
        let bot_login = format!("{}[bot]", self.app.app_info().await?.slug);
        let comments = self.list_comments(number).await?;
        Ok(comments
            .into_iter()
            .rev()
            .find(|c| c.body.contains(marker) && c.user.as_ref().is_some_and(|u| u.login == bot_login)))
    }

    /// Posts a comment that carries `marker`, at most once: when the outcome of
    /// the POST is unknown (5xx, connection lost), the issue is searched for
    /// the marker before anything is sent again.
    pub async fn create_marked_comment(
        &self,
        number: IssueNumber,
        marker: &str,
        body: &str,
    ) -> Result<Comment, GitHubError> {
        if !body.contains(marker) {
            return Err(GitHubError::Config("create_marked_comment: the body does not contain the marker".into()));
        }
        let attempts = self.app.inner.retry.max_retries + 1;
        let mut delay = self.app.inner.retry.min_delay;
        let mut last = None;
        for _ in 0..attempts {
            match self.create_comment(number, body).await {
                Ok(c) => return Ok(c),
                Err(e) if e.outcome_unknown() => {
                    tracing::warn!(issue = %number, error = %e, "creating the status comment had an unknown outcome; checking before re-sending");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.app.inner.retry.max_delay);
                    if let Some(c) = self.find_own_comment(number, marker).await? {
                        return Ok(c);
                    }
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(GitHubError::Api { status: 500, message: "no attempt made".into() }))
    }

    /// Edits Maxion's comment carrying `marker`, or creates it (once).
    pub async fn upsert_marked_comment(
        &self,
        number: IssueNumber,
        marker: &str,
        body: &str,
    ) -> Result<Comment, GitHubError> {
        match self.find_own_comment(number, marker).await? {
            Some(c) => self.update_comment(c.id, body).await,
            None => self.create_marked_comment(number, marker, body).await,
        }
    }

    /// Issues and PRs of this repository matching `terms` (GitHub search
    /// syntax; the `repo:` qualifier is added here). First 30 hits.
    pub async fn search_issues(&self, terms: &str) -> Result<Vec<RelatedItem>, GitHubError> {
        let q = format!("repo:{}/{} {}", self.owner, self.name, terms);
        let r: SearchResponse =
            self.get(Permissions::issues_read(), format!("/search/issues?q={}&per_page=30", enc(&q)), "search").await?;
        Ok(r.items.into_iter().map(IssueResponse::related).collect())
    }

    /// Issues and PRs that mention this issue (timeline `cross-referenced` events).
    pub async fn cross_references(&self, number: IssueNumber) -> Result<Vec<RelatedItem>, GitHubError> {
        let events: Vec<TimelineEvent> = self
            .get_pages(Permissions::issues_read(), &self.path(&format!("/issues/{number}/timeline")), "issue timeline")
            .await?;
        Ok(events
            .into_iter()
            .filter(|e| e.event == "cross-referenced")
            .filter_map(|e| e.source.and_then(|s| s.issue))
            .map(IssueResponse::related)
            .collect())
    }
}
