//! The checkout phase: the repository's mirror is synced with a read-only
//! token and the job's working copy made from it (only its `.git`; the files
//! go to the sandbox as a `git archive` stream). [`WorkDir`] removes the
//! working copy however the job ends.

use std::path::{Path, PathBuf};

use super::brief::Briefed;
use crate::github::{Permissions, RepoClient};
use crate::jobs::{Job, JobEnd};
use crate::pipeline::git::{WorkingCopy, branch_name};
use crate::pipeline::job_run::{Log, failed, git_failed};
use crate::pipeline::run::PipelineContext;

/// The job's directories under `MAXION_DATA_DIR/work`: the working copy, and
/// next to it the scratch directory and archive the agent's work comes back
/// through. Removed by [`WorkDir::remove`], or when dropped on any other way
/// out (an error, a panic, the job's task dropped), so no job leaves its
/// copy of a repository on the host.
#[derive(Debug)]
pub(crate) struct WorkDir {
    path: PathBuf,
    removed: bool,
}

impl WorkDir {
    /// The job attempt's directory (removed first, in case an earlier run of
    /// this attempt left it).
    pub(crate) async fn create(ctx: &PipelineContext, job: &Job) -> Self {
        let dir = WorkDir {
            path: ctx.data_dir.join("work").join(format!("job-{}-{}", job.id, job.attempts)),
            removed: false,
        };
        for p in dir.all() {
            let _ = tokio::fs::remove_dir_all(&p).await;
            let _ = tokio::fs::remove_file(&p).await;
        }
        dir
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Where the sandbox's files are unpacked before they replace the working copy's.
    pub(crate) fn scratch(&self) -> PathBuf {
        self.path.with_extension("download")
    }

    /// The archive downloaded from the sandbox.
    pub(crate) fn archive(&self) -> PathBuf {
        self.path.with_extension("tar")
    }

    fn all(&self) -> [PathBuf; 3] {
        [self.path.clone(), self.scratch(), self.archive()]
    }

    /// Removes the directories now.
    pub(crate) async fn remove(mut self) {
        for p in self.all() {
            let _ = tokio::fs::remove_dir_all(&p).await;
            let _ = tokio::fs::remove_file(&p).await;
        }
        self.removed = true;
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        // Synchronous, so the directory is gone before the job's end is
        // recorded; by the time this runs on an early exit it holds little
        // more than a `.git`.
        for p in self.all() {
            let _ = std::fs::remove_dir_all(&p);
            let _ = std::fs::remove_file(&p);
        }
    }
}

/// Syncs the mirror and makes the job's working copy on its branch (step
/// `checkout`).
pub(crate) async fn checkout(
    ctx: &PipelineContext,
    repo: &RepoClient,
    log: &mut Log<'_>,
    briefed: &Briefed,
    branch_prefix: &str,
) -> Result<(WorkingCopy, WorkDir), JobEnd> {
    let started = log.step_started("checkout").await;
    let result = make_working_copy(ctx, repo, log.job, briefed, branch_prefix).await;
    log.step_ended("checkout", started, &result).await;
    result
}

async fn make_working_copy(
    ctx: &PipelineContext,
    repo: &RepoClient,
    job: &Job,
    briefed: &Briefed,
    branch_prefix: &str,
) -> Result<(WorkingCopy, WorkDir), JobEnd> {
    let g = &briefed.gathered;
    let branch = match &briefed.follow_up_branch {
        Some(b) => b.clone(),
        None => branch_name(branch_prefix, job.spec.issue_number.0, &job.spec.issue_title),
    };
    let token = ctx
        .app
        .token_for(repo.installation_id(), &repo.name, Permissions::contents_read())
        .await
        .map_err(|e| failed(e, "checkout"))?;
    let mirror =
        ctx.mirrors.sync(&repo.full_name(), &g.clone_url, &token).await.map_err(|e| git_failed(e, "checkout"))?;
    drop(token);
    let dir = WorkDir::create(ctx, job).await;
    let wc = match briefed.follow_up_branch {
        Some(_) => mirror.prepare_existing(dir.path(), &branch).await,
        None => mirror.prepare_new_branch_at(dir.path(), &g.default_branch, &g.head_sha, &branch).await,
    }
    .map_err(|e| failed(e, "checkout"))?;
    Ok((wc, dir))
}

#[cfg(test)]
mod tests {
    use super::WorkDir;

    #[test]
    fn a_dropped_work_dir_takes_the_working_copy_and_its_scratch_with_it() {
        let data = tempfile::tempdir().expect("temp dir");
        let dir = WorkDir { path: data.path().join("job-1-1"), removed: false };
        std::fs::create_dir_all(dir.path().join(".git")).expect("working copy");
        std::fs::create_dir_all(dir.scratch().join("workspace")).expect("scratch");
        std::fs::write(dir.archive(), b"tar").expect("archive");
        drop(dir);
        let left: Vec<_> = std::fs::read_dir(data.path()).expect("list").collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}
