//! The durable store: SQLite (embedded default) or PostgreSQL (several
//! instances sharing one database), through sqlx's `Any` driver so there is
//! one code path. The few statements that must differ branch on
//! [`Backend`]. Times are stored as Unix milliseconds.
//!
//! Text that came from outside (errors, event payloads) is masked before it is
//! written, so the store never holds a known secret.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use super::delivery::{DeliveryOutcome, StoredDelivery};
use super::model::{
    CommentId, FollowUp, IssueNumber, Job, JobEvent, JobId, JobState, NewJob, RepoId, RepoRef, StoredEvent, TriggerKind,
};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A handle to the store; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
}

/// The columns of `jobs` in the order [`job_from_row`] reads them.
pub(crate) const JOB_COLUMNS: &str = "id, state, installation_id, repo_id, repo_full_name, clone_url, \
    default_branch, issue_number, issue_title, trigger_kind, trigger_comment_id, sender_login, sender_id, \
    instructions, delivery_id, attempts, step, error, created_at, updated_at, started_at, finished_at, branch, pr_number, \
    follow_up, status_comment_id";

impl Store {
    /// Connects (creating a SQLite file if it is missing). Does not migrate.
    pub async fn connect(url: &SecretString) -> anyhow::Result<Store> {
        sqlx::any::install_default_drivers();
        let raw = url.expose_secret();
        let backend = if raw.starts_with("sqlite:") { Backend::Sqlite } else { Backend::Postgres };
        let url = match backend {
            Backend::Sqlite if !raw.contains("mode=") && !raw.contains(":memory:") => {
                format!("{raw}{}mode=rwc", if raw.contains('?') { '&' } else { '?' })
            }
            _ => raw.to_owned(),
        };
        // The URL may carry a password: errors say which backend, never the URL.
        let options = AnyConnectOptions::from_str(&url).context("DATABASE_URL is not a valid database URL")?;
        let pool = AnyPoolOptions::new()
            .max_connections(match backend {
                Backend::Sqlite => 8,
                Backend::Postgres => 16,
            })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL lets readers run beside the single writer; NORMAL sync in WAL
                        // mode survives a process crash (only power loss can cost the last commits).
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot connect to the {backend:?} database named by DATABASE_URL"))?;
        Ok(Store { pool, backend })
    }

    /// Applies the migrations for this backend.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite"),
            Backend::Postgres => sqlx::migrate!("migrations/postgres"),
        };
        migrator.run(&self.pool).await.context("applying database migrations")?;
        Ok(())
    }

    /// Connects and migrates: what `serve` does at start-up.
    pub async fn open(url: &SecretString) -> anyhow::Result<Store> {
        let store = Store::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes every connection (waits for them to be returned).
    pub async fn pool_close(&self) {
        self.pool.close().await;
    }

    pub async fn get_job(&self, id: JobId) -> anyhow::Result<Option<Job>> {
        let row = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await
            .context("reading a job")?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    /// Jobs newest first. `page` starts at 1.
    pub async fn list_jobs(&self, page: u32, per_page: u32) -> anyhow::Result<Vec<Job>> {
        let offset = i64::from(page.saturating_sub(1)) * i64::from(per_page);
        let rows = sqlx::query(&format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY id DESC LIMIT $1 OFFSET $2"))
            .bind(i64::from(per_page))
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .context("listing jobs")?;
        rows.iter().map(job_from_row).collect()
    }

    pub async fn count_jobs(&self) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM jobs").fetch_one(&self.pool).await.context("counting jobs")?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    pub async fn count_deliveries(&self) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM deliveries")
            .fetch_one(&self.pool)
            .await
            .context("counting deliveries")?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// The active (received, queued or running) job for an issue, if any.
    pub async fn active_job_for_issue(
        &self,
        repo_id: RepoId,
        issue_number: IssueNumber,
    ) -> anyhow::Result<Option<Job>> {
        let row = sqlx::query(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE repo_id = $1 AND issue_number = $2 \
             AND state IN ('received', 'queued', 'running')"
        ))
        .bind(repo_id.db())
        .bind(issue_number.db())
        .fetch_optional(&self.pool)
        .await
        .context("reading the active job of an issue")?;
        row.map(|r| job_from_row(&r)).transpose()
    }

    /// Appends an event to a job's log; returns its id. Text is masked first.
    pub async fn append_event(&self, job: JobId, event: &JobEvent) -> anyhow::Result<i64> {
        let mut conn = self.pool.acquire().await.context("appending a job event")?;
        insert_event(&mut conn, job, event).await
    }

    /// Events of a job with id greater than `after`, oldest first.
    pub async fn job_events(&self, job: JobId, after: i64, limit: u32) -> anyhow::Result<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT id, job_id, at, data FROM job_events WHERE job_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(job.0)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .context("reading job events")?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get(3)?;
                Ok(StoredEvent {
                    id: r.try_get(0)?,
                    job_id: JobId(r.try_get(1)?),
                    at: from_ms(r.try_get(2)?),
                    event: serde_json::from_str(&data).context("a stored event is not valid JSON")?,
                })
            })
            .collect()
    }

    /// Atomically claims the oldest queued job for `owner`, with a lease.
    /// Safe with several instances on PostgreSQL (`SKIP LOCKED`); on SQLite a
    /// single `UPDATE … RETURNING` is atomic because writers are serialized.
    pub async fn claim_next(&self, owner: &str, lease: Duration) -> anyhow::Result<Option<Job>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let now = now_ms();
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let row = sqlx::query(&format!(
            "UPDATE jobs SET state = 'running', lease_owner = $1, lease_expires_at = $2, attempts = attempts + 1, \
             started_at = $3, updated_at = $3 \
             WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1{lock}) \
             AND state = 'queued' RETURNING {JOB_COLUMNS}"
        ))
        .bind(owner)
        .bind(now + lease_ms(lease))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .context("claiming a job")?;
        let Some(row) = row else { return Ok(None) };
        let job = job_from_row(&row)?;
        let started = JobEvent::StateChanged { from: JobState::Queued, to: JobState::Running, reason: None };
        insert_event(&mut tx, job.id, &started).await?;
        tx.commit().await.context("committing a claim")?;
        Ok(Some(job))
    }

    /// Extends the lease of a job this owner still holds; `false` if it lost it.
    pub async fn heartbeat(&self, job: JobId, owner: &str, lease: Duration) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(now_ms() + lease_ms(lease))
        .bind(job.0)
        .bind(owner)
        .execute(&self.pool)
        .await
        .context("renewing a job lease")?;
        Ok(done.rows_affected() == 1)
    }

    /// Finds running jobs whose instance is gone — held by `owner` (this
    /// instance, at start-up) or with an expired lease — and requeues each
    /// once more if it has attempts left, else fails it as "interrupted".
    /// A job someone asked to cancel is cancelled instead, with the reason
    /// `cancelled_reason(login)` (the store keeps data; the caller words it).
    /// A job whose end was recorded before its instance died while showing it
    /// ([`Store::record_pending_end`]) ends that way: it ran to its end once.
    /// Returns the jobs it requeued and the jobs it ended.
    pub async fn recover_interrupted(
        &self,
        owner: Option<&str>,
        max_attempts: i64,
        cancelled_reason: fn(&str) -> String,
    ) -> anyhow::Result<(Vec<JobId>, Vec<JobId>)> {
        let now = now_ms();
        let rows = sqlx::query(
            "SELECT id, attempts, cancel_requested_by, pending_end_state, pending_end_reason FROM jobs \
             WHERE state = 'running' AND (lease_owner = $1 OR lease_expires_at < $2)",
        )
        .bind(owner.unwrap_or(""))
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .context("looking for interrupted jobs")?;
        let (mut requeued, mut ended) = (Vec::new(), Vec::new());
        for row in rows {
            let id = JobId(row.try_get(0)?);
            let attempts: i64 = row.try_get(1)?;
            let pending = row.try_get::<Option<String>, _>(3)?.and_then(|s| JobState::parse(&s));
            if let Some(end) = pending.filter(|s| s.is_terminal()) {
                let reason = row.try_get::<Option<String>, _>(4)?;
                if self.transition(id, JobState::Running, end, reason.as_deref()).await? {
                    ended.push(id);
                }
                continue;
            }
            // Someone asked to cancel it before its instance died: it ends
            // cancelled rather than running again.
            if let Some(by) = row.try_get::<Option<String>, _>(2)? {
                let reason = cancelled_reason(&by);
                if self.transition(id, JobState::Running, JobState::Cancelled, Some(&reason)).await? {
                    ended.push(id);
                }
            } else if attempts < max_attempts {
                let mut tx = self.pool.begin().await.context("starting a transaction")?;
                let done = sqlx::query(
                    "UPDATE jobs SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, step = NULL, \
                     updated_at = $1 WHERE id = $2 AND state = 'running'",
                )
                .bind(now)
                .bind(id.0)
                .execute(&mut *tx)
                .await
                .context("requeueing an interrupted job")?;
                if done.rows_affected() == 1 {
                    let reason = Some("interrupted; retrying from the start".to_owned());
                    let requeue = JobEvent::StateChanged { from: JobState::Running, to: JobState::Queued, reason };
                    insert_event(&mut tx, id, &requeue).await?;
                    tx.commit().await.context("committing a requeue")?;
                    requeued.push(id);
                }
            } else if self.transition(id, JobState::Running, JobState::Failed, Some("interrupted")).await? {
                ended.push(id);
            }
        }
        if !requeued.is_empty() || !ended.is_empty() {
            tracing::warn!(?requeued, ?ended, "recovered interrupted jobs");
        }
        Ok((requeued, ended))
    }

    /// Returns a running job to the queue at shutdown without spending an attempt.
    pub async fn hand_back(&self, job: JobId, owner: &str) -> anyhow::Result<bool> {
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_owner = NULL, lease_expires_at = NULL, \
             step = NULL, updated_at = $1 WHERE id = $2 AND lease_owner = $3 AND state = 'running'",
        )
        .bind(now_ms())
        .bind(job.0)
        .bind(owner)
        .execute(&mut *tx)
        .await
        .context("handing a job back to the queue")?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let reason = Some("handed back at shutdown".to_owned());
        insert_event(&mut tx, job, &JobEvent::StateChanged { from: JobState::Running, to: JobState::Queued, reason })
            .await?;
        tx.commit().await.context("committing a hand-back")?;
        Ok(true)
    }

    /// Moves a job from `from` to `to` if it is still in `from`; records the
    /// change as an event. Returns whether the move happened.
    pub async fn transition(
        &self,
        job: JobId,
        from: JobState,
        to: JobState,
        reason: Option<&str>,
    ) -> anyhow::Result<bool> {
        anyhow::ensure!(from.can_move_to(to), "job state {from} cannot move to {to}");
        let now = now_ms();
        let reason = reason.map(|r| crate::masker::global().mask(r));
        let finished = if to.is_terminal() { Some(now) } else { None };
        // The state and its event commit together: a reader that sees the
        // new state (the job stream deciding to end) also sees the event.
        let mut tx = self.pool.begin().await.context("starting a transaction")?;
        let done = sqlx::query(
            "UPDATE jobs SET state = $1, error = COALESCE($2, error), updated_at = $3, \
             finished_at = COALESCE($4, finished_at), \
             lease_owner = CASE WHEN $5 = 1 THEN NULL ELSE lease_owner END, \
             lease_expires_at = CASE WHEN $5 = 1 THEN NULL ELSE lease_expires_at END \
             WHERE id = $6 AND state = $7",
        )
        .bind(to.as_str())
        .bind(reason.clone())
        .bind(now)
        .bind(finished)
        .bind(i64::from(to != JobState::Running))
        .bind(job.0)
        .bind(from.as_str())
        .execute(&mut *tx)
        .await
        .context("changing a job's state")?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, job, &JobEvent::StateChanged { from, to, reason }).await?;
        tx.commit().await.context("committing a job's state change")?;
        Ok(true)
    }

    /// Records the step a running job is in.
    pub async fn set_step(&self, job: JobId, step: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE jobs SET step = $1, updated_at = $2 WHERE id = $3")
            .bind(step)
            .bind(now_ms())
            .bind(job.0)
            .execute(&self.pool)
            .await
            .context("recording a job's step")?;
        Ok(())
    }

    /// Stores the brief the agent was given (masked: it quotes user text).
    pub async fn set_brief(&self, job: JobId, brief: &str) -> anyhow::Result<()> {
        sqlx::query("UPDATE jobs SET brief = $1, updated_at = $2 WHERE id = $3")
            .bind(crate::masker::global().mask(brief))
            .bind(now_ms())
            .bind(job.0)
            .execute(&self.pool)
            .await
            .context("storing a job's brief")?;
        Ok(())
    }

    /// The brief of a job, once the pipeline has assembled it.
    pub async fn job_brief(&self, job: JobId) -> anyhow::Result<Option<String>> {
        let row = sqlx::query("SELECT brief FROM jobs WHERE id = $1")
            .bind(job.0)
            .fetch_optional(&self.pool)
            .await
            .context("reading a job's brief")?;
        Ok(match row {
            Some(r) => r.try_get::<Option<String>, _>(0)?,
            None => None,
        })
    }

    /// Records the branch a job pushed and the pull request it opened or updated.
    pub async fn set_pull_request(&self, job: JobId, branch: &str, pr_number: IssueNumber) -> anyhow::Result<()> {
        sqlx::query("UPDATE jobs SET branch = $1, pr_number = $2, updated_at = $3 WHERE id = $4")
            .bind(branch)
            .bind(pr_number.db())
            .bind(now_ms())
            .bind(job.0)
            .execute(&self.pool)
            .await
            .context("recording a job's pull request")?;
        Ok(())
    }

    /// The status comment a job's status is shown in (posted at admission).
    pub async fn set_status_comment(&self, job: JobId, comment: CommentId) -> anyhow::Result<()> {
        sqlx::query("UPDATE jobs SET status_comment_id = $1 WHERE id = $2")
            .bind(comment.db())
            .bind(job.0)
            .execute(&self.pool)
            .await
            .context("recording a job's status comment")?;
        Ok(())
    }

    /// The delivery record of a webhook delivery.
    pub async fn delivery(&self, id: &str) -> anyhow::Result<Option<StoredDelivery>> {
        let row = sqlx::query("SELECT event, action, outcome, job_id FROM deliveries WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a delivery")?;
        let Some(r) = row else { return Ok(None) };
        let outcome: String = r.try_get(2)?;
        Ok(Some(StoredDelivery {
            event: r.try_get(0)?,
            action: r.try_get(1)?,
            outcome: DeliveryOutcome::parse(&outcome)
                .with_context(|| format!("unknown delivery outcome {outcome:?}"))?,
            job_id: r.try_get::<Option<i64>, _>(3)?.map(JobId),
        }))
    }

    /// Installations known to the store: `(id, account, suspended, deleted)`.
    pub async fn installations(&self) -> anyhow::Result<Vec<(i64, String, bool, bool)>> {
        let rows = sqlx::query("SELECT id, account_login, suspended_at, deleted_at FROM installations ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .context("listing installations")?;
        rows.iter()
            .map(|r| {
                let suspended: Option<i64> = r.try_get(2)?;
                let deleted: Option<i64> = r.try_get(3)?;
                Ok((r.try_get(0)?, r.try_get(1)?, suspended.is_some(), deleted.is_some()))
            })
            .collect()
    }

    /// Every trigger recorded for a job (the first one created it).
    pub async fn job_trigger_count(&self, job: JobId) -> anyhow::Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) FROM job_triggers WHERE job_id = $1")
            .bind(job.0)
            .fetch_one(&self.pool)
            .await
            .context("counting job triggers")?;
        Ok(row.try_get::<i64, _>(0)?)
    }
}

pub(crate) fn job_from_row(r: &AnyRow) -> anyhow::Result<Job> {
    let state: String = r.try_get(1)?;
    let trigger: String = r.try_get(9)?;
    Ok(Job {
        id: JobId(r.try_get(0)?),
        state: JobState::parse(&state).with_context(|| format!("unknown job state {state:?} in the store"))?,
        spec: NewJob {
            installation_id: id_at(r, 2)?,
            repo: RepoRef {
                id: id_at(r, 3)?,
                full_name: r.try_get(4)?,
                clone_url: r.try_get(5)?,
                default_branch: r.try_get(6)?,
            },
            issue_number: id_at(r, 7)?,
            issue_title: r.try_get(8)?,
            trigger: TriggerKind::parse(&trigger).with_context(|| format!("unknown trigger {trigger:?}"))?,
            trigger_comment_id: opt_id_at(r, 10)?,
            sender_login: r.try_get(11)?,
            sender_id: r.try_get(12)?,
            instructions: r.try_get(13)?,
            delivery_id: r.try_get(14)?,
            follow_up: follow_up_from(r.try_get(24)?)?,
        },
        attempts: r.try_get(15)?,
        step: r.try_get(16)?,
        error: r.try_get(17)?,
        created_at: from_ms(r.try_get(18)?),
        updated_at: from_ms(r.try_get(19)?),
        started_at: r.try_get::<Option<i64>, _>(20)?.map(from_ms),
        finished_at: r.try_get::<Option<i64>, _>(21)?.map(from_ms),
        branch: r.try_get(22)?,
        pr_number: opt_id_at(r, 23)?,
        status_comment_id: opt_id_at(r, 25)?,
    })
}

/// A GitHub id (non-negative) from an integer column.
fn id_at<T: TryFrom<i64>>(r: &AnyRow, index: usize) -> anyhow::Result<T> {
    let v: i64 = r.try_get(index)?;
    T::try_from(v).map_err(|_| anyhow::anyhow!("a negative GitHub id ({v}) in column {index}"))
}

fn opt_id_at<T: TryFrom<i64>>(r: &AnyRow, index: usize) -> anyhow::Result<Option<T>> {
    match r.try_get::<Option<i64>, _>(index)? {
        Some(v) => {
            T::try_from(v).map(Some).map_err(|_| anyhow::anyhow!("a negative GitHub id ({v}) in column {index}"))
        }
        None => Ok(None),
    }
}

/// The stored `follow_up` column (JSON) of a job.
fn follow_up_from(text: Option<String>) -> anyhow::Result<Option<FollowUp>> {
    text.map(|t| serde_json::from_str(&t).context("a job's stored follow-up is not valid")).transpose()
}

/// Appends an event to a job's log on `conn`, inside the caller's
/// transaction when it has one; returns its id. Text is masked first.
pub(crate) async fn insert_event(conn: &mut sqlx::AnyConnection, job: JobId, event: &JobEvent) -> anyhow::Result<i64> {
    let data = crate::masker::global().mask(&serde_json::to_string(event)?);
    let row = sqlx::query("INSERT INTO job_events (job_id, at, kind, data) VALUES ($1, $2, $3, $4) RETURNING id")
        .bind(job.0)
        .bind(now_ms())
        .bind(event.kind())
        .bind(data)
        .fetch_one(conn)
        .await
        .context("appending a job event")?;
    Ok(row.try_get::<i64, _>(0)?)
}

/// The issue's active (`received`, `queued` or `running`) job, if any.
pub(crate) async fn active_job_id(
    conn: &mut sqlx::AnyConnection,
    repo_id: RepoId,
    issue_number: IssueNumber,
) -> anyhow::Result<Option<JobId>> {
    let row = sqlx::query(
        "SELECT id FROM jobs WHERE repo_id = $1 AND issue_number = $2 AND state IN ('received', 'queued', 'running')",
    )
    .bind(repo_id.db())
    .bind(issue_number.db())
    .fetch_optional(conn)
    .await
    .context("looking for the issue's active job")?;
    Ok(match row {
        Some(r) => Some(JobId(r.try_get(0)?)),
        None => None,
    })
}

/// Inserts a new job in state `received` and records its trigger: the one
/// place a job row is written (intake's ledger and retries both use it).
pub(crate) async fn insert_received_job(
    conn: &mut sqlx::AnyConnection,
    job: &NewJob,
    now: i64,
) -> anyhow::Result<JobId> {
    let row = sqlx::query(
        "INSERT INTO jobs (state, installation_id, repo_id, repo_full_name, clone_url, default_branch, \
         issue_number, issue_title, trigger_kind, trigger_comment_id, sender_login, sender_id, instructions, \
         delivery_id, created_at, updated_at, follow_up) \
         VALUES ('received', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15) RETURNING id",
    )
    .bind(job.installation_id.db())
    .bind(job.repo.id.db())
    .bind(&job.repo.full_name)
    .bind(&job.repo.clone_url)
    .bind(&job.repo.default_branch)
    .bind(job.issue_number.db())
    .bind(&job.issue_title)
    .bind(job.trigger.as_str())
    .bind(job.trigger_comment_id.map(CommentId::db))
    .bind(&job.sender_login)
    .bind(job.sender_id)
    .bind(job.instructions.clone())
    .bind(&job.delivery_id)
    .bind(now)
    .bind(follow_up_column(job)?)
    .fetch_one(&mut *conn)
    .await
    .context("creating a job")?;
    let id = JobId(row.try_get(0)?);
    insert_trigger(conn, id, job, now).await?;
    Ok(id)
}

/// Records one trigger (label, comment, retry, …) of a job.
pub(crate) async fn insert_trigger(
    conn: &mut sqlx::AnyConnection,
    id: JobId,
    job: &NewJob,
    now: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO job_triggers (job_id, delivery_id, kind, sender_login, instructions, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id.0)
    .bind(&job.delivery_id)
    .bind(job.trigger.as_str())
    .bind(&job.sender_login)
    .bind(job.instructions.clone())
    .bind(now)
    .execute(conn)
    .await
    .context("recording a job trigger")?;
    Ok(())
}

/// The `follow_up` column's value for a new job.
pub(crate) fn follow_up_column(job: &NewJob) -> anyhow::Result<Option<String>> {
    job.follow_up.as_ref().map(serde_json::to_string).transpose().context("encoding a follow-up")
}

pub(crate) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2)
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}
