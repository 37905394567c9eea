//! The worker pool against a real SQLite store, with a scripted runner in
//! place of the pipeline: concurrency limit, graceful shutdown, crash
//! recovery and lease loss.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use maxion::jobs::{DeliveryRecord, Effect, Job, JobId, JobRate, JobState, Ledger, Store};
use maxion::worker::{JobOutcome, Pool, WorkerSettings};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::jobs::{new_job, sqlite_store};
use crate::support::wait::until;

/// A store and its ledger, as the service has them.
struct Queue {
    store: Store,
    ledger: Ledger,
    _dir: tempfile::TempDir,
}

async fn queue_store() -> Queue {
    let (store, dir) = sqlite_store().await;
    let ledger = Ledger::start(store.clone(), JobRate { per_minute: 100, burst: 100 });
    Queue { store, ledger, _dir: dir }
}

impl Queue {
    /// Records a job for `issue` and admits it to the queue.
    async fn queue(&self, issue: u64) -> JobId {
        let delivery = format!("d{issue}");
        let job = new_job(issue, &delivery);
        let record = DeliveryRecord { id: delivery, event: "issues".into(), action: None, effect: Effect::Run(job) };
        let id = self.ledger.record(record).await.expect("record").job_id.expect("job");
        // Intake records jobs `received`; admitting them is the control loop's
        // part (tests/it/control.rs), done here directly.
        assert!(self.store.transition(id, JobState::Received, JobState::Queued, None).await.expect("admit"));
        self.ledger.jobs_available.notify_waiters();
        id
    }

    /// A pool of this instance ("me") on the store.
    async fn pool<R, F>(&self, settings: WorkerSettings, runner: R) -> Pool
    where
        R: Fn(Job, CancellationToken) -> F + Send + Sync + 'static,
        F: Future<Output = JobOutcome> + Send + 'static,
    {
        Pool::start(self.store.clone(), settings, self.ledger.jobs_available.clone(), runner, None).await.expect("pool")
    }

    /// Queues one job and starts a pool running it with a runner from
    /// [`until_cancelled`]; returns once the runner has it.
    async fn running_one(&self, settings: WorkerSettings, outcome: JobOutcome) -> (JobId, Pool, Runs) {
        let (runner, mut runs) = until_cancelled(outcome);
        let job = self.queue(1).await;
        let pool = self.pool(settings, runner).await;
        assert_eq!(runs.started.recv().await.map(|j| j.id), Some(job), "the runner started the job");
        (job, pool, runs)
    }

    async fn state_of(&self, job: JobId) -> Job {
        self.store.get_job(job).await.expect("read").expect("job")
    }

    async fn wait_for_state(&self, job: JobId, state: JobState) -> Job {
        until(Duration::from_secs(10), async || {
            let j = self.state_of(job).await;
            if j.state == state { Ok(j) } else { Err(format!("job {job} never reached {state}")) }
        })
        .await
    }
}

fn settings(workers: usize, instance: &str) -> WorkerSettings {
    let mut s = WorkerSettings::new(workers, instance.into());
    s.poll = Duration::from_millis(50);
    s.heartbeat = Duration::from_millis(50);
    s.lease = Duration::from_millis(400);
    s.grace = Duration::from_millis(200);
    s
}

type Run = Pin<Box<dyn Future<Output = JobOutcome> + Send>>;

/// What a runner from [`until_cancelled`] saw: each job it started, and each
/// job it stopped once cancelled.
struct Runs {
    started: mpsc::UnboundedReceiver<Job>,
    stopped: mpsc::UnboundedReceiver<JobId>,
}

/// A runner that reports each job it starts, runs until cancelled, reports
/// the stop and ends as `outcome`.
fn until_cancelled(outcome: JobOutcome) -> (impl Fn(Job, CancellationToken) -> Run + Send + Sync + 'static, Runs) {
    let (started_tx, started) = mpsc::unbounded_channel();
    let (stopped_tx, stopped) = mpsc::unbounded_channel();
    let runner = move |job: Job, cancel: CancellationToken| -> Run {
        let (started_tx, stopped_tx, outcome) = (started_tx.clone(), stopped_tx.clone(), outcome.clone());
        Box::pin(async move {
            let id = job.id;
            let _ = started_tx.send(job);
            cancel.cancelled().await;
            let _ = stopped_tx.send(id);
            outcome
        })
    };
    (runner, Runs { started, stopped })
}

fn cancelled(reason: Option<&str>) -> JobOutcome {
    JobOutcome { state: JobState::Cancelled, reason: reason.map(str::to_owned) }
}

#[tokio::test]
async fn three_jobs_on_two_workers_all_succeed_never_more_than_two_at_once() {
    let q = queue_store().await;
    let (started_tx, mut started) = mpsc::unbounded_channel::<JobId>();
    let (release_tx, release) = tokio::sync::watch::channel(false);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let runner = {
        let (in_flight, peak) = (Arc::clone(&in_flight), Arc::clone(&peak));
        move |job: Job, _cancel| {
            let (in_flight, peak, started_tx, mut release) =
                (Arc::clone(&in_flight), Arc::clone(&peak), started_tx.clone(), release.clone());
            async move {
                let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                let _ = started_tx.send(job.id);
                let _ = release.wait_for(|go| *go).await;
                in_flight.fetch_sub(1, Ordering::SeqCst);
                JobOutcome::succeeded()
            }
        }
    };
    let jobs = [q.queue(1).await, q.queue(2).await, q.queue(3).await];
    let pool = q.pool(settings(2, "me"), runner).await;
    let first = [started.recv().await.expect("start"), started.recv().await.expect("start")];
    // With both workers held, the third job must still be waiting.
    assert!(tokio::time::timeout(Duration::from_millis(300), started.recv()).await.is_err());
    let waiting = jobs.iter().find(|j| !first.contains(j)).expect("one waits");
    assert_eq!(q.state_of(*waiting).await.state, JobState::Queued);
    release_tx.send(true).expect("release");
    for job in jobs {
        q.wait_for_state(job, JobState::Succeeded).await;
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    pool.shutdown().await;
}

#[tokio::test]
async fn shutdown_hands_running_jobs_back_after_the_grace_period() {
    let q = queue_store().await;
    let (job, pool, _) = q.running_one(settings(1, "me"), cancelled(Some("shutdown"))).await;
    pool.shutdown().await;
    let after = q.state_of(job).await;
    assert_eq!(after.state, JobState::Queued, "handed back, not cancelled");
    assert_eq!(after.attempts, 0, "a graceful hand-back does not spend the retry");
}

#[tokio::test]
async fn an_interrupted_job_is_retried_once_then_failed_as_interrupted() {
    let q = queue_store().await;
    let job = q.queue(1).await;
    // A previous run of this instance claimed it and died.
    q.store.claim_next("me", Duration::from_secs(3600)).await.expect("claim").expect("job");

    let (runner, mut runs) = until_cancelled(cancelled(None));
    // Restart: the job is requeued and started again as attempt 2.
    let pool = q.pool(settings(1, "me"), runner).await;
    assert_eq!(runs.started.recv().await.map(|j| j.attempts), Some(2));
    // "Crash" again: the pool vanishes without handing back (lease owner "me").
    drop(pool);
    let pool = q.pool(settings(1, "me"), |_job, _cancel| async { JobOutcome::succeeded() }).await;
    let failed = q.wait_for_state(job, JobState::Failed).await;
    assert_eq!(failed.error.as_deref(), Some("interrupted"));
    pool.shutdown().await;
}

#[tokio::test]
async fn a_job_of_a_dead_instance_is_taken_over_when_its_lease_expires() {
    let q = queue_store().await;
    let job = q.queue(1).await;
    q.store.claim_next("dead-instance", Duration::from_millis(100)).await.expect("claim").expect("job");
    let pool = q.pool(settings(1, "me"), |_job, _cancel| async { JobOutcome::succeeded() }).await;
    let done = q.wait_for_state(job, JobState::Succeeded).await;
    assert_eq!(done.attempts, 2);
    pool.shutdown().await;
}

#[tokio::test]
async fn cancelling_in_the_store_stops_the_running_job() {
    let q = queue_store().await;
    let (job, pool, mut runs) = q.running_one(settings(1, "me"), cancelled(None)).await;
    // Another instance (or a command) cancels it in the store.
    assert!(q.store.transition(job, JobState::Running, JobState::Cancelled, Some("by bob")).await.expect("cancel"));
    tokio::time::timeout(Duration::from_secs(5), runs.stopped.recv())
        .await
        .expect("runner was cancelled")
        .expect("msg");
    assert_eq!(q.state_of(job).await.state, JobState::Cancelled);
    pool.shutdown().await;
}

/// `/maxion cancel` taken by another instance: only the stored request
/// reaches this one, and its heartbeat stops the job; the job ends
/// `cancelled` (not handed back), with who asked in the event log.
#[tokio::test]
async fn a_stored_cancel_request_is_seen_on_the_heartbeat() {
    let q = queue_store().await;
    let (job, pool, _) = q.running_one(settings(1, "me"), cancelled(Some("requested by @bob"))).await;
    assert!(q.store.request_cancel(job, "bob").await.expect("request"));
    let done = q.wait_for_state(job, JobState::Cancelled).await;
    assert_eq!(done.error.as_deref(), Some("requested by @bob"));
    assert_eq!(q.store.cancel_requested_by(job).await.expect("read").as_deref(), Some("bob"));
    // A finished job cannot be asked again.
    assert!(!q.store.request_cancel(job, "carol").await.expect("request"));
    pool.shutdown().await;
}

/// On the instance that runs the job, the canceller stops it at once.
#[tokio::test]
async fn the_canceller_stops_a_job_running_here() {
    let q = queue_store().await;
    let mut s = settings(1, "me");
    // A heartbeat far away: only the canceller can stop the job in time.
    s.heartbeat = Duration::from_secs(3600);
    s.lease = Duration::from_secs(7200);
    let (job, pool, _) = q.running_one(s, cancelled(None)).await;
    let canceller = pool.canceller();
    assert!(canceller.cancel(job));
    assert!(!canceller.cancel(JobId(job.0 + 100)), "not running here");
    q.wait_for_state(job, JobState::Cancelled).await;
    pool.shutdown().await;
}
