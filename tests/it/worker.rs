//! The worker pool against a real SQLite store, with a scripted runner in
//! place of the pipeline: concurrency limit, graceful shutdown, crash
//! recovery and lease loss.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use maxion::jobs::{
    DeliveryRecord, Effect, InstallationId, IssueNumber, JobId, JobRate, JobState, Ledger, NewJob, RepoId, RepoRef,
    Store, TriggerKind,
};
use maxion::worker::{JobOutcome, Pool, WorkerSettings};
use secrecy::SecretString;
use tokio::sync::mpsc;

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("dir");
    let url = SecretString::from(format!("sqlite://{}", dir.path().join("w.db").display()));
    (Store::open(&url).await.expect("store"), dir)
}

async fn queue(store: &Store, ledger: &Ledger, issue: u64) -> JobId {
    let job = NewJob {
        installation_id: InstallationId(1),
        repo: RepoRef {
            id: RepoId(1),
            full_name: "o/r".into(),
            clone_url: String::new(),
            default_branch: "main".into(),
        },
        issue_number: IssueNumber(issue),
        issue_title: "t".into(),
        trigger: TriggerKind::Label,
        trigger_comment_id: None,
        sender_login: "a".into(),
        sender_id: 1,
        instructions: None,
        delivery_id: format!("d{issue}"),
        follow_up: None,
    };
    let record =
        DeliveryRecord { id: format!("d{issue}"), event: "issues".into(), action: None, effect: Effect::Run(job) };
    let id = ledger.record(record).await.expect("record").job_id.expect("job");
    // Intake records jobs `received`; admitting them is the control loop's
    // part (tests/it/control.rs), done here directly.
    assert!(store.transition(id, JobState::Received, JobState::Queued, None).await.expect("admit"));
    ledger.jobs_available.notify_waiters();
    id
}

fn settings(workers: usize, instance: &str) -> WorkerSettings {
    let mut s = WorkerSettings::new(workers, instance.into());
    s.poll = Duration::from_millis(50);
    s.heartbeat = Duration::from_millis(50);
    s.lease = Duration::from_millis(400);
    s.grace = Duration::from_millis(200);
    s
}

async fn wait_for_state(store: &Store, job: JobId, state: JobState) -> maxion::jobs::Job {
    for _ in 0..400 {
        let j = store.get_job(job).await.expect("read").expect("job");
        if j.state == state {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("job {job} never reached {state}");
}

#[tokio::test]
async fn three_jobs_on_two_workers_all_succeed_never_more_than_two_at_once() {
    let (store, _dir) = store().await;
    let ledger = Ledger::start(store.clone(), JobRate { per_minute: 100, burst: 100 });
    let (started_tx, mut started) = mpsc::unbounded_channel::<JobId>();
    let (release_tx, release) = tokio::sync::watch::channel(false);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let runner = {
        let (in_flight, peak) = (Arc::clone(&in_flight), Arc::clone(&peak));
        move |job: maxion::jobs::Job, _cancel| {
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
    let jobs = [queue(&store, &ledger, 1).await, queue(&store, &ledger, 2).await, queue(&store, &ledger, 3).await];
    let pool =
        Pool::start(store.clone(), settings(2, "me"), ledger.jobs_available.clone(), runner).await.expect("pool");
    let first = [started.recv().await.expect("start"), started.recv().await.expect("start")];
    // With both workers held, the third job must still be waiting.
    assert!(tokio::time::timeout(Duration::from_millis(300), started.recv()).await.is_err());
    let waiting = jobs.iter().find(|j| !first.contains(j)).expect("one waits");
    assert_eq!(store.get_job(*waiting).await.expect("read").expect("job").state, JobState::Queued);
    release_tx.send(true).expect("release");
    for job in jobs {
        wait_for_state(&store, job, JobState::Succeeded).await;
    }
    assert_eq!(peak.load(Ordering::SeqCst), 2);
    pool.shutdown().await;
}

#[tokio::test]
async fn shutdown_hands_running_jobs_back_after_the_grace_period() {
    let (store, _dir) = store().await;
    let ledger = Ledger::start(store.clone(), JobRate { per_minute: 100, burst: 100 });
    let (started_tx, mut started) = mpsc::unbounded_channel::<JobId>();
    let runner = move |job: maxion::jobs::Job, cancel: tokio_util::sync::CancellationToken| {
        let started_tx = started_tx.clone();
        async move {
            let _ = started_tx.send(job.id);
            cancel.cancelled().await;
            JobOutcome { state: JobState::Cancelled, reason: Some("shutdown".into()) }
        }
    };
    let job = queue(&store, &ledger, 1).await;
    let pool =
        Pool::start(store.clone(), settings(1, "me"), ledger.jobs_available.clone(), runner).await.expect("pool");
    assert_eq!(started.recv().await, Some(job));
    pool.shutdown().await;
    let after = store.get_job(job).await.expect("read").expect("job");
    assert_eq!(after.state, JobState::Queued, "handed back, not cancelled");
    assert_eq!(after.attempts, 0, "a graceful hand-back does not spend the retry");
}

#[tokio::test]
async fn an_interrupted_job_is_retried_once_then_failed_as_interrupted() {
    let (store, _dir) = store().await;
    let ledger = Ledger::start(store.clone(), JobRate { per_minute: 100, burst: 100 });
    let job = queue(&store, &ledger, 1).await;
    // A previous run of this instance claimed it and died.
    store.claim_next("me", Duration::from_secs(3600)).await.expect("claim").expect("job");

    let (started_tx, mut started) = mpsc::unbounded_channel::<i64>();
    let runner = move |job: maxion::jobs::Job, cancel: tokio_util::sync::CancellationToken| {
        let started_tx = started_tx.clone();
        async move {
            let _ = started_tx.send(job.attempts);
            cancel.cancelled().await;
            JobOutcome { state: JobState::Cancelled, reason: None }
        }
    };
    // Restart: the job is requeued and started again as attempt 2.
    let pool =
        Pool::start(store.clone(), settings(1, "me"), ledger.jobs_available.clone(), runner).await.expect("pool");
    assert_eq!(started.recv().await, Some(2));
    // "Crash" again: the pool vanishes without handing back (lease owner "me").
    drop(pool);
    let runner = |_job, _cancel| async { JobOutcome::succeeded() };
    let pool =
        Pool::start(store.clone(), settings(1, "me"), ledger.jobs_available.clone(), runner).await.expect("pool");
    let failed = wait_for_state(&store, job, JobState::Failed).await;
    assert_eq!(failed.error.as_deref(), Some("interrupted"));
    pool.shutdown().await;
}

#[tokio::test]
async fn a_job_of_a_dead_instance_is_taken_over_when_its_lease_expires() {
    let (store, _dir) = store().await;
    let ledger = Ledger::start(store.clone(), JobRate { per_minute: 100, burst: 100 });
    let job = queue(&store, &ledger, 1).await;
    store.claim_next("dead-instance", Duration::from_millis(100)).await.expect("claim").expect("job");
    let runner = |_job, _cancel| async { JobOutcome::succeeded() };
    let pool =
        Pool::start(store.clone(), settings(1, "me"), ledger.jobs_available.clone(), runner).await.expect("pool");
    let done = wait_for_state(&store, job, JobState::Succeeded).await;
    assert_eq!(done.attempts, 2);
    pool.shutdown().await;
}

#[tokio::test]
async fn cancelling_in_the_store_stops_the_running_job() {
    let (store, _dir) = store().await;
    let ledger = Ledger::start(store.clone(), JobRate { per_minute: 100, burst: 100 });
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let (stopped_tx, mut stopped) = mpsc::unbounded_channel::<()>();
    let runner = move |_job, cancel: tokio_util::sync::CancellationToken| {
        let (started_tx, stopped_tx) = (started_tx.clone(), stopped_tx.clone());
        async move {
            let _ = started_tx.send(());
            cancel.cancelled().await;
            let _ = stopped_tx.send(());
            JobOutcome { state: JobState::Cancelled, reason: None }
        }
    };
    let job = queue(&store, &ledger, 1).await;
    let pool =
        Pool::start(store.clone(), settings(1, "me"), ledger.jobs_available.clone(), runner).await.expect("pool");
    started.recv().await.expect("started");
    // Another instance (or a command) cancels it in the store.
    assert!(store.transition(job, JobState::Running, JobState::Cancelled, Some("by bob")).await.expect("cancel"));
    tokio::time::timeout(Duration::from_secs(5), stopped.recv()).await.expect("runner was cancelled").expect("msg");
    assert_eq!(store.get_job(job).await.expect("read").expect("job").state, JobState::Cancelled);
    pool.shutdown().await;
}

/// `/maxion cancel` taken by another instance: only the stored request
/// reaches this one, and its heartbeat stops the job; the job ends
/// `cancelled` (not handed back), with who asked in the event log.
#[tokio::test]
async fn a_stored_cancel_request_is_seen_on_the_heartbeat() {
    let (store, _dir) = store().await;
    let ledger = Ledger::start(store.clone(), JobRate { per_minute: 100, burst: 100 });
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let runner = move |_job, cancel: tokio_util::sync::CancellationToken| {
        let started_tx = started_tx.clone();
        async move {
            let _ = started_tx.send(());
            cancel.cancelled().await;
            JobOutcome { state: JobState::Cancelled, reason: Some("requested by @bob".into()) }
        }
    };
    let job = queue(&store, &ledger, 1).await;
    let pool =
        Pool::start(store.clone(), settings(1, "me"), ledger.jobs_available.clone(), runner).await.expect("pool");
    started.recv().await.expect("started");
    assert!(store.request_cancel(job, "bob").await.expect("request"));
    let done = wait_for_state(&store, job, JobState::Cancelled).await;
    assert_eq!(done.error.as_deref(), Some("requested by @bob"));
    assert_eq!(store.cancel_requested_by(job).await.expect("read").as_deref(), Some("bob"));
    // A finished job cannot be asked again.
    assert!(!store.request_cancel(job, "carol").await.expect("request"));
    pool.shutdown().await;
}

/// On the instance that runs the job, the canceller stops it at once.
#[tokio::test]
async fn the_canceller_stops_a_job_running_here() {
    let (store, _dir) = store().await;
    let ledger = Ledger::start(store.clone(), JobRate { per_minute: 100, burst: 100 });
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let runner = move |_job, cancel: tokio_util::sync::CancellationToken| {
        let started_tx = started_tx.clone();
        async move {
            let _ = started_tx.send(());
            cancel.cancelled().await;
            JobOutcome { state: JobState::Cancelled, reason: None }
        }
    };
    let job = queue(&store, &ledger, 1).await;
    let mut s = settings(1, "me");
    // A heartbeat far away: only the canceller can stop the job in time.
    s.heartbeat = Duration::from_secs(3600);
    s.lease = Duration::from_secs(7200);
    let pool = Pool::start(store.clone(), s, ledger.jobs_available.clone(), runner).await.expect("pool");
    started.recv().await.expect("started");
    let canceller = pool.canceller();
    assert!(canceller.cancel(job));
    assert!(!canceller.cancel(JobId(job.0 + 100)), "not running here");
    wait_for_state(&store, job, JobState::Cancelled).await;
    pool.shutdown().await;
}
