//! The delivery ledger: records every webhook delivery, and the job it
//! creates or re-triggers, durably before the webhook is answered.
//!
//! One writer task owns all intake writes. Handlers send it a record and wait
//! for the commit; the writer drains whatever has queued up meanwhile and
//! commits it in one transaction (group commit), which is what lets a single
//! SQLite file absorb thousands of deliveries a second while still storing
//! each one before its answer. If a batch fails, each record is retried in a
//! transaction of its own so one bad record cannot fail its neighbours.
//!
//! The delivery id is the idempotency key: its row is inserted in the same
//! transaction as the job, so a redelivery never creates a second job.
//!
//! A new job is created `received`, with a control request to admit it; a
//! command is stored as a control request. The control loop (`control`, a layer above)
//! acts on those, so the webhook answer never waits for GitHub.

use std::collections::HashSet;
use std::num::NonZeroU32;
use std::sync::Arc;

use anyhow::Context;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sqlx::{Any, Row, Transaction};
use tokio::sync::{Notify, mpsc, oneshot};

use super::delivery::{DeliveryOutcome, Effect, InstallationAction, InstallationChange, RepoBrief};
use super::model::{InstallationId, JobId, NewJob, TriggerKind};
use super::request::{self, ControlAction, ControlRequest};
use super::store::{Store, now_ms};

/// How many records one transaction takes at most.
const MAX_BATCH: usize = 512;

#[derive(Debug, Clone)]
pub struct DeliveryRecord {
    pub id: String,
    pub event: String,
    pub action: Option<String>,
    pub effect: Effect,
}

/// The stored outcome of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Recorded {
    /// The delivery id was seen before; nothing was changed.
    pub duplicate: bool,
    pub outcome: DeliveryOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<JobId>,
}

/// Rate limit on job creation, per installation.
#[derive(Debug, Clone, Copy)]
pub struct JobRate {
    pub per_minute: u32,
    pub burst: u32,
}

type Request = (DeliveryRecord, oneshot::Sender<anyhow::Result<Recorded>>);

/// A handle to the writer task; cheap to clone.
#[derive(Clone)]
pub struct Ledger {
    tx: mpsc::Sender<Request>,
    /// Signalled after a commit that created a job, so idle workers wake.
    pub jobs_available: Arc<Notify>,
    /// Signalled after a commit that stored a control request.
    pub control_available: Arc<Notify>,
}

impl Ledger {
    /// Starts the writer task. It stops when every handle is dropped.
    pub fn start(store: Store, rate: JobRate) -> Ledger {
        let (tx, rx) = mpsc::channel::<Request>(8192);
        let jobs_available = Arc::new(Notify::new());
        let control_available = Arc::new(Notify::new());
        let per_minute = NonZeroU32::new(rate.per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
        let limiter = RateLimiter::keyed(Quota::per_minute(per_minute).allow_burst(burst));
        tokio::spawn(writer(store, limiter, rx, Arc::clone(&control_available)));
        Ledger { tx, jobs_available, control_available }
    }

    /// Records a delivery; returns once it is committed.
    pub async fn record(&self, record: DeliveryRecord) -> anyhow::Result<Recorded> {
        let (reply, answer) = oneshot::channel();
        self.tx.send((record, reply)).await.map_err(|_| anyhow::anyhow!("the delivery ledger has stopped"))?;
        answer.await.map_err(|_| anyhow::anyhow!("the delivery ledger dropped a request"))?
    }
}

async fn writer(
    store: Store,
    limiter: DefaultKeyedRateLimiter<InstallationId>,
    mut rx: mpsc::Receiver<Request>,
    control_available: Arc<Notify>,
) {
    let mut batch: Vec<Request> = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let records: Vec<&DeliveryRecord> = batch.iter().map(|(r, _)| r).collect();
        let results = match write(&store, &limiter, &records).await {
            Ok(results) => results.into_iter().map(Ok).collect(),
            Err(batch_error) => {
                tracing::warn!(error = %batch_error, size = records.len(), "batch write failed; retrying one by one");
                let mut one_by_one = Vec::with_capacity(records.len());
                for record in &records {
                    let result = write(&store, &limiter, &[record]).await.map(|mut r| r.remove(0));
                    one_by_one.push(result);
                }
                one_by_one
            }
        };
        // New jobs wait in `received` for the control loop, not for workers.
        if results
            .iter()
            .any(|r| matches!(r, Ok(Recorded { outcome, duplicate: false, .. }) if outcome.wakes_control()))
        {
            control_available.notify_one();
        }
        for ((_, reply), result) in batch.drain(..).zip(results) {
            let _ = reply.send(result);
        }
    }
}

async fn write(
    store: &Store,
    limiter: &DefaultKeyedRateLimiter<InstallationId>,
    records: &[&DeliveryRecord],
) -> anyhow::Result<Vec<Recorded>> {
    let now = now_ms();
    let mut tx = store.pool.begin().await.context("starting an intake transaction")?;
    // One multi-row insert per chunk: most deliveries need nothing else, and
    // each statement is a round trip to the database.
    let mut fresh: HashSet<String> = HashSet::with_capacity(records.len());
    for chunk in records.chunks(INSERT_CHUNK) {
        fresh.extend(insert_deliveries(&mut tx, chunk, now).await?);
    }
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        // `remove`: a second record with the same id in this batch is a duplicate of the first.
        let recorded = if fresh.remove(&record.id) {
            apply(&mut tx, limiter, record, now).await?
        } else {
            duplicate(&mut tx, &record.id).await?
        };
        out.push(recorded);
    }
    tx.commit().await.context("committing intake")?;
    Ok(out)
}

/// Records per multi-row insert (6 parameters each, far below SQLite's limit).
const INSERT_CHUNK: usize = 128;

/// Inserts the delivery rows; returns the ids that were new. A conflict on
/// the primary key is the duplicate check, and inserting first takes SQLite's
/// write lock at once.
async fn insert_deliveries(
    tx: &mut Transaction<'static, Any>,
    records: &[&DeliveryRecord],
    now: i64,
) -> anyhow::Result<Vec<String>> {
    let mut sql = String::from("INSERT INTO deliveries (id, event, action, received_at, outcome, detail) VALUES ");
    for i in 0..records.len() {
        let b = i * 6;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(${}, ${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6));
    }
    sql.push_str(" ON CONFLICT (id) DO NOTHING RETURNING id");
    let mut query = sqlx::query(&sql);
    for record in records {
        let (outcome, detail) = record.effect.initial();
        query = query
            .bind(record.id.clone())
            .bind(record.event.clone())
            .bind(record.action.clone())
            .bind(now)
            .bind(outcome.as_str())
            .bind(detail.map(|d| crate::masker::global().mask(d)));
    }
    let rows = query.fetch_all(&mut **tx).await.context("recording deliveries")?;
    rows.iter().map(|r| Ok(r.try_get::<String, _>(0)?)).collect()
}

async fn duplicate(tx: &mut Transaction<'static, Any>, id: &str) -> anyhow::Result<Recorded> {
    let row = sqlx::query("SELECT outcome, job_id FROM deliveries WHERE id = $1")
        .bind(id)
        .fetch_one(&mut **tx)
        .await
        .context("reading a duplicate delivery")?;
    let text: String = row.try_get(0)?;
    let outcome = DeliveryOutcome::parse(&text).with_context(|| format!("unknown delivery outcome {text:?}"))?;
    Ok(Recorded { duplicate: true, outcome, job_id: row.try_get::<Option<i64>, _>(1)?.map(JobId) })
}

/// Applies a new delivery's effect; its row is already inserted.
async fn apply(
    tx: &mut Transaction<'static, Any>,
    limiter: &DefaultKeyedRateLimiter<InstallationId>,
    record: &DeliveryRecord,
    now: i64,
) -> anyhow::Result<Recorded> {
    let recorded = |outcome| Ok(Recorded { duplicate: false, outcome, job_id: None });
    match &record.effect {
        Effect::Ping => recorded(DeliveryOutcome::Recorded),
        Effect::Ignored(_) => recorded(DeliveryOutcome::Ignored),
        Effect::Malformed(_) => recorded(DeliveryOutcome::Malformed),
        Effect::Installation(change) => {
            apply_installation(tx, change, now).await?;
            recorded(DeliveryOutcome::Recorded)
        }
        Effect::InstallationRepos { installation_id, added, removed } => {
            for repo in added {
                add_installation_repo(tx, *installation_id, repo).await?;
            }
            for repo in removed {
                sqlx::query("DELETE FROM installation_repositories WHERE installation_id = $1 AND repo_id = $2")
                    .bind(installation_id.db())
                    .bind(repo.id.db())
                    .execute(&mut **tx)
                    .await?;
            }
            recorded(DeliveryOutcome::Recorded)
        }
        Effect::Run(job) => {
            let (outcome, job_id) = run_trigger(tx, limiter, job, now).await?;
            set_outcome(tx, &record.id, outcome, job_id).await
        }
        Effect::Control(req) => {
            let outcome = request::record(tx, &record.id, req, now).await?;
            set_outcome(tx, &record.id, outcome, None).await
        }
        Effect::CheckRun(req) => {
            let (outcome, job_id) = request::record_check_run(tx, &record.id, req, now).await?;
            set_outcome(tx, &record.id, outcome, job_id).await
        }
    }
}

/// Replaces a new delivery's `pending` outcome with what applying it did.
async fn set_outcome(
    tx: &mut Transaction<'static, Any>,
    delivery_id: &str,
    outcome: DeliveryOutcome,
    job_id: Option<JobId>,
) -> anyhow::Result<Recorded> {
    sqlx::query("UPDATE deliveries SET outcome = $1, job_id = $2 WHERE id = $3")
        .bind(outcome.as_str())
        .bind(job_id.map(|j| j.0))
        .bind(delivery_id)
        .execute(&mut **tx)
        .await
        .context("recording a delivery's outcome")?;
    Ok(Recorded { duplicate: false, outcome, job_id })
}

/// Creates a `received` job and asks the control loop to admit it, or
/// records the trigger on the issue's active job (and, for a comment, asks
/// for a reply with that job's status).
async fn run_trigger(
    tx: &mut Transaction<'static, Any>,
    limiter: &DefaultKeyedRateLimiter<InstallationId>,
    job: &NewJob,
    now: i64,
) -> anyhow::Result<(DeliveryOutcome, Option<JobId>)> {
    let active = super::store::active_job_id(tx, job.repo.id, job.issue_number).await?;
    let (outcome, id) = match active {
        Some(id) => {
            super::store::insert_trigger(tx, id, job, now).await?;
            (DeliveryOutcome::JobTriggered, id)
        }
        None => {
            if limiter.check_key(&job.installation_id).is_err() {
                return Ok((DeliveryOutcome::RateLimited, None));
            }
            (DeliveryOutcome::JobCreated, super::store::insert_received_job(tx, job, now).await?)
        }
    };
    let action = match outcome {
        DeliveryOutcome::JobCreated => Some(ControlAction::Admit { job: id }),
        _ if matches!(job.trigger, TriggerKind::Comment | TriggerKind::FollowUp) => {
            Some(ControlAction::AlreadyActive { job: id })
        }
        _ => None,
    };
    if let Some(action) = action {
        let req = ControlRequest {
            action,
            installation_id: job.installation_id,
            repo: job.repo.clone(),
            issue_number: job.issue_number,
            issue_title: job.issue_title.clone(),
            comment_id: job.trigger_comment_id,
            sender_login: job.sender_login.clone(),
            sender_id: job.sender_id,
        };
        request::insert(tx, &job.delivery_id, &req, now).await?;
    }
    Ok((outcome, Some(id)))
}

async fn apply_installation(
    tx: &mut Transaction<'static, Any>,
    change: &InstallationChange,
    now: i64,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO installations (id, account_login, account_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
         ON CONFLICT (id) DO UPDATE SET account_login = excluded.account_login, account_id = excluded.account_id, \
         updated_at = excluded.updated_at",
    )
    .bind(change.installation_id.db())
    .bind(&change.account_login)
    .bind(change.account_id)
    .bind(now)
    .execute(&mut **tx)
    .await
    .context("recording an installation")?;
    let (suspended, deleted): (Option<i64>, Option<i64>) = match change.action {
        InstallationAction::Created | InstallationAction::Unsuspend => (None, None),
        InstallationAction::Suspend => (Some(now), None),
        InstallationAction::Deleted => (None, Some(now)),
    };
    sqlx::query("UPDATE installations SET suspended_at = $1, deleted_at = $2 WHERE id = $3")
        .bind(suspended)
        .bind(deleted)
        .bind(change.installation_id.db())
        .execute(&mut **tx)
        .await?;
    if change.action == InstallationAction::Deleted {
        sqlx::query("DELETE FROM installation_repositories WHERE installation_id = $1")
            .bind(change.installation_id.db())
            .execute(&mut **tx)
            .await?;
    }
    for repo in &change.repos {
        add_installation_repo(tx, change.installation_id, repo).await?;
    }
    Ok(())
}

async fn add_installation_repo(
    tx: &mut Transaction<'static, Any>,
    installation_id: InstallationId,
    repo: &RepoBrief,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO installation_repositories (installation_id, repo_id, full_name) VALUES ($1, $2, $3) \
         ON CONFLICT (installation_id, repo_id) DO UPDATE SET full_name = excluded.full_name",
    )
    .bind(installation_id.db())
    .bind(repo.id.db())
    .bind(&repo.full_name)
    .execute(&mut **tx)
    .await
    .context("recording an installation's repository")?;
    Ok(())
}
