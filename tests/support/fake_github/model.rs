//! The fake GitHub's world: installations, repositories and everything in them, issued
//! tokens, recorded requests, violations and pending failure injections. Plain data behind
//! one mutex; the handlers and the test-facing API both mutate it. No I/O here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::failure::FailureRule;

pub const APP_ID: u64 = 424_242;
pub const APP_SLUG: &str = "maxion-test";
pub const APP_CLIENT_ID: &str = "Iv23liFakeMaxionTest";
pub const BOT_USER_ID: u64 = 9_000_001;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InstallationId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RepoId(pub u64);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserType {
    User,
    Bot,
}

impl UserType {
    pub fn as_str(self) -> &'static str {
        match self {
            UserType::User => "User",
            UserType::Bot => "Bot",
        }
    }
}

/// Permission levels as GitHub orders them for App permissions.
pub fn level_rank(level: &str) -> u8 {
    match level {
        "read" => 1,
        "write" => 2,
        "admin" => 3,
        _ => 0,
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub id: u64,
    pub login: String,
    pub kind: UserType,
}

#[derive(Clone, Debug)]
pub struct Installation {
    pub id: InstallationId,
    pub account: String,
    pub permissions: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub installation: InstallationId,
    /// `None` = every repository of the installation.
    pub repos: Option<Vec<RepoId>>,
    pub permissions: BTreeMap<String, String>,
    pub expires_at: DateTime<Utc>,
    pub revoked: bool,
    /// GitHub already answered 401 for it once; using it again is the client's fault.
    pub refused: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Branch {
    pub sha: String,
    pub files: BTreeMap<String, Vec<u8>>,
}

#[derive(Clone, Debug)]
pub struct Issue {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub body: String,
    pub labels: Vec<String>,
    pub state: String,
    pub user: String,
    pub created_at: DateTime<Utc>,
}

/// An issue (or pull request conversation) comment.
#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    pub issue: u64,
    pub user: String,
    pub body: String,
    /// Every body this comment has had, oldest first (edits append).
    pub history: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReactionTarget {
    Issue(u64),
    Comment(u64),
}

#[derive(Clone, Debug)]
pub struct Reaction {
    pub id: u64,
    pub target: ReactionTarget,
    pub content: String,
    pub user: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct CheckRun {
    pub id: u64,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub details_url: Option<String>,
    pub external_id: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    /// Annotations accumulate across updates, as on GitHub.
    pub annotations: Vec<Value>,
    pub actions: Vec<Value>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Number of PATCHes applied after creation.
    pub updates: usize,
}

impl CheckRun {
    /// A run as GitHub creates one, before the request's fields are applied.
    pub fn new(id: u64, name: &str, head_sha: &str, status: &str, now: DateTime<Utc>) -> CheckRun {
        CheckRun {
            id,
            name: name.into(),
            head_sha: head_sha.into(),
            status: status.into(),
            conclusion: None,
            details_url: None,
            external_id: None,
            title: None,
            summary: None,
            text: None,
            annotations: Vec::new(),
            actions: Vec::new(),
            started_at: now,
            completed_at: None,
            updates: 0,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Pull {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub body: Option<String>,
    pub head: String,
    pub head_sha: String,
    pub base: String,
    pub base_sha: String,
    pub draft: bool,
    pub state: String,
    pub maintainer_can_modify: bool,
    pub requested_reviewers: Vec<String>,
    pub user: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct ReviewComment {
    pub id: u64,
    pub pull: u64,
    pub in_reply_to: Option<u64>,
    pub user: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct Repo {
    pub id: RepoId,
    pub owner: String,
    pub name: String,
    pub installation: InstallationId,
    pub private: bool,
    pub default_branch: String,
    pub branches: BTreeMap<String, Branch>,
    pub issues: BTreeMap<u64, Issue>,
    pub pulls: BTreeMap<u64, Pull>,
    pub comments: Vec<Comment>,
    pub review_comments: Vec<ReviewComment>,
    pub reactions: Vec<Reaction>,
    pub check_runs: Vec<CheckRun>,
    pub permissions: HashMap<String, String>,
    /// Every commit sha the repository has had (check runs may only target these).
    pub commits: BTreeSet<String>,
    pub next_number: u64,
}

impl Repo {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

/// How a recorded request authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthKind {
    None,
    AppJwt,
    InstallationToken(InstallationId),
    /// `x-access-token:<token>` basic auth (git smart HTTP).
    GitBasic(InstallationId),
    Invalid,
}

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// The parsed JSON body, if any (`Value::Null` when absent).
    pub body: Value,
    pub auth: AuthKind,
    /// The OpenAPI template the request matched, e.g. `/repos/{owner}/{repo}/check-runs`.
    pub operation: Option<String>,
    /// The status the fake answered with.
    pub status: u16,
    /// When it arrived (wall clock), for assertions on pacing.
    pub at: DateTime<Utc>,
}

pub struct State {
    pub base_url: String,
    next_id: u64,
    pub users: BTreeMap<String, User>,
    pub installations: BTreeMap<InstallationId, Installation>,
    pub repos: BTreeMap<RepoId, Repo>,
    pub tokens: HashMap<String, Token>,
    pub issued_tokens: Vec<String>,
    pub requests: Vec<RecordedRequest>,
    pub violations: Vec<String>,
    pub failures: Vec<FailureRule>,
    /// Random failures of a soak run (see `chaos.rs`).
    pub chaos: Option<super::chaos::Chaos>,
    pub clock_offset: Duration,
    pub token_lifetime: Duration,
    pub token_seed: u64,
    /// Recent content-creating requests per installation (secondary rate limits).
    pub mutations: HashMap<InstallationId, Vec<DateTime<Utc>>>,
    /// Where bare git copies of the repositories live (see `git.rs`).
    pub git_root: Option<std::path::PathBuf>,
    /// Sign-in with GitHub (see `oauth.rs`).
    pub oauth: super::oauth::OAuthState,
    /// The App's webhook and its delivery log (see `hooks.rs`).
    pub hooks: super::hooks::Hooks,
    /// The App manifest flow (see `manifest.rs`).
    pub manifest: super::manifest::ManifestState,
}

impl State {
    pub fn new(base_url: String) -> State {
        let mut state = State {
            base_url,
            next_id: 1000,
            users: BTreeMap::new(),
            installations: BTreeMap::new(),
            repos: BTreeMap::new(),
            tokens: HashMap::new(),
            issued_tokens: Vec::new(),
            requests: Vec::new(),
            violations: Vec::new(),
            failures: Vec::new(),
            chaos: None,
            clock_offset: Duration::ZERO,
            token_lifetime: Duration::from_secs(3600),
            token_seed: std::collections::hash_map::RandomState::new().hash_one(std::time::SystemTime::now()),
            git_root: None,
            mutations: HashMap::new(),
            oauth: Default::default(),
            hooks: Default::default(),
            manifest: Default::default(),
        };
        let bot = bot_login();
        state.users.insert(bot.clone(), User { id: BOT_USER_ID, login: bot, kind: UserType::Bot });
        state
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// The fake's notion of "now" for token expiry (tests may move it forward).
    pub fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::from_std(self.clock_offset).unwrap_or_default()
    }

    pub fn user(&mut self, login: &str) -> User {
        if let Some(u) = self.users.get(login) {
            return u.clone();
        }
        let kind = if login.ends_with("[bot]") { UserType::Bot } else { UserType::User };
        let user = User { id: self.next_id(), login: login.to_string(), kind };
        self.users.insert(login.to_string(), user.clone());
        user
    }

    pub fn repo_by_name(&self, owner: &str, name: &str) -> Option<RepoId> {
        self.repos
            .values()
            .find(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name))
            .map(|r| r.id)
    }

    pub fn repo(&self, id: RepoId) -> &Repo {
        self.repos.get(&id).expect("unknown RepoId")
    }

    pub fn repo_mut(&mut self, id: RepoId) -> &mut Repo {
        self.repos.get_mut(&id).expect("unknown RepoId")
    }

    pub fn violation(&mut self, message: String) {
        self.violations.push(message);
    }
}

pub fn bot_login() -> String {
    format!("{APP_SLUG}[bot]")
}

/// A deterministic 40-hex "commit sha" for a branch state.
pub fn fake_sha(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())[..40].to_string()
}

/// The git blob sha of `bytes` is SHA-1; SHA-256 truncated keeps the same shape.
pub fn blob_sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))[..40].to_string()
}

pub fn timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}
