//! Control requests: what the control loop (`control`, a layer above) must act on —
//! admitting a new job, a `/maxion` command, a label removal, a check-run
//! button. Intake describes them; the ledger stores them in the same
//! transaction as their delivery; the control loop claims them in order per
//! issue with a lease and marks each processed once, so every request is
//! acted on exactly once across restarts and instances.

use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction};

use super::delivery::DeliveryOutcome;
use super::model::{CommentId, InstallationId, IssueNumber, JobId, RepoId, RepoRef};
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
}

impl ControlAction {
    /// Whether acting needs the operator's required permission. `status`,
    /// `help` and near-miss hints are open to anyone who can comment. A
    /// `/maxion` that joined an active job does need it: someone who may not
    /// start jobs gets the (rate-limited) refusal, not a status reply per comment.
    pub fn needs_permission(&self) -> bool {
        !matches!(self, ControlAction::Status | ControlAction::Help | ControlAction::NearMiss { .. })
    }
}

/// What the control loop did with a request; stored in `control_requests.outcome`
/// (the per-person reply limits count these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlOutcome {
    /// The job passed the permission check and is queued.
    Admitted,
    /// The job's request was handled before (a repeated attempt found it past `received`).
    Skipped,
    /// Feedback on a pull request Maxion did not open: replied, job refused.
    NotMaxionsPullRequest,
    /// The sender lacked the permission: one reply.
    Refused,
    /// Refused again within the window: no second reply.
    RefusedSilently,
    /// Answered with a reply.
    Replied,
    /// Answered someone below the required permission (an open command).
    RepliedToOutsider,
    /// Someone below the required permission reached the reply limit: no reply.
    Silenced,
    Cancelled,
    Retried,
    /// Nothing to do (nothing active to cancel, a running job left alone).
    Nothing,
    /// The job the request named no longer exists.
    Gone,
    /// Failed on every attempt.
    Failed,
}

impl ControlOutcome {
    pub const ALL: [ControlOutcome; 13] = [
        ControlOutcome::Admitted,
        ControlOutcome::Skipped,
        ControlOutcome::NotMaxionsPullRequest,
        ControlOutcome::Refused,
        ControlOutcome::RefusedSilently,
        ControlOutcome::Replied,
        ControlOutcome::RepliedToOutsider,
        ControlOutcome::Silenced,
        ControlOutcome::Cancelled,
        ControlOutcome::Retried,
        ControlOutcome::Nothing,
        ControlOutcome::Gone,
        ControlOutcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ControlOutcome::Admitted => "admitted",
            ControlOutcome::Skipped => "skipped",
            ControlOutcome::NotMaxionsPullRequest => "not_maxions_pull_request",
            ControlOutcome::Refused => "refused",
            ControlOutcome::RefusedSilently => "refused_silently",
            ControlOutcome::Replied => "replied",
            ControlOutcome::RepliedToOutsider => "replied_to_outsider",
            ControlOutcome::Silenced => "silenced",
            ControlOutcome::Cancelled => "cancelled",
            ControlOutcome::Retried => "retried",
            ControlOutcome::Nothing => "nothing",
            ControlOutcome::Gone => "gone",
            ControlOutcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

impl std::fmt::Display for ControlOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request with everything needed to act on it later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlRequest {
    pub action: ControlAction,
    pub installation_id: InstallationId,
    pub repo: RepoRef,
    pub issue_number: IssueNumber,
    pub issue_title: String,
    /// The comment that asked, if a comment did.
    pub comment_id: Option<CommentId>,
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
    .bind(request.repo.id.db())
    .bind(request.issue_number.db())
    .bind(&request.sender_login)
    .bind(serde_json::to_string(request)?)
    .bind(now)
    .execute(&mut **tx)
    .await
    .context("recording a control request")?;
    Ok(())
}

/// GitHub's "Re-run" or a button on Maxion's check run. It names a job, not
/// an issue: the ledger finds the job (of the same repository) and stores a
/// [`ControlRequest`] for that job's issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRunRequest {
    pub job: JobId,
    pub button: CheckRunButton,
    pub installation_id: InstallationId,
    pub repo: RepoRef,
    pub sender_login: String,
    pub sender_id: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckRunButton {
    /// "Re-run" or the `Retry` button.
    Retry,
    Cancel,
}

/// Stores a control request.
pub(crate) async fn record(
    tx: &mut Transaction<'static, Any>,
    delivery_id: &str,
    req: &ControlRequest,
    now: i64,
) -> anyhow::Result<DeliveryOutcome> {
    insert(tx, delivery_id, req, now).await?;
    Ok(DeliveryOutcome::Command)
}

/// Stores the request a check-run event makes, for its job's issue; a job
/// that does not exist (in that repository) makes the delivery `ignored`.
pub(crate) async fn record_check_run(
    tx: &mut Transaction<'static, Any>,
    delivery_id: &str,
    req: &CheckRunRequest,
    now: i64,
) -> anyhow::Result<(DeliveryOutcome, Option<JobId>)> {
    let row = sqlx::query("SELECT issue_number, issue_title FROM jobs WHERE id = $1 AND repo_id = $2")
        .bind(req.job.0)
        .bind(req.repo.id.db())
        .fetch_optional(&mut **tx)
        .await
        .context("looking up a check run's job")?;
    let Some(row) = row else { return Ok((DeliveryOutcome::Ignored, None)) };
    let job = req.job;
    let action = match req.button {
        CheckRunButton::Retry => ControlAction::CheckRunRetry { job },
        CheckRunButton::Cancel => ControlAction::CheckRunCancel { job },
    };
    let request = ControlRequest {
        action,
        installation_id: req.installation_id,
        repo: req.repo.clone(),
        issue_number: IssueNumber::try_from(row.try_get::<i64, _>(0)?).context("a stored issue number")?,
        issue_title: row.try_get(1)?,
        comment_id: None,
        sender_login: req.sender_login.clone(),
        sender_id: req.sender_id,
    };
    insert(tx, delivery_id, &request, now).await?;
    Ok((DeliveryOutcome::Command, Some(job)))
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

    /// Marks a request done with its outcome.
    pub async fn finish_control_request(&self, id: i64, outcome: ControlOutcome) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE control_requests SET processed_at = $1, outcome = $2, lease_owner = NULL, lease_until = NULL \
             WHERE id = $3",
        )
        .bind(now_ms())
        .bind(outcome.as_str())
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
        repo_id: RepoId,
        issue_number: IssueNumber,
        sender: &str,
        outcome: ControlOutcome,
        since_ms: i64,
    ) -> anyhow::Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM control_requests WHERE repo_id = $1 AND issue_number = $2 \
             AND sender_login = $3 AND outcome = $4 AND processed_at >= $5",
        )
        .bind(repo_id.db())
        .bind(issue_number.db())
        .bind(sender)
        .bind(outcome.as_str())
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await
        .context("counting recent outcomes")?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// The control request a delivery created: `(processed, outcome)`.
    pub async fn control_outcome(&self, delivery_id: &str) -> anyhow::Result<Option<(bool, Option<ControlOutcome>)>> {
        let row = sqlx::query("SELECT processed_at, outcome FROM control_requests WHERE delivery_id = $1")
            .bind(delivery_id)
            .fetch_optional(&self.pool)
            .await
            .context("reading a control request")?;
        let Some(r) = row else { return Ok(None) };
        let outcome = match r.try_get::<Option<String>, _>(1)? {
            Some(text) => {
                Some(ControlOutcome::parse(&text).with_context(|| format!("unknown control outcome {text:?}"))?)
            }
            None => None,
        };
        Ok(Some((r.try_get::<Option<i64>, _>(0)?.is_some(), outcome)))
    }
}
