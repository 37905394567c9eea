//! A job's working copy: a local clone of the mirror on the job's branch,
//! remotes removed, uploaded with its `.git` into the sandbox; and, after
//! the agent ran, the commit of what came back and the push.
//!
//! What comes back from the sandbox is untrusted, `.git` included: a
//! `core.fsmonitor` or hook planted there would run on the host the moment
//! git looked at the directory. So the host never uses that `.git`. It stages
//! the returned files with the mirror as git dir and a throw-away index
//! (`--git-dir <mirror> --work-tree <dir>`, `GIT_INDEX_FILE`), writes the
//! commit into the mirror's object store (objects only, no ref moves) and
//! pushes from there. Touches: the working copy dir, the mirror's objects,
//! a temporary index file, git processes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use secrecy::SecretString;

use super::GitError;
use super::mirror::check_clone_url;
use super::names::{CoAuthor, validate_branch, with_trailer};
use super::retry::retrying;
use super::runner::{Git, GitCmd, GitStream};
use tokio::process::ChildStdout;

/// Never part of a commit: the agent's scratch space for its commit message
/// and pull-request body.
pub const SCRATCH_DIR: &str = ".maxion";

/// The author and committer of Maxion's commits (the App's bot account).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

/// A working copy made by [`super::SyncedMirror::new_branch`] or
/// [`super::SyncedMirror::checkout_existing`].
#[derive(Debug)]
pub struct WorkingCopy {
    dir: PathBuf,
    mirror: PathBuf,
    branch: String,
    base: String,
    git: Git,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The parent of the next commit: the base, then each commit made.
    head: String,
    /// What the branch is believed to point at upstream (`None`: absent).
    lease: Option<String>,
    /// Set by [`WorkingCopy::limit_to`]: only these paths are staged.
    only: Option<Vec<String>>,
}

/// Whether [`WorkingCopy::create`] writes the files of the commit to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Materialize {
    /// A normal checkout.
    Checkout,
    /// Only `.git` (with an index of the commit): the files reach the
    /// sandbox as a stream from [`WorkingCopy::archive`]. Writing 10,000
    /// files to the host's disk was most of a warm job's git time.
    GitDirOnly,
}

/// `git archive` honours `export-ignore`/`export-subst` from the tree's
/// `.gitattributes`; `info/attributes` outranks them, so the sandbox gets the
/// commit exactly as a checkout would show it.
const ARCHIVE_AS_CHECKOUT: &str = "* -export-ignore -export-subst\n";

/// What [`WorkingCopy::create`] makes: where, from which branch, on which.
pub(crate) struct CopySpec<'a> {
    /// An empty or absent directory.
    pub dest: &'a Path,
    /// The mirror's branch to clone.
    pub checkout: &'a str,
    /// A branch to create at `base` and work on; `None`: work on `checkout`.
    pub new_branch: Option<&'a str>,
    /// The commit the work starts from.
    pub base: String,
    /// What the branch is believed to point at upstream (`None`: absent).
    pub lease: Option<String>,
    pub materialize: Materialize,
}

impl WorkingCopy {
    pub(crate) async fn create(git: &Git, mirror: &Path, spec: CopySpec<'_>) -> Result<Self, GitError> {
        let CopySpec { dest, checkout, new_branch, base, lease, materialize } = spec;
        validate_branch(checkout)?;
        let io = |context: String| move |source| GitError::Io { context, source };
        if let Ok(mut entries) = tokio::fs::read_dir(dest).await
            && entries.next_entry().await.map_err(io(format!("cannot read {}", dest.display())))?.is_some()
        {
            return Err(GitError::Invalid(format!("working copy destination {} is not empty", dest.display())));
        }
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(io(format!("cannot create {}", parent.display())))?;
        }
        // A plain local path: objects are hardlinked where the filesystem
        // allows and copied where it does not.
        let no_checkout = materialize == Materialize::GitDirOnly;
        let clone = GitCmd::new(format!("clone working copy of {checkout}"))
            .args(["clone", "--quiet", "--branch", checkout])
            .args(no_checkout.then_some("--no-checkout"))
            .arg("--")
            .arg(mirror)
            .arg(dest);
        git.run(clone).await?;
        let branch = match new_branch {
            Some(b) if no_checkout => {
                // At `base`, not wherever `checkout` is now (see below).
                let cmd = GitCmd::new(format!("create branch {b}")).cwd(dest).args(["branch", "--", b, base.as_str()]);
                git.run(cmd).await?;
                let head = format!("refs/heads/{b}");
                git.run(GitCmd::new(format!("switch to {b}")).cwd(dest).args(["symbolic-ref", "HEAD", head.as_str()]))
                    .await?;
                b.to_owned()
            }
            Some(b) => {
                // At `base`, not wherever `checkout` is now: the job may pin an
                // older commit of it (the one its brief and config were read at).
                let cmd = GitCmd::new(format!("create branch {b}"))
                    .cwd(dest)
                    .args(["checkout", "--quiet", "-b", b])
                    .arg(base.as_str());
                git.run(cmd).await?;
                b.to_owned()
            }
            None => checkout.to_owned(),
        };
        if no_checkout {
            // An index of the commit (no stat data: git in the sandbox
            // re-hashes once), so `git status` there shows a clean tree.
            git.run(GitCmd::new("index the commit").cwd(dest).args(["read-tree", "HEAD"])).await?;
            let info = dest.join(".git/info");
            tokio::fs::create_dir_all(&info)
                .await
                .map_err(|source| GitError::Io { context: format!("cannot create {}", info.display()), source })?;
            tokio::fs::write(info.join("attributes"), ARCHIVE_AS_CHECKOUT)
                .await
                .map_err(|source| GitError::Io { context: "cannot write info/attributes".into(), source })?;
        }
        // The copy goes into the sandbox: no remote, so nothing there knows
        // where the repository lives or could push to it.
        git.run(GitCmd::new("remove remote").cwd(dest).args(["remote", "remove", "origin"])).await?;
        Ok(WorkingCopy {
            dir: dest.to_owned(),
            mirror: mirror.to_owned(),
            branch,
            git: git.clone(),
            state: Mutex::new(State { head: base.clone(), lease, only: None }),
            base,
        })
    }

    /// The working tree (with its `.git`), to upload into `/workspace`.
    /// For a [`Materialize::GitDirOnly`] copy it holds only `.git`; the
    /// files come from [`Self::archive`].
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The base commit's files as a tar stream (`git archive`), read from
    /// the returned stdout; then [`GitStream::finish`] says whether git
    /// succeeded. No token, no network: it reads the local clone.
    pub fn archive(&self) -> Result<(GitStream, ChildStdout), GitError> {
        let git_dir = self.dir.join(".git");
        let cmd = GitCmd::new("archive the base commit").arg("--git-dir").arg(git_dir).args([
            "archive",
            "--format=tar",
            self.base.as_str(),
        ]);
        self.git.spawn_stdout(cmd)
    }

    /// Stages only `paths` from now on: the files that came back from the
    /// sandbox are just the changed ones, so everything else absent from the
    /// directory is unchanged, not deleted. Paths are literal (no pathspec
    /// magic) and relative to the repository root.
    pub fn limit_to(&self, paths: Vec<String>) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).only = Some(paths);
    }

    /// The branch commits go to.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The commit the working copy started from.
    pub fn base_commit(&self) -> &str {
        &self.base
    }

    /// The parent the next commit gets: the base, or the last commit made.
    pub fn head(&self) -> String {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).head.clone()
    }

    /// Empties the directory (the `.git` too) so the sandbox's `/workspace`
    /// can be extracted into it: files the agent deleted stay deleted, and
    /// no extracted file is written through a hardlink into the mirror.
    pub async fn clear_for_results(&self) -> Result<(), GitError> {
        let io = |source| GitError::Io { context: format!("cannot clear {}", self.dir.display()), source };
        let mut entries = tokio::fs::read_dir(&self.dir).await.map_err(io)?;
        while let Some(entry) = entries.next_entry().await.map_err(io)? {
            let path = entry.path();
            if entry.file_type().await.map_err(io)?.is_dir() {
                tokio::fs::remove_dir_all(&path).await.map_err(io)?;
            } else {
                tokio::fs::remove_file(&path).await.map_err(io)?;
            }
        }
        Ok(())
    }

    /// Deletes the working copy.
    pub async fn remove(self) -> Result<(), GitError> {
        tokio::fs::remove_dir_all(&self.dir)
            .await
            .map_err(|source| GitError::Io { context: format!("cannot remove {}", self.dir.display()), source })
    }

    /// Paths that differ from [`Self::head`] (added, modified, deleted),
    /// `.maxion/` and nested repositories left out.
    pub async fn changed_paths(&self) -> Result<Vec<String>, GitError> {
        let index = TempIndex::new();
        self.stage(&index).await
    }

    /// Stages what changed (as [`Self::changed_paths`]) for
    /// [`Self::commit_staged`]: the caller looks at the paths before
    /// anything is committed, and the tree is staged once, not twice.
    pub async fn stage_changes(&self) -> Result<Staged, GitError> {
        let index = TempIndex::new();
        let paths = self.stage(&index).await?;
        Ok(Staged { index, paths })
    }

    /// Commits everything that changed (except `.maxion/`) on top of
    /// [`Self::head`], with `author` as author and committer and the
    /// co-author trailer appended. `None` when nothing changed.
    pub async fn commit_all(
        &self,
        message: &str,
        author: &Identity,
        co_author: Option<&CoAuthor>,
    ) -> Result<Option<String>, GitError> {
        let staged = self.stage_changes().await?;
        self.commit_staged(staged, message, author, co_author).await
    }

    /// Commits what [`Self::stage_changes`] staged, like [`Self::commit_all`].
    pub async fn commit_staged(
        &self,
        staged: Staged,
        message: &str,
        author: &Identity,
        co_author: Option<&CoAuthor>,
    ) -> Result<Option<String>, GitError> {
        for field in [&author.name, &author.email] {
            if field.trim().is_empty() || field.contains(['<', '>', '\n', '\0']) {
                return Err(GitError::Invalid(format!("commit identity field {field:?}")));
            }
        }
        if message.trim().is_empty() {
            return Err(GitError::Invalid("empty commit message".into()));
        }
        let Staged { index, paths } = staged;
        if paths.is_empty() {
            return Ok(None);
        }
        let tree = self.git.run(self.in_tree("write tree", &index).arg("write-tree")).await?.text();
        let parent = self.head();
        let commit = self
            .in_tree("commit", &index)
            .args(["commit-tree", tree.as_str(), "-p", parent.as_str(), "-F", "-"])
            .env("GIT_AUTHOR_NAME", &author.name)
            .env("GIT_AUTHOR_EMAIL", &author.email)
            .env("GIT_COMMITTER_NAME", &author.name)
            .env("GIT_COMMITTER_EMAIL", &author.email)
            .stdin(with_trailer(message, co_author).into_bytes());
        let sha = self.git.run(commit).await?.text();
        self.state.lock().unwrap_or_else(|e| e.into_inner()).head = sha.clone();
        Ok(Some(sha))
    }

    /// Pushes `commit` to the branch at `clone_url` with a freshly minted
    /// token. The branch is the bot's own, so the push may replace it, but
    /// only if it still points where Maxion last saw it (force-with-lease):
    /// a maintainer's commit pushed meanwhile is never overwritten.
    pub async fn push(&self, commit: &str, clone_url: &str, token: &SecretString) -> Result<(), GitError> {
        check_clone_url(clone_url)?;
        if !(commit.len() == 40 || commit.len() == 64) || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(GitError::Invalid(format!("{commit:?} is not a commit id")));
        }
        let target = format!("refs/heads/{}", self.branch);
        let lease = self.state.lock().unwrap_or_else(|e| e.into_inner()).lease.clone().unwrap_or_default();
        let op = format!("push {}", self.branch);
        retrying(self.git.retry_policy(), &op, |attempt| {
            let (op, target, lease) = (&op, &target, &lease);
            async move {
                // A failed answer does not mean a failed push: if the branch
                // already points at the commit, it landed.
                if attempt > 0 && self.remote_head(clone_url, token).await.ok().flatten().as_deref() == Some(commit) {
                    return Ok(());
                }
                let cmd = GitCmd::new(op.as_str())
                    .arg("--git-dir")
                    .arg(&self.mirror)
                    .args(["push", "--quiet", "--no-verify", "--porcelain"])
                    .arg(format!("--force-with-lease={target}:{lease}"))
                    .arg("--")
                    .arg(clone_url)
                    .arg(format!("{commit}:{target}"))
                    .token(token);
                self.git.run(cmd).await.map(drop)
            }
        })
        .await?;
        self.state.lock().unwrap_or_else(|e| e.into_inner()).lease = Some(commit.to_owned());
        Ok(())
    }

    /// Where the job's branch points upstream, `None` when it does not exist.
    async fn remote_head(&self, clone_url: &str, token: &SecretString) -> Result<Option<String>, GitError> {
        let target = format!("refs/heads/{}", self.branch);
        let cmd = GitCmd::new(format!("look up {} upstream", self.branch))
            .arg("--git-dir")
            .arg(&self.mirror)
            .args(["ls-remote", "--refs", "--"])
            .arg(clone_url)
            .arg(&target)
            .token(token);
        let out = self.git.run(cmd).await?.text();
        Ok(out.lines().find_map(|l| {
            let (sha, name) = l.split_once('\t')?;
            (name == target).then(|| sha.to_owned())
        }))
    }

    /// A command on the returned tree with the host's git dir and index.
    fn in_tree<'a>(&'a self, op: &str, index: &'a TempIndex) -> GitCmd<'a> {
        GitCmd::new(op)
            .arg("--git-dir")
            .arg(&self.mirror)
            .arg("--work-tree")
            .arg(&self.dir)
            .cwd(&self.dir)
            .env("GIT_INDEX_FILE", &index.0)
    }

    /// Fills `index` from the head commit plus the returned tree; returns
    /// the changed paths.
    async fn stage(&self, index: &TempIndex) -> Result<Vec<String>, GitError> {
        let head = self.head();
        self.git.run(self.in_tree("read tree", index).args(["read-tree", head.as_str()])).await?;
        let only = self.state.lock().unwrap_or_else(|e| e.into_inner()).only.clone();
        match only {
            None => {
                let exclude = format!(":(exclude){SCRATCH_DIR}");
                let add = self.in_tree("stage changes", index).args(["add", "--all", "--", ".", exclude.as_str()]);
                self.git.run(add).await?;
            }
            Some(paths) => {
                let scratch = format!("{SCRATCH_DIR}/");
                let list: Vec<u8> = paths
                    .iter()
                    .filter(|p| p.as_str() != SCRATCH_DIR && !p.starts_with(&scratch))
                    .flat_map(|p| p.bytes().chain([0]))
                    .collect();
                // `add` without pathspecs would stage the whole (sparse) directory.
                if list.is_empty() {
                    return Ok(Vec::new());
                }
                let add = self
                    .in_tree("stage changes", index)
                    .args(["--literal-pathspecs", "add", "--all", "--pathspec-from-file=-", "--pathspec-file-nul"])
                    .stdin(list);
                self.git.run(add).await?;
            }
        }
        let raw = self
            .git
            .run(self.in_tree("list changes", index).args([
                "diff-index",
                "--cached",
                "--raw",
                "-z",
                "--no-renames",
                head.as_str(),
            ]))
            .await?
            .stdout;
        let mut changed = Vec::new();
        let mut dropped = Vec::new();
        let mut fields = raw.split(|b| *b == 0).filter(|f| !f.is_empty());
        while let (Some(meta), Some(path)) = (fields.next(), fields.next()) {
            let meta = String::from_utf8_lossy(meta);
            let path = String::from_utf8_lossy(path).into_owned();
            let mut modes = meta.trim_start_matches(':').split(' ');
            let (old_mode, new_mode) = (modes.next().unwrap_or(""), modes.next().unwrap_or(""));
            // A repository the agent cloned inside the tree would become a
            // gitlink to a commit GitHub has never seen.
            if new_mode == "160000" && old_mode != "160000" {
                dropped.push(path);
            } else {
                changed.push(path);
            }
        }
        if !dropped.is_empty() {
            tracing::warn!(paths = ?dropped, "nested repositories left out of the commit");
            let cmd = self.in_tree("drop nested repositories", index).args(["update-index", "--force-remove", "--"]);
            self.git.run(cmd.args(&dropped)).await?;
        }
        Ok(changed)
    }
}

/// The changes of a working copy staged in a throw-away index.
#[derive(Debug)]
pub struct Staged {
    index: TempIndex,
    paths: Vec<String>,
}

impl Staged {
    /// The changed paths (added, modified, deleted).
    pub fn paths(&self) -> &[String] {
        &self.paths
    }
}

/// A uniquely named index file outside both the working tree (the sandbox
/// wrote it) and the mirror (shared by jobs); removed on drop.
#[derive(Debug)]
struct TempIndex(PathBuf);

impl TempIndex {
    fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        TempIndex(std::env::temp_dir().join(format!("maxion-index-{}-{n}", std::process::id())))
    }
}

impl Drop for TempIndex {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let _ = std::fs::remove_file(self.0.with_extension("lock"));
    }
}
