//! Pull-request calls on a [`RepoClient`]: create (at most once), update,
//! find by head branch, changed files, reviewers, review-comment replies.

use http::Method;
use serde::Deserialize;

use super::error::GitHubError;
use super::ids::{CommentId, IssueNumber};
use super::repo::{RepoClient, enc};
use super::tokens::Permissions;
use super::transport::Safety;
use super::types::{ChangedFile, Comment, NewPullRequest, PullRequest, PullRequestUpdate};

#[derive(Deserialize)]
struct PullResponse {
    number: IssueNumber,
    #[serde(default)]
    html_url: String,
    state: String,
    #[serde(default)]
    draft: bool,
    #[serde(default)]
    merged: bool,
    merged_at: Option<String>,
    title: String,
    body: Option<String>,
    head: BranchRef,
    base: BranchRef,
}

#[derive(Deserialize)]
struct BranchRef {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    sha: String,
}

impl From<PullResponse> for PullRequest {
    fn from(p: PullResponse) -> Self {
        PullRequest {
            number: p.number,
            html_url: p.html_url,
            state: p.state,
            draft: p.draft,
            // List responses carry `merged_at` but not `merged`.
            merged: p.merged || p.merged_at.is_some(),
            title: p.title,
            body: p.body,
            head_ref: p.head.git_ref,
            head_sha: p.head.sha,
            base_ref: p.base.git_ref,
        }
    }
}

impl RepoClient {
    /// Opens a PR from `new.head` (a branch of this repository). After an
    /// unknown outcome, an existing PR for the head branch is returned instead
    /// of sending the request again.
    pub async fn create_pull(&self, new: &NewPullRequest) -> Result<PullRequest, GitHubError> {
        let mut body = serde_json::to_value(new).map_err(|e| GitHubError::Config(e.to_string()))?;
        body["body"] = serde_json::Value::String(crate::masker::global().mask(&new.body));
        body["title"] = serde_json::Value::String(crate::masker::global().mask(&new.title));
        let send = || {
            self.send::<PullResponse>(
                Permissions::pulls_write(),
                Method::POST,
                self.path("/pulls"),
                body.clone(),
                Safety::NonIdempotent,
                "pull request",
            )
        };
        // Each unknown outcome is followed by a look for the PR, so a re-send
        // never opens a second one; a re-send can fail in turn, as often as
        // the retry policy allows any call to.
        let mut delay = self.app.inner.retry.min_delay;
        let mut last = None;
        for _ in 0..=self.app.inner.retry.max_retries {
            match send().await {
                Ok(p) => return Ok(p.into()),
                Err(e) if e.outcome_unknown() => {
                    tracing::warn!(error = %e, "creating the PR had an unknown outcome; looking for it before re-sending");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(self.app.inner.retry.max_delay);
                    let open = self.list_pulls_by_head(&new.head).await?;
                    if let Some(p) = open.into_iter().find(|p| p.state == "open") {
                        return Ok(p);
                    }
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(GitHubError::Api { status: 500, message: "no attempt made".into() }))
    }

    pub async fn update_pull(
        &self,
        number: IssueNumber,
        update: &PullRequestUpdate,
    ) -> Result<PullRequest, GitHubError> {
        let mut update = update.clone();
        update.body = update.body.map(|b| crate::masker::global().mask(&b));
        update.title = update.title.map(|t| crate::masker::global().mask(&t));
        let body = serde_json::to_value(&update).map_err(|e| GitHubError::Config(e.to_string()))?;
        let p: PullResponse = self
            .send(
                Permissions::pulls_write(),
                Method::PATCH,
                self.path(&format!("/pulls/{number}")),
                body,
                Safety::Idempotent,
                "pull request",
            )
            .await?;
        Ok(p.into())
    }

    pub async fn get_pull(&self, number: IssueNumber) -> Result<PullRequest, GitHubError> {
        let p: PullResponse =
            self.get(Permissions::pulls_read(), self.path(&format!("/pulls/{number}")), "pull request").await?;
        Ok(p.into())
    }

    /// PRs (open and closed) whose head is `branch` of this repository.
    pub async fn list_pulls_by_head(&self, branch: &str) -> Result<Vec<PullRequest>, GitHubError> {
        let head = format!("{}:{}", self.owner, branch);
        let path = self.path(&format!("/pulls?state=all&head={}", enc(&head)));
        let list: Vec<PullResponse> = self.get_pages(Permissions::pulls_read(), &path, "pull requests").await?;
        Ok(list.into_iter().map(Into::into).collect())
    }

    /// Files the PR changes (all pages; GitHub stops at 3,000).
    pub async fn pull_files(&self, number: IssueNumber) -> Result<Vec<ChangedFile>, GitHubError> {
        self.get_pages(Permissions::pulls_read(), &self.path(&format!("/pulls/{number}/files")), "pull request files")
            .await
    }

    /// Asks users and/or teams (slugs) to review. Asking twice is harmless.
    pub async fn request_reviewers(
        &self,
        number: IssueNumber,
        users: &[String],
        teams: &[String],
    ) -> Result<(), GitHubError> {
        let body = serde_json::json!({"reviewers": users, "team_reviewers": teams});
        self.send::<serde_json::Value>(
            Permissions::pulls_write(),
            Method::POST,
            self.path(&format!("/pulls/{number}/requested_reviewers")),
            body,
            Safety::Idempotent,
            "pull request",
        )
        .await
        .map(drop)
    }

    /// Replies in the thread of a review comment.
    pub async fn reply_to_review_comment(
        &self,
        number: IssueNumber,
        comment_id: CommentId,
        body: &str,
    ) -> Result<Comment, GitHubError> {
        let body = serde_json::json!({"body": crate::masker::global().mask(body)});
        self.send(
            Permissions::pulls_write(),
            Method::POST,
            self.path(&format!("/pulls/{number}/comments/{comment_id}/replies")),
            body,
            Safety::NonIdempotent,
            "review comment",
        )
        .await
    }
}
