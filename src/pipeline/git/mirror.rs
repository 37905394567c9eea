//! The mirror cache: one bare repository per GitHub repository under
//! `<data dir>/mirrors/<owner>/<name>.git`, cloned once and fetched at each
//! job, so a job's working copy is a local clone instead of a network one.
//!
//! Each repository has a lock: an in-process async mutex (jobs of one
//! instance queue up without blocking threads) and an advisory lock on
//! `<owner>/<name>.lock` (instances sharing the data dir take turns). The
//! lock is held from the fetch until the job's working copy exists, by the
//! [`SyncedMirror`] a sync returns. Touches: the data dir, git processes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use secrecy::SecretString;
use tokio::sync::OwnedMutexGuard;

use super::GitError;
use super::names::{split_full_name, validate_branch};
use super::retry::{GitRetry, retrying};
use super::runner::{Git, GitCmd};
use super::workcopy::{CopySpec, Materialize, WorkingCopy};

/// Branches and tags: the mirror deliberately skips `refs/pull/*` and other
/// hosting refs, which on a busy GitHub repository outweigh the code.
const REFSPECS: &[&str] = &["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"];

/// Whether a sync cloned the mirror or fetched into an existing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    Cloned,
    Fetched,
}

/// The cache of bare mirrors under one data dir.
pub struct MirrorCache {
    data_dir: PathBuf,
    git: Git,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for MirrorCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorCache").field("data_dir", &self.data_dir).finish()
    }
}

impl MirrorCache {
    /// A cache under `data_dir` (created if missing), running git with an
    /// empty `<data_dir>/git-home` as its home.
    pub fn new(data_dir: impl Into<PathBuf>) -> Result<Self, GitError> {
        let data_dir = data_dir.into();
        let home = data_dir.join("git-home");
        std::fs::create_dir_all(&home)
            .map_err(|source| GitError::Io { context: format!("cannot create {}", home.display()), source })?;
        Ok(Self::with_git(data_dir, Git::new(home)))
    }

    /// A cache under `MAXION_DATA_DIR`, default `./maxion-data`.
    pub fn from_env() -> Result<Self, GitError> {
        Self::new(std::env::var_os("MAXION_DATA_DIR").map_or_else(|| PathBuf::from("./maxion-data"), PathBuf::from))
    }

    /// A cache with a given runner (other program, timeout or home).
    pub fn with_git(data_dir: impl Into<PathBuf>, git: Git) -> Self {
        MirrorCache { data_dir: data_dir.into(), git, locks: Mutex::new(HashMap::new()) }
    }

    /// The same cache with another retry policy for fetch, clone and push.
    pub fn with_retry(self, retry: GitRetry) -> Self {
        MirrorCache { git: self.git.with_retry(retry), ..self }
    }

    /// The runner every git process of this cache goes through.
    pub fn git(&self) -> &Git {
        &self.git
    }

    /// Where the mirror of `owner/name` lives.
    pub fn mirror_path(&self, full_name: &str) -> Result<PathBuf, GitError> {
        let (owner, name) = split_full_name(full_name)?;
        Ok(self.data_dir.join("mirrors").join(owner).join(format!("{name}.git")))
    }

    /// A place for a job's working copy, `<data dir>/work/<key>`: on the
    /// mirror's filesystem, so the local clone hardlinks objects instead of
    /// copying them.
    pub fn workspace_path(&self, key: &str) -> PathBuf {
        let key: String =
            key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect();
        self.data_dir.join("work").join(key)
    }

    /// Brings the mirror of `full_name` up to date with `clone_url` (cloning
    /// it the first time) and returns it locked; drop the result to unlock.
    pub async fn sync(&self, full_name: &str, clone_url: &str, token: &SecretString) -> Result<SyncedMirror, GitError> {
        check_clone_url(clone_url)?;
        let path = self.mirror_path(full_name)?;
        let lock = self.lock(full_name, &path).await?;
        let kind = if path.join("HEAD").is_file() {
            match self.fetch(&path, full_name, clone_url, token).await {
                Ok(()) => SyncKind::Fetched,
                // A mirror git cannot read (disk trouble, an interrupted
                // repack) is only a cache: start it again.
                Err(GitError::Failed { stderr, .. }) => {
                    tracing::warn!(repo = full_name, %stderr, "mirror unusable, cloning it again");
                    remove_dir(&path).await?;
                    self.clone_into(&path, full_name, clone_url, token).await?;
                    SyncKind::Cloned
                }
                Err(e) => return Err(e),
            }
        } else {
            self.clone_into(&path, full_name, clone_url, token).await?;
            SyncKind::Cloned
        };
        Ok(SyncedMirror { path, kind, git: self.git.clone(), _lock: lock })
    }

    /// Fetches with retries: a fetch that failed half-way leaves the
    /// mirror's refs as they were (git updates them only at the end), so
    /// trying again is always safe.
    async fn fetch(&self, path: &Path, full_name: &str, url: &str, token: &SecretString) -> Result<(), GitError> {
        let op = format!("fetch {full_name}");
        retrying(self.git.retry_policy(), &op, |_| {
            let cmd = GitCmd::new(op.as_str())
                .arg("--git-dir")
                .arg(path)
                .args(["fetch", "--quiet", "--prune", "--no-tags", "--update-head-ok", "--no-write-fetch-head", "--"])
                .arg(url)
                .args(REFSPECS)
                .token(token);
            self.git.run(cmd)
        })
        .await
        .map(drop)
    }

    /// Clones into a temporary sibling and renames it into place, so a
    /// crash mid-clone never leaves a half mirror that looks whole.
    async fn clone_into(&self, path: &Path, full_name: &str, url: &str, token: &SecretString) -> Result<(), GitError> {
        let parent = path.parent().unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // Leftovers of clones that crashed (any process: we hold the lock).
        let stale = format!(".{name}.tmp-");
        if let Ok(mut entries) = tokio::fs::read_dir(parent).await {
            while let Ok(Some(entry)) = entries.next_entry().await {
                if entry.file_name().to_string_lossy().starts_with(&stale) {
                    remove_dir(&entry.path()).await?;
                }
            }
        }
        let tmp = parent.join(format!("{stale}{}", std::process::id()));
        let init = GitCmd::new(format!("init mirror of {full_name}"))
            .args(["init", "--quiet", "--bare", "--template="])
            .arg(&tmp);
        self.git.run(init).await?;
        // Automatic gc after a fetch runs in the foreground, under our lock,
        // rather than as a detached process outliving it.
        for (key, value) in [("gc.autoDetach", "false"), ("core.logAllRefUpdates", "false")] {
            let cmd = GitCmd::new("config mirror").arg("--git-dir").arg(&tmp).args(["config", key, value]);
            self.git.run(cmd).await?;
        }
        let result = self.fetch(&tmp, full_name, url, token).await;
        if let Err(e) = result {
            let _ = remove_dir(&tmp).await;
            return Err(e);
        }
        // Whatever is there has no HEAD or was found unusable: not a mirror.
        remove_dir(path).await?;
        tokio::fs::rename(&tmp, path).await.map_err(|source| GitError::Io {
            context: format!("cannot move the new mirror to {}", path.display()),
            source,
        })
    }

    async fn lock(&self, full_name: &str, path: &Path) -> Result<RepoLock, GitError> {
        let mutex = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(locks.entry(full_name.to_owned()).or_default())
        };
        let guard = mutex.lock_owned().await;
        let parent = path.parent().unwrap_or(Path::new(".")).to_owned();
        let lock_path = path.with_extension("lock");
        let file = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
            std::fs::create_dir_all(&parent)?;
            let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path)?;
            file.lock()?;
            Ok(file)
        })
        .await
        .map_err(|e| GitError::Io { context: "mirror lock task".into(), source: std::io::Error::other(e) })?
        .map_err(|source| GitError::Io { context: format!("cannot lock the mirror of {full_name}"), source })?;
        Ok(RepoLock { _file: file, _guard: guard })
    }
}

/// Both locks of one repository; released on drop (closing the file
/// releases the advisory lock).
struct RepoLock {
    _file: std::fs::File,
    _guard: OwnedMutexGuard<()>,
}

/// A freshly synced mirror, locked until dropped. Make the job's working
/// copy from it, then let it go.
pub struct SyncedMirror {
    path: PathBuf,
    kind: SyncKind,
    git: Git,
    _lock: RepoLock,
}

impl std::fmt::Debug for SyncedMirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncedMirror").field("path", &self.path).field("kind", &self.kind).finish()
    }
}

impl SyncedMirror {
    /// The bare repository.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this sync cloned or fetched.
    pub fn kind(&self) -> SyncKind {
        self.kind
    }

    /// The commit a branch points at in the mirror, `None` when absent.
    pub async fn branch_head(&self, branch: &str) -> Result<Option<String>, GitError> {
        branch_head(&self.git, &self.path, branch).await
    }

    /// A working copy at the head of `base_branch` (the default branch), on
    /// a new local branch `branch`, at `dest` (missing or empty).
    pub async fn new_branch(&self, dest: &Path, base_branch: &str, branch: &str) -> Result<WorkingCopy, GitError> {
        self.branch_copy(dest, base_branch, None, branch, Materialize::Checkout).await
    }

    /// Like [`Self::new_branch`], but the branch starts at `base_sha`, a
    /// commit of `base_branch` read earlier (the brief's and the repository
    /// config's), so a push to the default branch meanwhile does not make
    /// the job work on a commit it did not read.
    pub async fn new_branch_at(
        &self,
        dest: &Path,
        base_branch: &str,
        base_sha: &str,
        branch: &str,
    ) -> Result<WorkingCopy, GitError> {
        self.branch_copy(dest, base_branch, Some(base_sha), branch, Materialize::Checkout).await
    }

    /// Like [`Self::new_branch_at`], but only the `.git` is written: the
    /// files go to the sandbox from [`WorkingCopy::archive`] (what the
    /// pipeline uses).
    pub async fn prepare_new_branch_at(
        &self,
        dest: &Path,
        base_branch: &str,
        base_sha: &str,
        branch: &str,
    ) -> Result<WorkingCopy, GitError> {
        self.branch_copy(dest, base_branch, Some(base_sha), branch, Materialize::GitDirOnly).await
    }

    async fn branch_copy(
        &self,
        dest: &Path,
        base_branch: &str,
        base_sha: Option<&str>,
        branch: &str,
        m: Materialize,
    ) -> Result<WorkingCopy, GitError> {
        validate_branch(branch)?;
        let base = match base_sha {
            Some(sha) if (sha.len() == 40 || sha.len() == 64) && sha.bytes().all(|b| b.is_ascii_hexdigit()) => {
                sha.to_owned()
            }
            Some(sha) => return Err(GitError::Invalid(format!("{sha:?} is not a commit id"))),
            None => self.branch_head(base_branch).await?.ok_or_else(|| GitError::NoSuchBranch(base_branch.into()))?,
        };
        // A branch left upstream by an earlier attempt at the same job is
        // the bot's own: the push may replace it, but only as last seen.
        let lease = self.branch_head(branch).await?;
        let spec = CopySpec { dest, checkout: base_branch, new_branch: Some(branch), base, lease, materialize: m };
        WorkingCopy::create(&self.git, &self.path, spec).await
    }

    /// A working copy of an existing branch (a follow-up on a pull request
    /// Maxion opened), at `dest`; commits go on top of its head.
    pub async fn checkout_existing(&self, dest: &Path, branch: &str) -> Result<WorkingCopy, GitError> {
        self.existing_branch(dest, branch, Materialize::Checkout).await
    }

    /// Like [`Self::checkout_existing`], but only the `.git` is written (the
    /// files go to the sandbox from [`WorkingCopy::archive`], as for a new branch).
    pub async fn prepare_existing(&self, dest: &Path, branch: &str) -> Result<WorkingCopy, GitError> {
        self.existing_branch(dest, branch, Materialize::GitDirOnly).await
    }

    async fn existing_branch(&self, dest: &Path, branch: &str, m: Materialize) -> Result<WorkingCopy, GitError> {
        let head = self.branch_head(branch).await?.ok_or_else(|| GitError::NoSuchBranch(branch.into()))?;
        let spec = CopySpec {
            dest,
            checkout: branch,
            new_branch: None,
            base: head.clone(),
            lease: Some(head),
            materialize: m,
        };
        WorkingCopy::create(&self.git, &self.path, spec).await
    }
}

pub(crate) async fn branch_head(git: &Git, git_dir: &Path, branch: &str) -> Result<Option<String>, GitError> {
    validate_branch(branch)?;
    let full = format!("refs/heads/{branch}");
    let cmd = GitCmd::new(format!("look up {branch}"))
        .arg("--git-dir")
        .arg(git_dir)
        .args(["for-each-ref", "--format=%(refname) %(objectname)", "--"])
        .arg(&full);
    let out = git.run(cmd).await?.text();
    // The pattern also matches refs below it (`<branch>/x`): keep the exact one.
    Ok(out.lines().find_map(|l| l.strip_prefix(full.as_str())?.strip_prefix(' ').map(str::to_owned)))
}

/// Only http(s) URLs without credentials: a token in a URL ends up in config
/// files and error messages.
pub(crate) fn check_clone_url(url: &str) -> Result<(), GitError> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Err(GitError::Invalid("clone URL must be http(s)".into()));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() || authority.contains('@') {
        // Not echoed: the part before '@' may be a credential.
        return Err(GitError::Invalid("clone URL must name a host and carry no credentials".into()));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(GitError::Invalid("clone URL contains whitespace or control characters".into()));
    }
    Ok(())
}

async fn remove_dir(path: &Path) -> Result<(), GitError> {
    match tokio::fs::remove_dir_all(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(GitError::Io { context: format!("cannot remove {}", path.display()), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_urls() {
        assert!(check_clone_url("https://github.com/o/r.git").is_ok());
        assert!(check_clone_url("http://127.0.0.1:8080/o/r.git").is_ok());
        for bad in [
            "https://x-access-token:ghs_secret@github.com/o/r.git",
            "ext::sh -c evil",
            "file:///etc",
            "git@github.com:o/r.git",
            "https:///o/r",
            "https://github.com/o r",
        ] {
            let err = check_clone_url(bad).expect_err(bad).to_string();
            assert!(!err.contains("ghs_secret"), "{err}");
        }
    }
}
