//! Control requests: what the control loop (`crate::control`) must act on —
//! admitting a new job, a `/maxion` command, a label removal, a check-run
//! button. Intake describes them; the ledger stores them in the same
//! transaction as their delivery; the control loop claims them in order per
//! issue with a lease and marks each processed once, so every request is
//! acted on exactly once across restarts and instances.

use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

use super::model::{JobId, RepoRef};
use super::store::{Backend, Store, now_ms};

/// What is asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ControlAction {
    /// A new job waits in `received` for its sender's permission check.
    Admit {
        job: JobId,
    },
    /// `/maxion` while a job is active: the trigger joined it; reply with its status.
    AlreadyActive {
        job: JobId,
    },
    Status,
    Cancel,
    Retry,
    Help,
    NearMiss {
        word: String,
        suggestion: String,
    },
    /// The trigger label was removed: cancel a job that has not started.
    Unlabeled,
    /// GitHub's "Re-run" or the check run's `Retry` button on this job's run.
    CheckRunRetry {
        job: JobId,
    },
    /// The check run's `Cancel` button.
    CheckRunCancel {
        job: JobId,
    },
    /// A job created through the JSON API: admitted without a permission
    /// check, since only the operator's token can create one.
    OperatorAdmit {
        job: JobId,
    },
    /// `POST /api/jobs/{id}/cancel` with the operator's token.
    OperatorCancel {
        job: JobId,
    },
    /// `POST /api/jobs/{id}/retry` with the operator's token.
    OperatorRetry {
        job: JobId,
    },
}

impl ControlAction {
    /// Whether acting needs the operator's required permission. `status`,
    /// `help` and near-miss hints are open to anyone who can comment. A
    /// `/maxion` that joined an active job does need it: someone who may not
    /// start jobs gets the (rate-limited) refusal, not a status reply per comment.
    pub fn needs_permission(&self) -> bool {
        !matches!(self, ControlAction::Status | ControlAction::Help | ControlAction::NearMiss { .. })
            && !self.by_operator()
    }

    /// Asked with the operator's API token: no GitHub user's permission applies.
    pub fn by_operator(&self) -> bool {
        matches!(
            self,
            ControlAction::OperatorAdmit { .. }
                | ControlAction::OperatorCancel { .. }
                | ControlAction::OperatorRetry { .. }
        )
    }

    /// The job a check-run event names, which the ledger resolves to its issue.
    pub fn check_run_job(&self) -> Option<JobId> {
        match self {
            ControlAction::CheckRunRetry { job } | ControlAction::CheckRunCancel { job } => Some(*job),
            _ => None,
        }
    }
}

/// One request with everything needed to act on it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlRequest {
    pub action: ControlAction,
    pub installation_id: i64,
    pub repo: RepoRef,
    /// For check-run events intake does not know it; the ledger fills it from the job.
    pub issue_number: i64,
    pub issue_title: String,
    /// The comment that asked, if a comment did.
    pub comment_id: Option<i64>,
    pub sender_login: String,
    pub sender_id: i64,
}

/// A claimed request.
#[derive(Debug, Clone)]
pub struct ClaimedRequest {
    pub id: i64,
    pub delivery_id: String,
    /// 1 on the first try; more after a crash or a retried failure.
    pub attempts: i64,
    pub request: ControlRequest,
}

/// Inserts a request inside the ledger's transaction.
pub(crate) async fn insert(
    tx: &mut Transaction<'static, Any>,
    delivery_id: &str,
    request: &ControlRequest,
    now: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO control_requests (delivery_id, repo_id, issue_number, sender_login, data, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(delivery_id)
    .bind(request.repo.id)
    .bind(request.issue_number)
    .bind(&request.sender_login)
    .bind(serde_json::to_string(request)?)
    .bind(now)
    .execute(&mut **tx)
    .await
    .context("recording a control request")?;
    Ok(())
}

/// Stores a control request. A check-run event names a job, not an issue:
/// the job (of the same repository) says which issue it is about.
pub(crate) async fn record(
    tx: &mut Transaction<'static, Any>,
    delivery_id: &str,
    req: &ControlRequest,
    now: i64,
) -> anyhow::Result<(&'static str, Option<JobId>)> {
    let Some(job) = req.action.check_run_job() else {
        insert(tx, delivery_id, req, now).await?;
        return Ok(("command", None));
    };
    let row = sqlx::query("SELECT issue_number, issue_title FROM jobs WHERE id = $1 AND repo_id = $2")
        .bind(job.0)
        .bind(req.repo.id)
        .fetch_optional(&mut **tx)
        .await
        .context("looking up a check run's job")?;
    let Some(row) = row else { return Ok(("ignored", None)) };
    let req = ControlRequest { issue_number: row.try_get(0)?, issue_title: row.try_get(1)?, ..req.clone() };
    insert(tx, delivery_id, &req, now).await?;
    Ok(("command", Some(job)))
}

impl Store {
    /// Claims the oldest pending request whose issue has no older pending one
    /// (so requests on one issue are handled in the order they arrived).
    pub async fn claim_control_request(&self, owner: &str, lease: Duration) -> anyhow::Result<Option<ClaimedRequest>> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let now = now_ms();
        let row = sqlx::query(&format!(
            "UPDATE control_requests SET lease_owner = $1, lease_until = $2, attempts = attempts + 1 \
             WHERE id = (SELECT c.id FROM control_requests c WHERE c.processed_at IS NULL \
               AND c.not_before <= $3 AND (c.lease_until IS NULL OR c.lease_until < $3) \
               AND NOT EXISTS (SELECT 1 FROM control_requests p WHERE p.repo_id = c.repo_id \
                 AND p.issue_number = c.issue_number AND p.processed_at IS NULL AND p.id < c.id) \
               ORDER BY c.id LIMIT 1{lock}) \
             AND processed_at IS NULL RETURNING id, delivery_id, attempts, data"
        ))
        .bind(owner)
        .bind(now + i64::try_from(lease.as_millis()).unwrap_or(60_000))
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .context("claiming a control request")?;
        let Some(row) = row else { return Ok(None) };
        let data: String = row.try_get(3)?;
        Ok(Some(ClaimedRequest {
            id: row.try_get(0)?,
            delivery_id: row.try_get(1)?,
            attempts: row.try_get(2)?,
            request: serde_json::from_str(&data).context("a stored control request is not valid")?,
        }))
    }

    /// Frees requests this instance held when it stopped without finishing
    /// them (a crash), so they need not wait for their lease to run out.
    pub async fn release_control_requests(&self, owner: &str) -> anyhow::Result<u64> {
        let done = sqlx::query(
            "UPDATE control_requests SET lease_owner = NULL, lease_until = NULL \
             WHERE lease_owner = $1 AND processed_at IS NULL",
        )
        .bind(owner)
        .execute(&self.pool)
        .await
        .context("releasing this instance's control requests")?;
        Ok(done.rows_affected())
    }

    /// Marks a request done with its outcome (`admitted`, `refused`, `replied`, …).
    pub async fn finish_control_request(&self, id: i64, outcome: &str) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE control_requests SET processed_at = $1, outcome = $2, lease_owner = NULL, lease_until = NULL \
             WHERE id = $3",
        )
        .bind(now_ms())
        .bind(outcome)
        .bind(id)
        .execute(&self.pool)
        .await
        .context("marking a control request processed")?;
        Ok(())
    }

    /// Releases a request to be tried again after `delay` (a transient failure).
    pub async fn postpone_control_request(&self, id: i64, delay: Duration) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE control_requests SET lease_owner = NULL, lease_until = NULL, not_before = $1 WHERE id = $2",
        )
        .bind(now_ms() + i64::try_from(delay.as_millis()).unwrap_or(60_000))
        .bind(id)
        .execute(&self.pool)
        .await
        .context("postponing a control request")?;
        Ok(())
    }

    /// How many of `sender`'s requests on this issue ended with `outcome`
    /// since `since_ms` (for the per-person reply limits).
    pub async fn recent_outcomes(
        &self,
        repo_id: i64,
        issue_number: i64,
        sender: &str,
        outcome: &str,
        since_ms: i64,
    ) -> anyhow::Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM control_requests WHERE repo_id = $1 AND issue_number = $2 \
             AND sender_login = $3 AND outcome = $4 AND processed_at >= $5",
        )
        .bind(repo_id)
        .bind(issue_number)
        .bind(sender)
        .bind(outcome)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await
        .context("counting recent outcomes")?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// The control request a delivery created: `(processed, outcome)`.
    pub async fn control_outcome(&self, delivery_id: &str) -> anyhow::Result<Option<(bool, Option<String>)>> {
        let row = sqlx::query("SELECT processed_at, outcome FROM control_requests WHERE delivery_id = $1")
            .bind(delivery_id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a control request")?;
        row.map(|r| Ok((r.try_get::<Option<i64>, _>(0)?.is_some(), r.try_get(1)?))).transpose()
    }
}
