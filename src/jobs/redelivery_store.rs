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

/// How long a claimed ask may stay unanswered before another check may
/// take it over (the instance that claimed it died before recording).
const PENDING_STALE: Duration = Duration::from_secs(600);

/// What claiming an event's redelivery found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This instance asks now.
    Claimed,
    /// Another ask is under way or GitHub has not made its attempt yet.
    Taken,
    /// Asked the most times allowed; not asked again.
    Exhausted,
}

/// A recorded redelivery request.
#[derive(Debug, Clone)]
pub struct RedeliveryRecord {
    pub guid: String,
    pub delivery_id: i64,
    pub event: String,
    pub action: Option<String>,
    pub holder: String,
    pub requested_at: DateTime<Utc>,
    pub outcome: RedeliveryOutcome,
    pub detail: Option<String>,
    /// How many times Maxion asked for this event.
    pub asks: u32,
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

    /// Claims the redelivery of event `guid` (whose newest attempt in
    /// GitHub's log is `delivery_id`) for `holder`. Claimed when no one has
    /// asked yet, or when the last ask is over without the event arriving
    /// (GitHub refused it, the attempt it made is in the log and failed too,
    /// or the instance that asked died before recording the answer), as long
    /// as fewer than `max_asks` asks were made.
    pub async fn claim_redelivery(
        &self,
        guid: &str,
        delivery_id: i64,
        event: &str,
        action: Option<&str>,
        holder: &str,
        max_asks: u32,
    ) -> anyhow::Result<Claim> {
        let now = now_ms();
        let stale = now.saturating_sub(i64::try_from(PENDING_STALE.as_millis()).unwrap_or(i64::MAX / 2));
        let done = sqlx::query(
            "INSERT INTO redelivery_requests (guid, delivery_id, event, action, holder, requested_at, outcome, asks) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 1) \
             ON CONFLICT (guid) DO UPDATE SET delivery_id = excluded.delivery_id, holder = excluded.holder, \
             requested_at = excluded.requested_at, outcome = 'pending', detail = NULL, \
             asks = redelivery_requests.asks + 1 \
             WHERE redelivery_requests.asks < $7 AND (redelivery_requests.outcome = 'failed' \
             OR (redelivery_requests.outcome = 'requested' AND redelivery_requests.delivery_id < excluded.delivery_id) \
             OR (redelivery_requests.outcome = 'pending' AND redelivery_requests.requested_at < $8))",
        )
        .bind(guid)
        .bind(delivery_id)
        .bind(event)
        .bind(action)
        .bind(holder)
        .bind(now)
        .bind(i64::from(max_asks))
        .bind(stale)
        .execute(&self.pool)
        .await
        .context("claiming a redelivery")?;
        if done.rows_affected() == 1 {
            return Ok(Claim::Claimed);
        }
        let asks: i64 = sqlx::query_scalar("SELECT asks FROM redelivery_requests WHERE guid = $1")
            .bind(guid)
            .fetch_one(&self.pool)
            .await
            .context("reading a redelivery's asks")?;
        Ok(if asks >= i64::from(max_asks) { Claim::Exhausted } else { Claim::Taken })
    }

    /// Events whose last ask GitHub refused (or that could not be asked),
    /// with fewer than `max_asks` asks: a later check asks again even when
    /// the event's attempts have left the window it reads.
    pub async fn redeliveries_to_retry(&self, max_asks: u32) -> anyhow::Result<Vec<RedeliveryRecord>> {
        Ok(self
            .redeliveries()
            .await?
            .into_iter()
            .filter(|r| r.outcome == RedeliveryOutcome::Failed && r.asks < max_asks)
            .collect())
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
            "SELECT guid, delivery_id, event, holder, requested_at, outcome, detail, action, asks \
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
                    action: r.try_get(7)?,
                    asks: u32::try_from(r.try_get::<i64, _>(8)?).unwrap_or(0),
                })
            })
            .collect()
    }
}
