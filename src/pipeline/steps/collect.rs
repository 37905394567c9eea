//! Bringing the agent's work back from the sandbox onto the host working
//! copy, before the ship phase commits it.
//!
//! Fast path: the sandbox's own git lists the paths that differ from the
//! base commit, and only those files come out (a one-file change in a
//! 10,000-file repository moves one file, not 100 MB). The list is the
//! agent's to shape, like the files themselves, so it is checked (relative,
//! no `..`, no `.git`) and only used to choose what to stage; host git never
//! reads the sandbox's `.git`. When the sandbox cannot answer (no git in the
//! image, `.git` removed or broken by the agent), the whole workspace comes
//! back instead and everything in it is compared with the base.
//!
//! The uploaded index has no stat data, so a plain `git add --all` in the
//! sandbox re-reads and hashes every file (~0.5 s for 100 MB). Instead, right
//! after the upload [`note_base`] records every file's inode and ctime (and
//! waits for the clock to tick past them); at collection, files whose inode
//! and ctime are unchanged are marked assume-unchanged so that `git add`
//! skips them. A change always moves a file's ctime (even one that keeps its
//! mtime) or replaces its inode (renames), and deleted or new files are not
//! marked, so only untouched files are skipped. Without the GNU tools this
//! needs (`find -printf`, `sort -z`, `comm -z`, `sed -z`) nothing is marked
//! and every file is hashed as before.
//! Touches: the sandbox (execs, tar), the working copy's directory.

use anyhow::Context;

use super::checkout::WorkDir;
use crate::jobs::JobEnd;
use crate::pipeline::git::{SCRATCH_DIR, WorkingCopy};
use crate::pipeline::job_run::{failed, failed_in};
use crate::report::text;
use crate::sandbox::{ExecRequest, Sandbox, SandboxError, WORKSPACE};

/// The most paths the fast path takes; beyond it the whole tree comes back.
const MAX_PATHS: usize = 200_000;
/// The most bytes of path list the sandbox may print.
const MAX_LIST_BYTES: usize = 32 * 1024 * 1024;

/// How the agent's work came back, for the job log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collected {
    /// Only these many changed paths were transferred.
    Changed(usize),
    /// The sandbox could not list its changes: the whole workspace came back.
    Workspace,
}

impl std::fmt::Display for Collected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let changed = match self {
            Collected::Changed(n) => Some(*n),
            Collected::Workspace => None,
        };
        f.write_str(&text::collected(changed))
    }
}

/// Fills the (cleared) working copy with what the agent left in
/// `/workspace`: only the changed files when the sandbox can say which.
pub(crate) async fn collect(sandbox: &Sandbox, wc: &WorkingCopy, dir: &WorkDir) -> Result<Collected, JobEnd> {
    let scratch = dir.scratch();
    let _ = tokio::fs::remove_dir_all(&scratch).await;
    tokio::fs::create_dir_all(&scratch).await.map_err(|e| failed(e, "ship"))?;
    let archive = dir.archive();
    let mut changed = changed_in_sandbox(sandbox, &wc.head()).await;
    if let Some(paths) = &changed {
        // The agent's commit message and PR body, listed or not (an entry
        // listed twice would be archived twice).
        let mut wanted = paths.clone();
        for extra in ["commit-message.txt", "pr-body.md"].map(|f| format!("{SCRATCH_DIR}/{f}")) {
            if !wanted.contains(&extra) {
                wanted.push(extra);
            }
        }
        let mut file = tokio::fs::File::create(&archive).await.map_err(|e| failed(e, "ship"))?;
        match sandbox.download_listed(&wanted, &mut file).await {
            Ok(()) => {}
            Err(e @ SandboxError::Transfer(_)) => {
                tracing::info!(error = %e, "downloading the changed files failed; downloading the whole workspace");
                changed = None;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if changed.is_none() {
        // The sandbox is done with its `.git`; dropping it there keeps it
        // out of the transfer (large, and never trusted here).
        let (tx, _rx) = tokio::sync::mpsc::channel(16);
        let rm = ExecRequest::new(["rm", "-rf", "--", "/workspace/.git"]);
        let removed = sandbox.exec(rm, &tx).await?;
        if !removed.outcome.succeeded() {
            let why = format!("removing the sandbox's .git {}", text::exec_outcome(&removed.outcome));
            return Err(failed(why, "ship"));
        }
        let mut file = tokio::fs::File::create(&archive).await.map_err(|e| failed(e, "ship"))?;
        sandbox.download_tar(WORKSPACE, &mut file).await?;
    }
    // Through a file rather than unpacking while downloading: an unpacker
    // may stop at the end-of-archive marker while `tar` still writes record
    // padding, which fails the transfer at random.
    let (from_archive, into) = (archive.clone(), scratch.clone());
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let mut a = tar::Archive::new(std::fs::File::open(&from_archive)?);
        a.set_preserve_permissions(false);
        a.set_preserve_ownerships(false);
        a.set_unpack_xattrs(false);
        a.set_overwrite(true);
        a.unpack(&into)
    })
    .await
    .map_err(|e| failed(e, "ship"))?
    .map_err(|e| {
        let cause = std::error::Error::source(&e).map(|c| format!(": {c}")).unwrap_or_default();
        failed(format!("unpacking the workspace: {e}{cause}"), "ship")
    })?;
    let _ = tokio::fs::remove_file(&archive).await;
    wc.clear_for_results().await.map_err(|e| failed(e, "ship"))?;
    let (from, collected) = match changed {
        Some(paths) => {
            let n = paths.len();
            wc.limit_to(paths);
            (scratch.clone(), Collected::Changed(n))
        }
        None => (scratch.join(WORKSPACE.trim_start_matches('/')), Collected::Workspace),
    };
    move_except_git(&from, wc.dir()).await.map_err(failed_in("ship"))?;
    let _ = tokio::fs::remove_dir_all(&scratch).await;
    Ok(collected)
}

/// Every file of the uploaded tree with its inode and ctime (outside the
/// workspace, so it is not part of the agent's work).
const BASE_LIST: &str = "/tmp/.maxion-base";

/// Lists the uploaded files' inodes and ctimes, then waits until the clock
/// has ticked past the listing (file times are coarse: a write in the same
/// tick would otherwise leave a file's ctime as it was). Called right after
/// the upload; if it fails, collection hashes every file.
pub(crate) async fn note_base(sandbox: &Sandbox) {
    let script = "cd /workspace && \
        find . -path ./.git -prune -o ! -type d -printf '%i %C@ %p\\0' > \"$1.tmp\" && mv \"$1.tmp\" \"$1\" && \
        touch \"$1.t0\" && until [ -n \"$(find \"$1.t1\" -newer \"$1.t0\" 2>/dev/null)\" ]; do touch \"$1.t1\"; done";
    let argv = ["sh", "-c", script, "sh", BASE_LIST].map(str::to_owned).to_vec();
    if let Err(e) = sandbox.capture(argv, 4096).await {
        tracing::info!(error = %e, "listing the uploaded files failed; collection will hash every file");
    }
}

/// The paths that differ from `base` according to the sandbox's git, or
/// `None` when it cannot say or says something unusable.
async fn changed_in_sandbox(sandbox: &Sandbox, base: &str) -> Option<Vec<String>> {
    if !base.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // Staging in the sandbox's own index counts new files; the index is
    // thrown away with the sandbox. Files listed identically (inode, ctime,
    // path) before and after the agent are marked assume-unchanged first, so
    // that `add` does not hash them; if any tool is missing or fails,
    // nothing is marked.
    let script = "if [ -f \"$2\" ]; then \
          find . -path ./.git -prune -o ! -type d -printf '%i %C@ %p\\0' > \"$2.now\" && \
          LC_ALL=C sort -z \"$2\" > \"$2.a\" && LC_ALL=C sort -z \"$2.now\" > \"$2.b\" && \
          LC_ALL=C comm -z -12 \"$2.a\" \"$2.b\" | sed -z 's/^[^ ]* [^ ]* \\.\\///' | \
          git update-index -z --assume-unchanged --stdin 2>/dev/null || true; \
        fi; \
        git -c core.fsmonitor=false -c core.hooksPath=/dev/null add --all -- . >/dev/null && \
        git diff --cached --name-only --no-renames -z \"$1\" --";
    let argv = ["sh", "-c", script, "sh", base, BASE_LIST].map(str::to_owned).to_vec();
    let out = match sandbox.capture(argv, MAX_LIST_BYTES).await {
        Ok(out) => out,
        Err(e) => {
            tracing::info!(error = %e, "the sandbox's git cannot list changes; downloading the whole workspace");
            return None;
        }
    };
    let mut paths = Vec::new();
    for raw in out.split(|b| *b == 0).filter(|p| !p.is_empty()) {
        let path = String::from_utf8(raw.to_vec()).ok().filter(|p| returned_path_ok(p))?;
        paths.push(path);
        if paths.len() > MAX_PATHS {
            return None;
        }
    }
    Some(paths)
}

/// A path the sandbox reported may only name something inside the
/// repository and outside any `.git`.
fn returned_path_ok(path: &str) -> bool {
    !path.starts_with('/')
        && !path.contains('\\')
        && path.split('/').all(|c| !c.is_empty() && c != "." && c != ".." && !c.eq_ignore_ascii_case(".git"))
}

async fn move_except_git(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    let mut entries = match tokio::fs::read_dir(from).await {
        Ok(e) => e,
        // An empty workspace arrives as nothing at all.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", from.display())),
    };
    while let Some(entry) = entries.next_entry().await? {
        if entry.file_name() == ".git" {
            continue;
        }
        let dest = to.join(entry.file_name());
        tokio::fs::rename(entry.path(), &dest).await.with_context(|| format!("moving to {}", dest.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::returned_path_ok;

    #[test]
    fn returned_paths_stay_inside_the_repository() {
        for ok in ["a.txt", "src/lib.rs", ".maxion/pr-body.md", ".github/workflows/ci.yml", "a/.gitignore"] {
            assert!(returned_path_ok(ok), "{ok}");
        }
        for bad in ["/etc/passwd", "../x", "a/../../x", "a//b", "./a", ".git/config", "a/.GIT/hooks/x", "a\\b", ""] {
            assert!(!returned_path_ok(bad), "{bad}");
        }
    }
}
