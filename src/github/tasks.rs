//! Calls behind the JSON API's `POST /api/jobs`: looking up the user a job
//! is done for, and opening the issue that anchors a free-text task.

use http::Method;

use super::error::GitHubError;
use super::repo::{RepoClient, enc};
use super::tokens::Permissions;
use super::transport::Safety;
use super::types::{Issue, User};

impl RepoClient {
    /// `GET /users/{username}`: the account (its id makes the `Co-authored-by` line).
    pub async fn get_user(&self, login: &str) -> Result<User, GitHubError> {
        self.get(Permissions::metadata_read(), format!("/users/{}", enc(login)), "user").await
    }

    /// `POST /repos/{o}/{r}/issues`. Never re-sent after an unknown outcome
    /// (a second issue would be worse than an error the caller can retry).
    pub async fn create_issue(&self, title: &str, body: &str) -> Result<Issue, GitHubError> {
        let body = crate::masker::global().mask(body);
        let title = crate::masker::global().mask(title);
        let created: super::issues::IssueResponse = self
            .send(
                Permissions::issues_write(),
                Method::POST,
                self.path("/issues"),
                serde_json::json!({"title": title, "body": body}),
                Safety::NonIdempotent,
                "issue",
            )
            .await?;
        Ok(created.into())
    }
}

/// `GET /app/hook/config`: where GitHub delivers the App's webhooks.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HookConfig {
    pub url: Option<String>,
    pub content_type: Option<String>,
}

impl super::GitHubApp {
    /// The App's webhook configuration (App JWT; `maxion doctor` compares its URL).
    pub async fn hook_config(&self) -> Result<HookConfig, GitHubError> {
        let call =
            super::transport::Call::new(Method::GET, "/app/hook/config".to_owned(), "the App's webhook", Safety::Read);
        self.call(super::transport::Auth::App, &call).await?.json("GET /app/hook/config")
    }
}
