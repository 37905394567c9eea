//! The fake GitHub (issue #3 §5): a stateful, in-process GitHub for integration tests.
//!
//! An axum server on an ephemeral loopback port holding installations, repositories,
//! issues, comments, reactions, check runs, pull requests, files per branch and users. It
//! authenticates like GitHub (RS256 App JWTs, scoped installation tokens with permissions),
//! validates every request against GitHub's OpenAPI description
//! (`tests/fixtures/openapi/github-subset.json`), answers with bodies built from the
//! description's examples, paginates, records every request, and can inject failures.
//! Anything the real GitHub would refuse is a *violation*: `assert_ok()` panics listing
//! them, and so does dropping the fake (unless the test is already panicking). Violations
//! include: unknown routes, bodies or query parameters that break the published schema,
//! bad App JWTs, unknown tokens, tokens used outside their repositories or permissions,
//! re-using a token after GitHub answered 401 for it, a missing User-Agent, an unknown
//! `X-GitHub-Api-Version`, and exceeding GitHub's secondary limits (80 content-creating
//! requests per minute, 500 per hour, per installation). Tests that provoke one on purpose
//! assert on it with `take_violations()`.
//!
//! Repositories are also served over git smart HTTP (`clone_url()`, user `x-access-token`,
//! an installation token as password) through `git http-backend`; pushes update the
//! fake's branches, so a pushed branch can be the head of a pull request.
//!
//! ```ignore
//! let gh = FakeGitHub::start().await;
//! let inst = gh.add_installation("acme");
//! let repo = gh.add_repo(inst, "acme/widgets");
//! let issue = gh.add_issue(repo, "Fix it", "details", &["maxion"]);
//! // ... point the client at gh.url() with gh.app_id() / gh.private_key_pem() ...
//! gh.expect_comment_count(repo, issue, 1);
//! ```

mod api_app;
mod api_checks;
mod api_issues;
mod api_pulls;
mod api_repos;
mod api_web;
mod auth;
mod chaos;
mod control;
mod ctx;
mod failure;
mod git;
mod git_failure;
mod hooks;
mod inspect;
mod manifest;
mod model;
mod oauth;
mod render;
mod server;
pub mod spec;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::sync::oneshot;

pub use failure::Failure;
pub use model::{
    AuthKind, CheckRun, Comment, InstallationId, Pull, Reaction, ReactionTarget, RecordedRequest, RepoId,
    ReviewComment, UserType,
};

use failure::FailureRule;
use model::{Branch, Installation, Repo, State, User, blob_sha, fake_sha};
use server::Shared;

/// Permissions a new installation is granted (what Maxion's App manifest asks for).
pub const DEFAULT_PERMISSIONS: &[(&str, &str)] = &[
    ("checks", "write"),
    ("contents", "write"),
    ("issues", "write"),
    ("metadata", "read"),
    ("pull_requests", "write"),
];

pub struct FakeGitHub {
    state: Shared,
    url: String,
    shutdown: Option<oneshot::Sender<()>>,
    _git_root: tempfile::TempDir,
}

impl FakeGitHub {
    /// Starts the server on `127.0.0.1:0` inside the current tokio runtime.
    pub async fn start() -> FakeGitHub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let git_root = tempfile::tempdir().expect("temp dir for git repositories");
        let mut initial = State::new(url.clone());
        initial.git_root = Some(git_root.path().to_path_buf());
        let state: Shared = Arc::new(Mutex::new(initial));
        // Parse and compile the description now, not inside the first request.
        let _ = spec::spec();
        let app = Router::new().fallback(server::handle).layer(DefaultBodyLimit::disable()).with_state(state.clone());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        FakeGitHub { state, url, shutdown: Some(tx), _git_root: git_root }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Base URL for `GITHUB_API_URL`, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn app_id(&self) -> u64 {
        model::APP_ID
    }
    pub fn app_client_id(&self) -> &'static str {
        model::APP_CLIENT_ID
    }
    pub fn app_slug(&self) -> &'static str {
        model::APP_SLUG
    }
    /// The login the App acts as: `maxion-test[bot]`.
    pub fn bot_login(&self) -> String {
        model::bot_login()
    }
    /// The test App's key, PKCS#1 (`BEGIN RSA PRIVATE KEY`), as GitHub issues it.
    pub fn private_key_pem(&self) -> &'static str {
        auth::PRIVATE_KEY_PEM
    }
    /// The same key as PKCS#8 (`BEGIN PRIVATE KEY`).
    pub fn private_key_pkcs8_pem(&self) -> &'static str {
        auth::PRIVATE_KEY_PKCS8_PEM
    }

    // ----- world building -------------------------------------------------------------

    pub fn add_installation(&self, account: &str) -> InstallationId {
        let mut s = self.lock();
        s.user(account);
        let id = InstallationId(s.next_id());
        let permissions = DEFAULT_PERMISSIONS.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        s.installations.insert(id, Installation { id, account: account.to_string(), permissions });
        id
    }

    /// Replaces the installation's granted permissions, e.g. `&[("issues", "read")]`.
    pub fn set_installation_permissions(&self, inst: InstallationId, permissions: &[(&str, &str)]) {
        let mut s = self.lock();
        let i = s.installations.get_mut(&inst).expect("unknown installation");
        i.permissions = permissions.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    }

    /// A private repository with branch `main` holding `README.md`; returns its id.
    pub fn add_repo(&self, inst: InstallationId, full_name: &str) -> RepoId {
        let (owner, name) = full_name.split_once('/').expect("owner/name");
        let mut s = self.lock();
        assert!(s.installations.contains_key(&inst), "unknown installation");
        s.user(owner);
        let id = RepoId(s.next_id());
        let files: BTreeMap<String, Vec<u8>> = [("README.md".to_string(), format!("# {name}\n").into_bytes())].into();
        let sha = fake_sha(&[full_name, "initial"]);
        s.repos.insert(
            id,
            Repo {
                id,
                owner: owner.to_string(),
                name: name.to_string(),
                installation: inst,
                private: true,
                default_branch: "main".into(),
                branches: [("main".to_string(), Branch { sha: sha.clone(), files })].into(),
                issues: BTreeMap::new(),
                pulls: BTreeMap::new(),
                comments: Vec::new(),
                review_comments: Vec::new(),
                reactions: Vec::new(),
                check_runs: Vec::new(),
                permissions: HashMap::new(),
                commits: BTreeSet::from([sha]),
                next_number: 0,
            },
        );
        id
    }

    pub fn set_private(&self, repo: RepoId, private: bool) {
        self.lock().repo_mut(repo).private = private;
    }

    /// Looks a repository up by `owner/name`.
    pub fn repo(&self, full_name: &str) -> RepoId {
        let (owner, name) = full_name.split_once('/').expect("owner/name");
        self.lock().repo_by_name(owner, name).expect("unknown repository")
    }

    pub fn add_user(&self, login: &str, kind: UserType) -> u64 {
        let mut s = self.lock();
        let id = s.next_id();
        s.users.insert(login.to_string(), User { id, login: login.to_string(), kind });
        id
    }

    /// `level`: "admin" | "maintain" | "write" | "triage" | "read" | "none".
    pub fn set_permission(&self, repo: RepoId, login: &str, level: &str) {
        assert!(
            ["admin", "maintain", "write", "triage", "read", "none"].contains(&level),
            "unknown permission level {level}"
        );
        let mut s = self.lock();
        s.user(login);
        s.repo_mut(repo).permissions.insert(login.to_string(), level.to_string());
    }

    /// Opens an issue authored by the repository owner; returns its number.
    pub fn add_issue(&self, repo: RepoId, title: &str, body: &str, labels: &[&str]) -> u64 {
        let mut s = self.lock();
        let id = s.next_id();
        let now = s.now();
        let r = s.repo_mut(repo);
        r.next_number += 1;
        let number = r.next_number;
        let user = r.owner.clone();
        r.issues.insert(
            number,
            model::Issue {
                number,
                id,
                title: title.into(),
                body: body.into(),
                labels: labels.iter().map(|l| l.to_string()).collect(),
                state: "open".into(),
                user,
                created_at: now,
            },
        );
        number
    }

    /// A comment by `login` on an issue or PR; returns the comment id.
    pub fn add_comment(&self, repo: RepoId, issue: u64, login: &str, body: &str) -> u64 {
        let mut s = self.lock();
        s.user(login);
        let id = s.next_id();
        let now = s.now();
        s.repo_mut(repo).comments.push(Comment {
            id,
            issue,
            user: login.into(),
            body: body.into(),
            history: vec![body.into()],
            created_at: now,
            updated_at: now,
        });
        id
    }

    /// Someone deletes a comment on GitHub (as a maintainer may delete Maxion's).
    pub fn delete_comment(&self, repo: RepoId, id: u64) {
        self.lock().repo_mut(repo).comments.retain(|c| c.id != id);
    }

    /// An open pull request from `head` into `base` authored by `login` (both branches must
    /// exist, e.g. via `put_file`); returns its number.
    pub fn add_pull(&self, repo: RepoId, head: &str, base: &str, login: &str, title: &str) -> u64 {
        let mut s = self.lock();
        s.user(login);
        let id = s.next_id();
        let now = s.now();
        let r = s.repo_mut(repo);
        let head_sha = r.branches.get(head).expect("unknown head branch").sha.clone();
        let base_sha = r.branches.get(base).expect("unknown base branch").sha.clone();
        r.next_number += 1;
        let number = r.next_number;
        r.pulls.insert(
            number,
            Pull {
                number,
                id,
                title: title.into(),
                body: None,
                head: head.into(),
                head_sha,
                base: base.into(),
                base_sha,
                draft: false,
                state: "open".into(),
                maintainer_can_modify: false,
                requested_reviewers: Vec::new(),
                user: login.into(),
                created_at: now,
                updated_at: now,
            },
        );
        number
    }

    /// A pull request review comment by `login` (for `/replies`); returns its id.
    pub fn add_review_comment(&self, repo: RepoId, pull: u64, login: &str, body: &str) -> u64 {
        let mut s = self.lock();
        s.user(login);
        let id = s.next_id();
        let now = s.now();
        s.repo_mut(repo).review_comments.push(ReviewComment {
            id,
            pull,
            in_reply_to: None,
            user: login.into(),
            body: body.into(),
            created_at: now,
        });
        id
    }

    /// Commits one file to `branch` (created from the default branch if missing); returns
    /// the branch's new head sha.
    pub fn put_file(&self, repo: RepoId, branch: &str, path: &str, bytes: impl AsRef<[u8]>) -> String {
        self.put_files(repo, branch, &[(path, bytes.as_ref())])
    }

    /// Commits several files to `branch` as one commit (created from the default branch
    /// if missing); returns the branch's new head sha.
    pub fn put_files(&self, repo: RepoId, branch: &str, files: &[(&str, &[u8])]) -> String {
        let mut s = self.lock();
        let git_dir = git_dir(&s, repo);
        let r = s.repo_mut(repo);
        let from = r.branches.get(&r.default_branch).cloned().unwrap_or_default();
        let b = r.branches.entry(branch.to_string()).or_insert(from);
        let parent = b.sha.clone();
        let mut sha_parts = vec![parent.clone()];
        for (path, bytes) in files {
            b.files.insert(path.trim_matches('/').to_string(), bytes.to_vec());
            sha_parts.push(format!("{path}:{}", blob_sha(bytes)));
        }
        b.sha = match &git_dir {
            // Once git serves this repository, branch heads must be real commits.
            Some(dir) => git::commit_tree(dir, branch, Some(&parent), &b.files),
            None => fake_sha(&sha_parts.iter().map(String::as_str).collect::<Vec<_>>()),
        };
        let sha = b.sha.clone();
        r.commits.insert(sha.clone());
        sha
    }

    /// Creates `branch` at `from`'s head; returns the sha.
    pub fn create_branch(&self, repo: RepoId, branch: &str, from: &str) -> String {
        let mut s = self.lock();
        let git_dir = git_dir(&s, repo);
        let r = s.repo_mut(repo);
        let b = r.branches.get(from).cloned().expect("unknown source branch");
        let sha = b.sha.clone();
        if let Some(dir) = git_dir {
            git::update_ref(&dir, branch, &sha);
        }
        r.branches.insert(branch.to_string(), b);
        sha
    }

    /// The bare git repository serving `repo` (created now if it does not exist yet), for
    /// tests that inspect what was pushed with git itself.
    pub fn git_dir(&self, repo: RepoId) -> std::path::PathBuf {
        git::materialize(&mut self.lock(), repo)
    }

    /// The clone URL of `repo` (`{url}/{owner}/{name}.git`); authenticate as
    /// `x-access-token` with an installation token as the password.
    pub fn clone_url(&self, repo: RepoId) -> String {
        format!("{}/{}.git", self.url, self.lock().repo(repo).full_name())
    }

    pub fn head_sha(&self, repo: RepoId, branch: &str) -> String {
        self.lock().repo(repo).branches.get(branch).expect("unknown branch").sha.clone()
    }

    pub fn file(&self, repo: RepoId, branch: &str, path: &str) -> Option<Vec<u8>> {
        self.lock().repo(repo).branches.get(branch)?.files.get(path).cloned()
    }
}

fn git_dir(s: &State, repo: RepoId) -> Option<std::path::PathBuf> {
    let r = s.repo(repo);
    let dir = git::bare_path(s.git_root.as_deref()?, &r.owner, &r.name);
    dir.exists().then_some(dir)
}

/// Signs arbitrary claims with the test App key (the self-test forges bad JWTs with it).
pub fn jwt_with_claims(claims: &serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(auth::PRIVATE_KEY_PEM.as_bytes()).expect("test key");
    jsonwebtoken::encode(&jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256), claims, &key).expect("sign")
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if std::thread::panicking() {
            return;
        }
        let v = self.violations();
        if !v.is_empty() {
            panic!(
                "the fake GitHub saw {} violation(s) (call take_violations() if they were intended):\n- {}",
                v.len(),
                v.join("\n- ")
            );
        }
    }
}
