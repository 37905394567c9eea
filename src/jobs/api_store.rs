//! The store's side of the JSON API's writes: a job created through the API
//! (with its admission request, in one transaction, like intake's ledger), a
//! control request on an existing job, and deleting a finished job.

use anyhow::Context;
use sqlx::Row;

use super::model::{Job, JobId, JobState, NewJob};
use super::request::{self, ControlAction, ControlRequest};
use super::store::{JOB_COLUMNS, Store, job_from_row, now_ms};

/// What `POST /api/jobs` got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submitted {
    Created(JobId),
    /// The issue already has an active job; nothing was created.
    Active(JobId),
}

/// What `DELETE /api/jobs/{id}` got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    Deleted,
    /// Still received, queued or running: cancel it first.
    Active,
    Missing,
}

impl Store {
    /// Creates a `received` job and the request that admits it, in one
    /// transaction: an answered `POST /api/jobs` is never lost, and the one
    /// active job per issue holds (the partial unique index backs this up).
    pub async fn submit_api_job(&self, job: &NewJob) -> anyhow::Result<Submitted> {
        let now = now_ms();
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        if let Some(active) = super::store::active_job_id(&mut tx, job.repo.id, job.issue_number).await? {
            return Ok(Submitted::Active(active));
        }
        let id = super::store::insert_received_job(&mut tx, job, now).await?;
        let req = ControlRequest {
            action: ControlAction::OperatorAdmit { job: id },
            installation_id: job.installation_id,
            repo: job.repo.clone(),
            issue_number: job.issue_number,
            issue_title: job.issue_title.clone(),
            comment_id: None,
            sender_login: job.sender_login.clone(),
            sender_id: job.sender_id,
        };
        request::insert(&mut tx, &job.delivery_id, &req, now).await?;
        tx.commit().await.context("committing an API job")?;
        Ok(Submitted::Created(id))
    }

    /// Stores a control request (cancel or retry from the API or a page);
    /// the control loop acts on it as on a comment command.
    pub async fn submit_control_request(&self, request_id: &str, req: &ControlRequest) -> anyhow::Result<()> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        request::insert(&mut tx, request_id, req, now_ms()).await?;
        tx.commit().await.context("committing a control request")?;
        Ok(())
    }

    /// Deletes a finished job with its events and triggers. Deliveries that
    /// created it stay (they are the webhook's idempotency record) and lose
    /// their link to it.
    pub async fn delete_finished_job(&self, job: JobId) -> anyhow::Result<Deleted> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let row = sqlx::query("SELECT state FROM jobs WHERE id = $1")
            .bind(job.0)
            .fetch_optional(&mut *tx)
            .await
            .context("reading a job")?;
        let Some(row) = row else { return Ok(Deleted::Missing) };
        let state: String = row.try_get(0)?;
        if matches!(state.as_str(), "received" | "queued" | "running") {
            return Ok(Deleted::Active);
        }
        for statement in [
            "DELETE FROM job_events WHERE job_id = $1",
            "DELETE FROM job_triggers WHERE job_id = $1",
            "UPDATE deliveries SET job_id = NULL WHERE job_id = $1",
            "DELETE FROM jobs WHERE id = $1",
        ] {
            sqlx::query(statement).bind(job.0).execute(&mut *tx).await.context("deleting a job")?;
        }
        tx.commit().await.context("committing a job's deletion")?;
        Ok(Deleted::Deleted)
    }

    /// Jobs newest first, optionally of one repository (any case) and in one
    /// state, with how many match. `page` starts at 1.
    /// `only`: just these repositories' jobs (what a signed-in user can read).
    pub async fn list_jobs_filtered(
        &self,
        repo: Option<&str>,
        state: Option<JobState>,
        only: Option<&[i64]>,
        page: u32,
        per_page: u32,
    ) -> anyhow::Result<(Vec<Job>, i64)> {
        let repo = repo.map(str::to_ascii_lowercase).unwrap_or_default();
        let state = state.map(JobState::as_str).unwrap_or_default();
        // Repository ids are numbers from GitHub's answer, never text from the request.
        let only = match only {
            None => String::new(),
            Some([]) => " AND 1 = 0".to_owned(),
            Some(ids) => {
                let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
                format!(" AND repo_id IN ({})", ids.join(", "))
            }
        };
        let filter = format!("($1 = '' OR LOWER(repo_full_name) = $1) AND ($2 = '' OR state = $2){only}");
        let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
        let rows =
            sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE {filter} ORDER BY id DESC LIMIT $3 OFFSET $4"))
                .bind(&repo)
                .bind(state)
                .bind(i64::from(per_page))
                .bind(offset)
                .fetch_all(&self.pool)
                .await
                .context("listing jobs")?;
        let jobs = rows.iter().map(job_from_row).collect::<anyhow::Result<Vec<_>>>()?;
        let total = sqlx::query(&format!("SELECT COUNT(*) FROM jobs WHERE {filter}"))
            .bind(&repo)
            .bind(state)
            .fetch_one(&self.pool)
            .await
            .context("counting jobs")?
            .try_get::<i64, _>(0)?;
        Ok((jobs, total))
    }
}
