//! Git on the host: the mirror cache, the job's working copy,
//! commit and push. The sandbox never sees a token; git runs here, as the
//! system `git` binary, with the installation token in the environment of
//! the one process that needs it (see `runner.rs`).
//!
//! One job's flow:
//! ```text
//! MirrorCache::sync(full_name, clone_url, token)     clone once, fetch each job (locked per repository)
//!   └─ SyncedMirror::prepare_new_branch_at(dest, default, sha, branch)  local clone without checkout
//!        (only `.git`, with an index) at the commit the brief and config were read at, new branch,
//!        remotes removed (new_branch / new_branch_at / checkout_existing: the same with files)
//! … stream WorkingCopy::archive() (`git archive` of the base) and dir() (the `.git`) at once into the
//!   sandbox, run the agent, then WorkingCopy::clear_for_results(), extract the changed files into
//!   dir() and WorkingCopy::limit_to(changed paths) (pipeline/collect.rs) …
//! WorkingCopy::stage_changes() -> Staged (its paths()) / commit_staged(staged, message, bot, co_author)
//!   -> Option<sha> (changed_paths() and commit_all(…) stage on their own)
//! WorkingCopy::push(sha, clone_url, fresh_token)
//! ```
//! Touches: the data dir (`mirrors/`, `work/`, `git-home/`), git processes.

mod mirror;
mod names;
mod retry;
mod runner;
mod workcopy;

pub use mirror::{MirrorCache, SyncKind, SyncedMirror};
pub use names::{CoAuthor, branch_name, commit_message, is_conventional_commit, validate_branch};
pub use retry::GitRetry;
pub use runner::{Git, GitStream};
pub use workcopy::{Identity, SCRATCH_DIR, Staged, WorkingCopy};

/// Why a git operation failed. Callers branch on `Auth` (mint a new token,
/// or report missing permissions), `Rejected` (someone else moved the
/// branch) and `Network` (retry later). Every `stderr` has passed the masker
/// and is cut to its last 2,000 characters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    #[error("git {op}: authentication failed (token refused or lacking permission): {stderr}")]
    Auth { op: String, stderr: String },
    #[error("git {op}: the remote rejected the push: {stderr}")]
    Rejected { op: String, stderr: String },
    #[error("git {op}: network error: {stderr}")]
    Network { op: String, stderr: String },
    /// A transient failure (5xx, 429, reset, timeout) that outlasted the
    /// retries; `last` is the last attempt's error.
    #[error("git {op}: the git host kept failing ({attempts} attempts): {last}")]
    HostKeptFailing { op: String, attempts: usize, last: String },
    #[error("git {op}: timed out after {secs} s")]
    Timeout { op: String, secs: u64 },
    #[error("git {op} failed (exit code {code:?}): {stderr}")]
    Failed { op: String, code: Option<i32>, stderr: String },
    #[error("branch {0:?} does not exist")]
    NoSuchBranch(String),
    #[error("git: invalid input: {0}")]
    Invalid(String),
    #[error("git: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}
