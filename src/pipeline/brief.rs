//! The brief: the one complete prompt the coding agent gets, built before the
//! sandbox starts.
//!
//! Two halves, kept apart so the second is testable without a network:
//! - GATHER ([`gather`]): async, through [`crate::github::RepoClient`], at the
//!   default branch's head commit; produces a [`BriefInput`].
//! - ASSEMBLE ([`assemble`]): a pure function from [`BriefInput`] to Markdown
//!   within a byte budget, sanitizing every user-written text on the way
//!   ([`super::sanitize`]), cutting in a fixed priority order and marking every cut.
//!
//! [`fix_prompt`] builds the shorter prompt for a fix round.

mod assemble;
mod feedback;
mod fix;
mod gather;
mod paths;
mod tree;

use serde::{Deserialize, Serialize};

use super::detect::CommandPlan;
use crate::github::IssueNumber;

pub use assemble::assemble;
pub use fix::{VerifyFailure, fix_prompt, task_summary};
pub use gather::{GUIDELINE_FILES, GatherRequest, Gathered, gather};
pub use paths::mentioned_paths;
pub use tree::prune_tree;

/// Everything a brief is assembled from. Text fields hold what GitHub
/// returned; [`assemble`] sanitizes them, so a caller cannot forget to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BriefInput {
    /// `owner/name`.
    pub repository: String,
    pub default_branch: String,
    /// The commit the working copy is at; files and tree are read there.
    pub head_sha: String,
    pub issue: IssueText,
    /// The trigger's extra instructions (`/maxion <text>`).
    pub instructions: Option<String>,
    /// Login of the user who triggered the job.
    pub triggered_by: String,
    /// Comments by users with write access or above (others only when asked
    /// for), oldest first; without the trigger comment and bots' comments.
    pub comments: Vec<IssueComment>,
    pub left_out: LeftOut,
    /// `AGENTS.md`, `CLAUDE.md`, ... where present.
    pub guidelines: Vec<FileText>,
    /// Files the issue or trusted comments name by path.
    pub named_files: Vec<FileText>,
    pub related: Vec<RelatedEntry>,
    pub tree: TreeListing,
    /// The commands setup ran and verification will run.
    pub commands: CommandPlan,
    /// `instructions` from the repository's `.github/maxion.yml` (default
    /// branch: written by people with write access).
    #[serde(default)]
    pub repo_instructions: Option<String>,
    /// Globs the agent must not change (`protected_paths`).
    #[serde(default)]
    pub protected_paths: Vec<String>,
    /// Set for a follow-up: `issue` is then the pull request and
    /// `instructions` the feedback.
    #[serde(default)]
    pub follow_up: Option<PullRequestState>,
}

/// The pull request a follow-up continues, and where the feedback was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestState {
    /// The branch the working copy is on and the new commits go to.
    pub head_branch: String,
    pub source: crate::jobs::FeedbackSource,
    pub anchor: Option<crate::jobs::ReviewAnchor>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueText {
    pub number: IssueNumber,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub author: Option<String>,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueComment {
    pub author: String,
    /// The author's permission: `admin`, `maintain` or `write`; `triage`,
    /// `read` or `none` only when untrusted comments are asked for.
    pub permission: String,
    pub body: String,
}

impl IssueComment {
    pub fn has_write_access(&self) -> bool {
        matches!(self.permission.as_str(), "admin" | "maintain" | "write")
    }
}

/// Comments not shown, by reason (so the agent knows the thread is longer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    /// By users without write access: anyone can write those.
    pub untrusted_comments: usize,
    /// By bots (Maxion's own status comment among them).
    pub bot_comments: usize,
}

/// A repository file's text (or why it is not shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileText {
    pub path: String,
    pub text: String,
    /// Set when `text` is empty on purpose: binary, too large, unreadable.
    pub note: Option<String>,
}

/// A related issue or pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelatedEntry {
    pub number: IssueNumber,
    pub title: String,
    pub state: String,
    pub is_pull_request: bool,
    /// `owner/name` when it lives in another repository.
    pub other_repository: Option<String>,
    /// Changed paths, for pull requests of this repository (capped).
    pub files: Vec<String>,
    /// Changed paths beyond `files`.
    pub more_files: usize,
}

/// The repository tree as shown: pruned lines (see [`prune_tree`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeListing {
    pub lines: Vec<String>,
    pub total_files: usize,
    /// GitHub returned an incomplete tree (very large repositories).
    pub incomplete: bool,
}

/// Sizes that shape the brief. All in bytes unless named otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The whole brief (default 100 KB). The preamble and the task's minimum
    /// are kept even when they alone exceed it.
    pub budget: usize,
    /// The task section (issue and instructions) is never cut below this.
    pub task_min: usize,
    pub comment_cap: usize,
    pub guideline_cap: usize,
    pub named_file_cap: usize,
    /// Files named by the issue, at most.
    pub named_files_max: usize,
    pub related_max: usize,
    /// Changed paths listed per related pull request.
    pub related_files_max: usize,
    /// Lines of the tree listing before directories are collapsed.
    pub tree_lines: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            budget: 100_000,
            task_min: 24_000,
            comment_cap: 8_000,
            guideline_cap: 16_000,
            named_file_cap: 24_000,
            named_files_max: 10,
            related_max: 15,
            related_files_max: 30,
            tree_lines: 1_500,
        }
    }
}
