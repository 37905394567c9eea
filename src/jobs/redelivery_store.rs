//! What missed-delivery recovery keeps: the lease of a check (one instance
//! at a time pages through GitHub's delivery log) with how far back the last
//! check looked, and one row per event Maxion asked GitHub to redeliver,
//! whose primary key keeps several instances from asking twice.

use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::Row;

use super::store::{Store, now_ms};

/// The check's row in `redelivery_checks`.
const HOOK_CHECK: &str = "app_hook_deliveries";

/// How a redelivery request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeliveryOutcome {
    /// Claimed, not answered yet (an instance died in between).
    Pending,
    /// GitHub accepted it (202).
    Requested,
    /// GitHub refused it or could not be reached; a later check may ask again.
    Failed,
}

impl RedeliveryOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RedeliveryOutcome::Pending => "pending",
            RedeliveryOutcome::Requested => "requested",
            RedeliveryOutcome::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Requested, Self::Failed].into_iter().find(|o| o.as_str() == s)
    }
}

/// A recorded redelivery request.
#[derive(Debug, Clone)]
pub struct RedeliveryRecord {
    pub guid: String,
    pub delivery_id: i64,
    pub event: String,
    pub holder: String,
    pub requested_at: DateTime<Utc>,
    pub outcome: RedeliveryOutcome,
    pub detail: Option<String>,
}

impl Store {
    /// Takes the check's lease for `holder` unless another holder's is still
    /// valid. `Some(last)` when taken, with when the last completed check
    /// started (`None` the first time).
    pub async fn lease_redelivery_check(
        &self,
        holder: &str,
        lease: Duration,
    ) -> anyhow::Result<Option<Option<DateTime<Utc>>>> {
        let now = now_ms();
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2));
        sqlx::query(
            "INSERT INTO redelivery_checks (name, holder, lease_until) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until \
             WHERE redelivery_checks.lease_until < $4 OR redelivery_checks.holder = excluded.holder",
        )
        .bind(HOOK_CHECK)
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(&self.pool)
        .await
        .context("taking the redelivery check's lease")?;
        let row = sqlx::query("SELECT holder, last_checked_at FROM redelivery_checks WHERE name = $1")
            .bind(HOOK_CHECK)
            .fetch_one(&self.pool)
            .await
            .context("reading the redelivery check's lease")?;
        let owner: Option<String> = row.try_get(0)?;
        if owner.as_deref() != Some(holder) {
            return Ok(None);
        }
        let last: Option<i64> = row.try_get(1)?;
        Ok(Some(last.and_then(|ms| Utc.timestamp_millis_opt(ms).single())))
    }

    /// Ends `holder`'s check that started at `started`, releasing the lease.
    pub async fn finish_redelivery_check(&self, holder: &str, started: DateTime<Utc>) -> anyhow::Result<()> {
        sqlx::query(
            "UPDATE redelivery_checks SET last_checked_at = $1, lease_until = 0 WHERE name = $2 AND holder = $3",
        )
        .bind(started.timestamp_millis())
        .bind(HOOK_CHECK)
        .bind(holder)
        .execute(&self.pool)
        .await
        .context("finishing the redelivery check")?;
        Ok(())
    }

    /// Frees what earlier processes of this instance (holders starting with
    /// `prefix`, other than `holder`) left when they were killed: the check's
    /// lease, which would otherwise keep every instance from checking until
    /// it expires, and redeliveries claimed but never answered, which count
    /// as failed so that a check asks for them again. One live process per
    /// instance id (as for jobs and control requests) makes this safe.
    pub async fn release_redelivery_predecessors(&self, prefix: &str, holder: &str) -> anyhow::Result<u64> {
        let lease = sqlx::query(
            "UPDATE redelivery_checks SET lease_until = 0 \
             WHERE substr(holder, 1, length($1)) = $1 AND holder <> $2",
        )
        .bind(prefix)
        .bind(holder)
        .execute(&self.pool)
        .await
        .context("releasing a predecessor's redelivery check")?;
        let claims = sqlx::query(
            "UPDATE redelivery_requests SET outcome = 'failed' \
             WHERE outcome = 'pending' AND substr(holder, 1, length($1)) = $1 AND holder <> $2",
        )
        .bind(prefix)
        .bind(holder)
        .execute(&self.pool)
        .await
        .context("releasing a predecessor's redelivery claims")?;
        Ok(lease.rows_affected() + claims.rows_affected())
    }

    /// Claims the redelivery of event `guid` for `holder`: `true` when no
    /// one has asked for it yet (or the last ask failed).
    pub async fn claim_redelivery(
        &self,
        guid: &str,
        delivery_id: i64,
        event: &str,
        action: Option<&str>,
        holder: &str,
    ) -> anyhow::Result<bool> {
        let done = sqlx::query(
            "INSERT INTO redelivery_requests (guid, delivery_id, event, action, holder, requested_at, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending') \
             ON CONFLICT (guid) DO UPDATE SET delivery_id = excluded.delivery_id, holder = excluded.holder, \
             requested_at = excluded.requested_at, outcome = 'pending', detail = NULL \
             WHERE redelivery_requests.outcome = 'failed'",
        )
        .bind(guid)
        .bind(delivery_id)
        .bind(event)
        .bind(action)
        .bind(holder)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("claiming a redelivery")?;
        Ok(done.rows_affected() == 1)
    }

    /// Records how the redelivery request for `guid` ended.
    pub async fn record_redelivery(
        &self,
        guid: &str,
        outcome: RedeliveryOutcome,
        detail: Option<&str>,
    ) -> anyhow::Result<()> {
        let detail = detail.map(|d| crate::masker::global().mask(d));
        sqlx::query("UPDATE redelivery_requests SET outcome = $1, detail = $2 WHERE guid = $3")
            .bind(outcome.as_str())
            .bind(detail)
            .bind(guid)
            .execute(&self.pool)
            .await
            .context("recording a redelivery's outcome")?;
        Ok(())
    }

    /// Every redelivery request, oldest first.
    pub async fn redeliveries(&self) -> anyhow::Result<Vec<RedeliveryRecord>> {
        let rows = sqlx::query(
            "SELECT guid, delivery_id, event, holder, requested_at, outcome, detail \
             FROM redelivery_requests ORDER BY requested_at, guid",
        )
        .fetch_all(&self.pool)
        .await
        .context("listing redeliveries")?;
        rows.iter()
            .map(|r| {
                let outcome: String = r.try_get(5)?;
                let at: i64 = r.try_get(4)?;
                Ok(RedeliveryRecord {
                    guid: r.try_get(0)?,
                    delivery_id: r.try_get(1)?,
                    event: r.try_get(2)?,
                    holder: r.try_get(3)?,
                    requested_at: Utc.timestamp_millis_opt(at).single().unwrap_or_default(),
                    outcome: RedeliveryOutcome::parse(&outcome)
                        .with_context(|| format!("unknown redelivery outcome {outcome:?}"))?,
                    detail: r.try_get(6)?,
                })
            })
            .collect()
    }
}
