//! The job queries the control loop needs: cancellation requests, the queue
//! position and wait estimate behind `/maxion status`, and creating a retry.

use std::time::Duration;

use anyhow::Context;
use sqlx::Row;

use super::model::{IssueNumber, Job, JobId, NewJob, RepoId};
use super::store::{JOB_COLUMNS, Store, job_from_row, now_ms};

/// Finished jobs whose run time feeds the wait estimate.
const ESTIMATE_SAMPLE: i64 = 20;

impl Store {
    /// Asks the worker holding a running job to stop it; `false` if the job
    /// is not running. The worker sees the request on its next heartbeat.
    pub async fn request_cancel(&self, job: JobId, by: &str) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET cancel_requested_by = $1, updated_at = $2 WHERE id = $3 AND state = 'running'",
        )
        .bind(by)
        .bind(now_ms())
        .bind(job.0)
        .execute(&self.pool)
        .await
        .context("requesting a job's cancellation")?;
        Ok(done.rows_affected() == 1)
    }

    /// Who asked to cancel this job, if anyone did.
    pub async fn cancel_requested_by(&self, job: JobId) -> anyhow::Result<Option<String>> {
        let row = sqlx::query("SELECT cancel_requested_by FROM jobs WHERE id = $1")
            .bind(job.0)
            .fetch_optional(&self.pool)
            .await
            .context("reading a job's cancellation request")?;
        Ok(row.map(|r| r.try_get::<Option<String>, _>(0)).transpose()?.flatten())
    }

    /// The branch of pull request `pr_number` when one of this repository's
    /// jobs opened or updated it: how Maxion tells its own pull requests
    /// from anyone else's without trusting the branch name.
    pub async fn maxion_pull_branch(&self, repo_id: RepoId, pr_number: IssueNumber) -> anyhow::Result<Option<String>> {
        let row = sqlx::query(
            "SELECT branch FROM jobs WHERE repo_id = $1 AND pr_number = $2 AND branch IS NOT NULL \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(repo_id.db())
        .bind(pr_number.db())
        .fetch_optional(&self.pool)
        .await
        .context("looking up a pull request's branch")?;
        Ok(row.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    /// The newest job of an issue, whatever its state.
    pub async fn latest_job_for_issue(
        &self,
        repo_id: RepoId,
        issue_number: IssueNumber,
    ) -> anyhow::Result<Option<Job>> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE repo_id = $1 AND issue_number = $2 ORDER BY id DESC LIMIT 1"
        ))
        .bind(repo_id.db())
        .bind(issue_number.db())
        .fetch_optional(&self.pool)
        .await
        .context("reading the latest job of an issue")?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    /// 1-based place of a queued job among all queued jobs (workers claim oldest first).
    pub async fn queue_position(&self, job: JobId) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND id <= $1")
            .bind(job.0)
            .fetch_one(&self.pool)
            .await
            .context("computing a queue position")?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Run times of the most recent jobs that ran to an end, newest first.
    pub async fn recent_run_times(&self) -> anyhow::Result<Vec<Duration>> {
        let rows = sqlx::query(
            "SELECT finished_at - started_at FROM jobs WHERE state IN ('succeeded', 'failed', 'timed_out') \
             AND started_at IS NOT NULL AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT $1",
        )
        .bind(ESTIMATE_SAMPLE)
        .fetch_all(&self.pool)
        .await
        .context("reading recent job durations")?;
        rows.iter().map(|r| Ok(Duration::from_millis(u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0)))).collect()
    }

    /// Creates a `received` job for a retry (the control loop then admits it
    /// as it admits any job); `None` when the issue has an active job already.
    pub async fn create_received_job(&self, job: &NewJob) -> anyhow::Result<Option<JobId>> {
        let now = now_ms();
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        if super::store::active_job_id(&mut tx, job.repo.id, job.issue_number).await?.is_some() {
            return Ok(None);
        }
        let id = super::store::insert_received_job(&mut tx, job, now).await.context("creating a retry job")?;
        tx.commit().await.context("committing a retry job")?;
        Ok(Some(id))
    }
}
