//! The worker pool: claims queued jobs with a lease, keeps the lease alive
//! while a job runs, and hands jobs to the runner (the pipeline).
//!
//! Durability rules:
//! - A claim is a lease. A heartbeat renews it; if renewal fails (another
//!   instance took over, or the job was cancelled in the store) the job's
//!   cancellation token fires. The heartbeat also fires it when someone asked
//!   to cancel the job (`cancel_requested_by`), whichever instance took the
//!   request; on this instance [`Canceller`] fires it at once.
//! - A job whose lease expired (its instance died), or that this instance held
//!   when it crashed, is retried once from the start and then failed with
//!   reason "interrupted" ([`Store::recover_interrupted`]).
//! - On shutdown the pool stops claiming, gives running jobs a grace period,
//!   then cancels them and hands them back to the queue without spending
//!   their retry.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::jobs::{Job, JobId, JobState, Store};
use crate::report::text;

/// What the pool records when a runner returns: the job's terminal state and
/// the stored reason. The pool runs any runner, so it takes this plain pair;
/// the pipeline derives it from its [`crate::jobs::JobEnd`] (the one job-end
/// type, see `jobs::end` for the mapping). A `Cancelled` outcome during
/// shutdown that nobody asked for hands the job back to the queue instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub state: JobState,
    pub reason: Option<String>,
}

impl JobOutcome {
    pub fn succeeded() -> Self {
        JobOutcome { state: JobState::Succeeded, reason: None }
    }
    pub fn failed(reason: impl Into<String>) -> Self {
        JobOutcome { state: JobState::Failed, reason: Some(reason.into()) }
    }
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub workers: usize,
    /// This instance's stable id (lease owner, sandbox container label).
    pub instance_id: String,
    pub lease: Duration,
    pub heartbeat: Duration,
    /// How long running jobs may go on after SIGTERM before they are cancelled.
    pub grace: Duration,
    /// Starts of one job before an interruption fails it.
    pub max_attempts: i64,
    /// How often idle workers look for work they were not woken for
    /// (jobs queued by another instance, expired leases).
    pub poll: Duration,
}

impl WorkerSettings {
    pub fn new(workers: usize, instance_id: String) -> Self {
        WorkerSettings {
            workers,
            instance_id,
            lease: Duration::from_secs(60),
            heartbeat: Duration::from_secs(15),
            grace: Duration::from_secs(60),
            max_attempts: 2,
            poll: Duration::from_secs(5),
        }
    }
}

type Running = Arc<Mutex<HashMap<JobId, CancellationToken>>>;

/// Shows users the end of a job that recovery ended without running it
/// (the pipeline's reporter; the pool only knows the store).
pub type Recovered = Arc<dyn Fn(JobId) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Recovers interrupted jobs (this instance's when `owner` is set, else
/// those whose lease expired) and has each job it ended shown, in the
/// background: start-up does not wait for GitHub.
async fn recover(
    store: &Store,
    owner: Option<&str>,
    max_attempts: i64,
    recovered: Option<&Recovered>,
) -> anyhow::Result<()> {
    let (_, ended) = store.recover_interrupted(owner, max_attempts, text::cancelled_by).await?;
    if let Some(show) = recovered {
        for id in ended {
            tokio::spawn(show(id));
        }
    }
    Ok(())
}

/// Cancels jobs running on this instance; cheap to clone (the control loop holds one).
#[derive(Clone, Default)]
pub struct Canceller(Running);

impl Canceller {
    /// Fires the job's token if it runs here; `false` otherwise (the heartbeat
    /// of the instance that runs it sees the stored request instead).
    pub fn cancel(&self, job: JobId) -> bool {
        let running = self.0.lock().unwrap_or_else(|e| e.into_inner());
        running.get(&job).map(CancellationToken::cancel).is_some()
    }
}

/// A running pool.
pub struct Pool {
    shutdown: CancellationToken,
    running: Running,
    tasks: JoinSet<()>,
    grace: Duration,
}

impl Pool {
    /// Recovers interrupted jobs, then starts `workers` loops.
    pub async fn start<R, F>(
        store: Store,
        settings: WorkerSettings,
        wake: Arc<Notify>,
        runner: R,
        recovered: Option<Recovered>,
    ) -> anyhow::Result<Pool>
    where
        R: Fn(Job, CancellationToken) -> F + Send + Sync + 'static,
        F: Future<Output = JobOutcome> + Send + 'static,
    {
        // Jobs this instance held when it last stopped without handing them back.
        recover(&store, Some(&settings.instance_id), settings.max_attempts, recovered.as_ref()).await?;
        let shutdown = CancellationToken::new();
        let running = Arc::new(Mutex::new(HashMap::new()));
        let runner = Arc::new(runner);
        let mut tasks = JoinSet::new();
        for _ in 0..settings.workers.max(1) {
            tasks.spawn(worker_loop(
                store.clone(),
                settings.clone(),
                Arc::clone(&wake),
                Arc::clone(&runner),
                recovered.clone(),
                shutdown.clone(),
                Arc::clone(&running),
            ));
        }
        Ok(Pool { shutdown, running, tasks, grace: settings.grace })
    }

    /// Cancels one running job on this instance; `false` if it is not running here.
    pub fn cancel(&self, job: JobId) -> bool {
        self.canceller().cancel(job)
    }

    pub fn canceller(&self) -> Canceller {
        Canceller(Arc::clone(&self.running))
    }

    /// Stops claiming, waits up to the grace period, cancels what still runs
    /// (those jobs go back to the queue), and returns when every worker is done.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        let drained = tokio::time::timeout(self.grace, async { while self.tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            let running = self.running.lock().unwrap_or_else(|e| e.into_inner()).clone();
            tracing::warn!(jobs = running.len(), "grace period over; cancelling running jobs and handing them back");
            for token in running.values() {
                token.cancel();
            }
            while self.tasks.join_next().await.is_some() {}
        }
    }
}

async fn worker_loop<R, F>(
    store: Store,
    settings: WorkerSettings,
    wake: Arc<Notify>,
    runner: Arc<R>,
    recovered: Option<Recovered>,
    shutdown: CancellationToken,
    running: Arc<Mutex<HashMap<JobId, CancellationToken>>>,
) where
    R: Fn(Job, CancellationToken) -> F + Send + Sync + 'static,
    F: Future<Output = JobOutcome> + Send + 'static,
{
    while !shutdown.is_cancelled() {
        // Register interest before looking, so a job queued in between still wakes us.
        let notified = wake.notified();
        let claimed = match store.claim_next(&settings.instance_id, settings.lease).await {
            Ok(job) => job,
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "claiming a job failed");
                None
            }
        };
        let Some(job) = claimed else {
            tokio::select! {
                () = notified => {}
                () = tokio::time::sleep(settings.poll) => {
                    if let Err(e) = recover(&store, None, settings.max_attempts, recovered.as_ref()).await {
                        tracing::error!(error = format!("{e:#}"), "recovering interrupted jobs failed");
                    }
                }
                () = shutdown.cancelled() => {}
            }
            continue;
        };
        run_one(&store, &settings, runner.as_ref(), &shutdown, &running, job).await;
    }
}

async fn run_one<R, F>(
    store: &Store,
    settings: &WorkerSettings,
    runner: &R,
    shutdown: &CancellationToken,
    running: &Mutex<HashMap<JobId, CancellationToken>>,
    job: Job,
) where
    R: Fn(Job, CancellationToken) -> F,
    F: Future<Output = JobOutcome>,
{
    let id = job.id;
    let cancel = CancellationToken::new();
    running.lock().unwrap_or_else(|e| e.into_inner()).insert(id, cancel.clone());
    tracing::info!(job = %id, attempt = job.attempts, "job started");

    let _heartbeat = AbortOnDrop({
        let (store, cancel, owner) = (store.clone(), cancel.clone(), settings.instance_id.clone());
        let (every, lease) = (settings.heartbeat, settings.lease);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(every) => {}
                }
                match store.heartbeat(id, &owner, lease).await {
                    Ok(true) => {
                        if let Ok(Some(by)) = store.cancel_requested_by(id).await {
                            tracing::info!(job = %id, by, "cancellation requested; stopping the job");
                            cancel.cancel();
                            return;
                        }
                    }
                    Ok(false) => {
                        tracing::warn!(job = %id, "lost the job's lease (cancelled or taken over); stopping it");
                        cancel.cancel();
                        return;
                    }
                    Err(e) => tracing::error!(job = %id, error = format!("{e:#}"), "lease renewal failed"),
                }
            }
        })
    });

    let outcome = runner(job, cancel.clone()).await;
    running.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);

    // Cancelled by shutdown goes back to the queue; cancelled by a person does not.
    let asked = matches!(store.cancel_requested_by(id).await, Ok(Some(_)));
    let result = if shutdown.is_cancelled() && outcome.state == JobState::Cancelled && !asked {
        store.hand_back(id, &settings.instance_id).await.map(|_| ())
    } else {
        store.transition(id, JobState::Running, outcome.state, outcome.reason.as_deref()).await.map(|_| ())
    };
    if let Err(e) = result {
        tracing::error!(job = %id, error = format!("{e:#}"), "recording the job's end failed");
    }
    tracing::info!(job = %id, state = %outcome.state, "job ended");
}

/// Stops the heartbeat however the worker ends, including being aborted.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// This instance's id: kept in the data directory so that a restarted
/// instance recognises (and cleans up) what its previous run left behind.
pub fn instance_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    use anyhow::Context;
    let path = data_dir.join("instance-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        let id = id.trim().to_owned();
        if !id.is_empty() {
            return Ok(id);
        }
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("MAXION_DATA_DIR: cannot create {}", data_dir.display()))?;
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    let seed = format!("{}-{}-{:?}", host.trim(), std::process::id(), std::time::SystemTime::now());
    let id = format!("mx-{:016x}", {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write(seed.as_bytes());
        h.finish()
    });
    std::fs::write(&path, &id).with_context(|| format!("MAXION_DATA_DIR: cannot write {}", path.display()))?;
    Ok(id)
}
