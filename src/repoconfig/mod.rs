//! A repository's own configuration, `.github/maxion.yml`.
//!
//! Three steps, each testable alone:
//! - PARSE ([`parse`], `file.rs`): YAML text -> [`RepoConfig`] (what the file
//!   asks for), or a [`ConfigError`] with line and column. Unknown fields are
//!   errors.
//! - RESOLVE ([`resolve`], `effective.rs`): [`RepoConfig`] + the operator's
//!   [`Bounds`] -> [`Effective`], what the job runs with. A request past a
//!   bound is clamped and recorded as a [`Clamp`] for the status comment.
//! - GUARD ([`PathGuard`], `protect.rs`): the paths the agent must not change.
//!
//! [`load`] reads the file through the GitHub API at one commit: the default
//! branch head the job works on, never a pull-request branch or anything the
//! agent wrote. Touches: GitHub (one contents read).

pub mod agent;
mod effective;
pub mod egress;
mod file;
mod protect;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::github::{GitHubError, RepoClient};
pub use crate::sandbox::NetworkMode;

pub use effective::{Bounds, Clamp, ClampValue, Effective, resolve};
pub use file::{MAX_FILE_BYTES, MAX_INSTRUCTIONS_BYTES, parse};
pub use protect::{DEFAULT_PROTECTED, PathGuard};

/// Where the file lives in the repository.
pub const CONFIG_PATH: &str = ".github/maxion.yml";

/// What a valid file asks for; `None`: not set, the instance's default applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoConfig {
    /// Replaces the detected setup commands (`Some(vec![])`: no setup).
    pub setup: Option<Vec<ConfiguredCommand>>,
    /// Replaces the detected verification commands.
    pub verify: Option<Vec<ConfiguredCommand>>,
    pub network: Option<NetworkMode>,
    pub fix_rounds: Option<u32>,
    /// Default timeout of each setup and verification command.
    pub step_timeout: Option<Duration>,
    pub job_timeout: Option<Duration>,
    pub on_verify_failure: Option<FailurePolicy>,
    /// Branches are `<prefix>/issue-<n>-<slug>`.
    pub branch_prefix: Option<String>,
    /// Added to every brief.
    pub instructions: Option<String>,
    /// Globs; replaces [`DEFAULT_PROTECTED`].
    pub protected_paths: Option<Vec<String>>,
    /// Hosts a `filtered` sandbox may reach; replaces MAXION_EGRESS_ALLOW within its bound.
    pub egress: Option<Vec<String>>,
    /// Lowers the operator's job budgets.
    pub budget: Option<egress::RepoBudget>,
    /// Picks another agent profile (within MAXION_ALLOWED_AGENTS) or model.
    pub agent: Option<agent::RepoAgent>,
}

/// One configured shell command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfiguredCommand {
    pub run: String,
    /// `Setup` for setup commands; `Test` unless the file says otherwise.
    pub kind: CommandKind,
    /// Overrides the step timeout for this command.
    pub timeout: Option<Duration>,
}

/// What a command is for; verification runs in this order. Defined here, the
/// lowest layer that names it (a configured command has one); command
/// detection in the pipeline uses the same type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    Setup,
    Lint,
    Typecheck,
    Build,
    Test,
}

impl CommandKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Setup => "setup",
            CommandKind::Lint => "lint",
            CommandKind::Typecheck => "typecheck",
            CommandKind::Build => "build",
            CommandKind::Test => "test",
        }
    }
}

/// What happens when verification still fails after the fix rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailurePolicy {
    /// A draft pull request stating the failures.
    Draft,
    /// A ready pull request stating the failures (only the operator's
    /// `MAXION_DRAFT_ON_FAILURE=false` chooses it).
    #[serde(skip_deserializing)]
    Ready,
    /// Nothing is pushed; the job fails.
    NoPr,
}

impl FailurePolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePolicy::Draft => "draft",
            FailurePolicy::Ready => "ready",
            FailurePolicy::NoPr => "no_pr",
        }
    }
}

/// Why a configuration file is invalid, with where (1-based) when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
}

impl ConfigError {
    fn whole(message: impl Into<String>) -> Self {
        ConfigError { line: None, column: None, message: message.into() }
    }

    fn at(loc: &serde_saphyr::Location, message: impl Into<String>) -> Self {
        let known = loc.line() > 0;
        ConfigError { line: known.then(|| loc.line()), column: known.then(|| loc.column()), message: message.into() }
    }

    fn from_yaml(e: serde_saphyr::Error) -> Self {
        let e = e.without_snippet();
        let text = e.to_string();
        match e.location().filter(|l| l.line() > 0) {
            Some(loc) => {
                // The parser appends the location in English; ours leads instead.
                let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
                let message = text.strip_suffix(&suffix).unwrap_or(&text).to_owned();
                ConfigError::at(&loc, message)
            }
            None => ConfigError::whole(text),
        }
    }

    /// `line 3, column 5: unknown field ...`, or the message alone.
    pub fn describe(&self) -> String {
        match (self.line, self.column) {
            (Some(l), Some(c)) => format!("line {l}, column {c}: {}", self.message),
            (Some(l), None) => format!("line {l}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl std::error::Error for ConfigError {}

/// Why [`load`] failed. Callers branch: an invalid file is the repository's
/// to fix (reported with its location); GitHub failures are ours.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(".github/maxion.yml is invalid: {0}")]
    Invalid(#[from] ConfigError),
    #[error("reading .github/maxion.yml: {0}")]
    GitHub(#[from] GitHubError),
}

/// Reads and parses the file at `sha`; `Ok(None)` when there is none.
pub async fn load(repo: &RepoClient, sha: &str) -> Result<Option<RepoConfig>, LoadError> {
    let Some(file) = repo.get_file(CONFIG_PATH, sha).await? else {
        return Ok(None);
    };
    let Some(text) = file.text() else {
        return Err(ConfigError::whole("the file is not UTF-8 text").into());
    };
    Ok(Some(parse(text)?))
}

/// The effective configuration at the default branch's head, for
/// `/maxion help` (render it with `report::text::effective_config`; an
/// invalid file with `report::text::config_invalid`).
pub async fn effective_at_default_branch(repo: &RepoClient, bounds: &Bounds) -> Result<Effective, LoadError> {
    let r = repo.get_repository().await?;
    let Some(sha) = repo.branch_head(&r.default_branch).await? else {
        return Ok(resolve(None, bounds));
    };
    let config = load(repo, &sha).await?;
    Ok(resolve(config.as_ref(), bounds))
}
