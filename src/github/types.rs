//! Maxion's own small types for what GitHub returns and what Maxion sends:
//! only the fields Maxion uses, so a richer or slightly different response
//! (GitHub Enterprise Server, the test fake) still deserializes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{CommentId, IssueNumber};

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct User {
    pub login: String,
    pub id: u64,
    #[serde(rename = "type", default)]
    pub kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Label {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub number: IssueNumber,
    pub title: String,
    pub body: Option<String>,
    /// `open` or `closed`.
    pub state: String,
    pub labels: Vec<String>,
    pub author: Option<String>,
    pub html_url: String,
    /// The issues API also returns pull requests.
    pub is_pull_request: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Comment {
    pub id: CommentId,
    #[serde(default)]
    pub body: String,
    pub user: Option<User>,
    #[serde(default)]
    pub html_url: String,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// Reactions Maxion uses (`eyes` on receipt of a trigger).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaction {
    Eyes,
    PlusOne,
    Rocket,
    Confused,
}

impl Reaction {
    pub fn as_str(self) -> &'static str {
        match self {
            Reaction::Eyes => "eyes",
            Reaction::PlusOne => "+1",
            Reaction::Rocket => "rocket",
            Reaction::Confused => "confused",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Queued,
    InProgress,
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckConclusion {
    Success,
    Failure,
    Neutral,
    Cancelled,
    TimedOut,
    ActionRequired,
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnnotationLevel {
    Notice,
    Warning,
    Failure,
}

/// A file/line remark on a check run (compiler and linter errors).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Annotation {
    pub path: String,
    pub start_line: u32,
    pub end_line: u32,
    pub annotation_level: AnnotationLevel,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// A button on the check run page (`requested_action` webhook on click).
/// GitHub's limits: label 20, description 40, identifier 20 characters; 3 buttons.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckAction {
    pub label: String,
    pub description: String,
    pub identifier: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckOutput {
    pub title: String,
    /// Cut to 65,535 characters with a visible note.
    pub summary: String,
    pub text: Option<String>,
    /// Sent in batches of at most 50 per request.
    pub annotations: Vec<Annotation>,
}

/// Everything a check run carries; `name` and `head_sha` are only used on create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckRunSpec {
    pub name: String,
    pub head_sha: String,
    pub status: Option<CheckStatus>,
    pub conclusion: Option<CheckConclusion>,
    pub details_url: Option<String>,
    pub external_id: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub output: Option<CheckOutput>,
    pub actions: Vec<CheckAction>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: CheckStatus,
    pub conclusion: Option<CheckConclusion>,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub id: u64,
    pub full_name: String,
    pub default_branch: String,
    pub clone_url: String,
    /// `public`, `private` or `internal`.
    pub visibility: String,
    pub private: bool,
    pub html_url: String,
}

/// A file's bytes at a ref.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileContent {
    pub path: String,
    pub sha: String,
    pub bytes: Vec<u8>,
}

impl FileContent {
    /// The content as text, if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.bytes).ok()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TreeEntry {
    pub path: String,
    /// `blob`, `tree` or `commit` (submodule).
    #[serde(rename = "type")]
    pub kind: String,
    pub sha: String,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tree {
    pub sha: String,
    pub tree: Vec<TreeEntry>,
    /// GitHub cuts very large trees; the caller should know.
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: IssueNumber,
    pub html_url: String,
    /// `open` or `closed`.
    pub state: String,
    pub draft: bool,
    pub merged: bool,
    pub title: String,
    pub body: Option<String>,
    pub head_ref: String,
    pub head_sha: String,
    pub base_ref: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewPullRequest {
    pub title: String,
    /// The branch with the changes (same repository).
    pub head: String,
    pub base: String,
    pub body: String,
    pub draft: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PullRequestUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `open` or `closed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ChangedFile {
    pub filename: String,
    /// `added`, `modified`, `removed`, `renamed`, ...
    pub status: String,
    #[serde(default)]
    pub additions: u64,
    #[serde(default)]
    pub deletions: u64,
    pub patch: Option<String>,
}

/// An issue or pull request found by search or by a timeline cross-reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelatedItem {
    pub number: IssueNumber,
    pub title: String,
    pub state: String,
    pub html_url: String,
    pub is_pull_request: bool,
    /// `owner/name` of the repository the item lives in.
    pub repository: Option<String>,
}

/// A user's permission on the repository, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RepoPermission {
    None,
    Read,
    Triage,
    Write,
    Maintain,
    Admin,
}

impl RepoPermission {
    /// GitHub's name of the role.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Maintain => "maintain",
            Self::Write => "write",
            Self::Triage => "triage",
            Self::Read => "read",
            Self::None => "none",
        }
    }

    /// From GitHub's `role_name` (finer) or `permission` (legacy) field.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "admin" => Self::Admin,
            "maintain" => Self::Maintain,
            "write" | "push" => Self::Write,
            "triage" => Self::Triage,
            "read" | "pull" => Self::Read,
            "none" => Self::None,
            _ => return None,
        })
    }
}

/// `GET /app`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AppInfo {
    pub id: u64,
    pub slug: String,
    #[serde(default)]
    pub name: String,
}

/// The identity Maxion commits as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotIdentity {
    pub user_id: u64,
    /// `slug[bot]`.
    pub login: String,
    /// `id+slug[bot]@users.noreply.github.com`.
    pub email: String,
}

impl BotIdentity {
    pub fn new(user_id: u64, slug: &str) -> Self {
        let login = format!("{slug}[bot]");
        Self { user_id, email: format!("{user_id}+{login}@users.noreply.github.com"), login }
    }
}
