//! The minimal typed shapes of the webhook payloads Maxion handles. Only the
//! fields Maxion reads are declared; serde ignores the rest, so GitHub adding
//! fields never breaks intake. Optional where GitHub documents them as
//! possibly absent or null.

use serde::Deserialize;

use crate::github::{CommentId, InstallationId, IssueNumber, RepoId};

#[derive(Debug, Deserialize)]
pub struct User {
    pub login: String,
    pub id: i64,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

impl User {
    /// GitHub Apps and other automation post as `type: "Bot"`; their logins end in `[bot]`.
    pub fn is_bot(&self) -> bool {
        self.kind.as_deref() == Some("Bot") || self.login.ends_with("[bot]")
    }
}

#[derive(Debug, Deserialize)]
pub struct InstallationRef {
    pub id: InstallationId,
}

#[derive(Debug, Deserialize)]
pub struct Repo {
    pub id: RepoId,
    pub full_name: String,
    #[serde(default)]
    pub clone_url: Option<String>,
    #[serde(default)]
    pub default_branch: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Issue {
    pub number: IssueNumber,
    #[serde(default)]
    pub title: String,
    /// Present (an object) when the "issue" is a pull request.
    #[serde(default)]
    pub pull_request: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct Label {
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct IssuesLabeledPayload {
    #[serde(default)]
    pub label: Option<Label>,
    pub issue: Issue,
    pub repository: Repo,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    pub sender: User,
}

#[derive(Debug, Deserialize)]
pub struct Comment {
    pub id: CommentId,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub user: Option<User>,
}

/// `changes` of an `edited` comment: the previous body.
#[derive(Debug, Deserialize)]
pub struct Changes {
    #[serde(default)]
    pub body: Option<ChangedFrom>,
}

#[derive(Debug, Deserialize)]
pub struct ChangedFrom {
    #[serde(default)]
    pub from: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct IssueCommentPayload {
    #[serde(default)]
    pub changes: Option<Changes>,
    pub comment: Comment,
    pub issue: Issue,
    pub repository: Repo,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    pub sender: User,
}

#[derive(Debug, Deserialize)]
pub struct Account {
    pub login: String,
    #[serde(default)]
    pub id: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct Installation {
    pub id: InstallationId,
    #[serde(default)]
    pub account: Option<Account>,
}

impl Installation {
    pub fn account_id(&self) -> i64 {
        self.account.as_ref().and_then(|a| a.id).unwrap_or_default()
    }
}

#[derive(Debug, Deserialize)]
pub struct RepoBriefPayload {
    pub id: RepoId,
    pub full_name: String,
}

#[derive(Debug, Deserialize)]
pub struct InstallationPayload {
    pub installation: Installation,
    #[serde(default)]
    pub repositories: Option<Vec<RepoBriefPayload>>,
}

#[derive(Debug, Deserialize)]
pub struct InstallationReposPayload {
    pub installation: InstallationRef,
    #[serde(default)]
    pub repositories_added: Vec<RepoBriefPayload>,
    #[serde(default)]
    pub repositories_removed: Vec<RepoBriefPayload>,
}

#[derive(Debug, Deserialize)]
pub struct CheckRun {
    pub name: String,
    #[serde(default)]
    pub external_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RequestedAction {
    pub identifier: String,
}

/// `check_run` / `rerequested` and `requested_action`.
#[derive(Debug, Deserialize)]
pub struct CheckRunPayload {
    pub check_run: CheckRun,
    #[serde(default)]
    pub requested_action: Option<RequestedAction>,
    pub repository: Repo,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    pub sender: User,
}

/// The pull request a review or review comment is on (only what a follow-up needs).
#[derive(Debug, Deserialize)]
pub struct PullRequestRef {
    pub number: IssueNumber,
    #[serde(default)]
    pub title: String,
}

/// A submitted review; its body is optional (an approval often has none).
#[derive(Debug, Deserialize)]
pub struct Review {
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub user: Option<User>,
}

/// `pull_request_review` / `submitted`.
#[derive(Debug, Deserialize)]
pub struct PullRequestReviewPayload {
    pub review: Review,
    pub pull_request: PullRequestRef,
    pub repository: Repo,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    pub sender: User,
}

/// A comment on a line of a pull request's diff.
#[derive(Debug, Deserialize)]
pub struct ReviewComment {
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default)]
    pub user: Option<User>,
    pub path: String,
    /// `null` when the line is no longer in the diff; `original_line` then says where it was.
    #[serde(default)]
    pub line: Option<i64>,
    #[serde(default)]
    pub original_line: Option<i64>,
    #[serde(default)]
    pub diff_hunk: Option<String>,
}

/// `pull_request_review_comment` / `created`.
#[derive(Debug, Deserialize)]
pub struct ReviewCommentPayload {
    pub comment: ReviewComment,
    pub pull_request: PullRequestRef,
    pub repository: Repo,
    #[serde(default)]
    pub installation: Option<InstallationRef>,
    pub sender: User,
}
