//! One store test suite, run against both backends: a real SQLite file and a
//! real PostgreSQL server (`MAXION_TEST_POSTGRES_URL`, an admin URL; each test
//! gets a fresh database). Without that variable the PostgreSQL half skips
//! with a notice, except under `CI=true`, where it fails.

use std::collections::BTreeSet;
use std::time::Duration;

use maxion::jobs::{
    ControlAction, ControlRequest, DeliveryRecord, Effect, JobEvent, JobId, JobRate, JobState, Ledger, NewJob, Store,
    TriggerKind,
};
use maxion::jobs::{
    ControlOutcome, DeliveryOutcome, InstallationAction, InstallationChange, InstallationId, IssueNumber, RepoBrief,
    RepoId,
};
use secrecy::SecretString;

use crate::support::jobs::{new_job, sqlite_store};

struct Db {
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> Db {
    let (store, dir) = sqlite_store().await;
    Db { store, _dir: Some(dir) }
}

async fn postgres() -> Option<Db> {
    let Ok(admin) = std::env::var("MAXION_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but MAXION_TEST_POSTGRES_URL is not set: the PostgreSQL store tests cannot run"
        );
        eprintln!("notice: MAXION_TEST_POSTGRES_URL not set; skipping the PostgreSQL store test");
        return None;
    };
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect to the PostgreSQL admin URL");
    let name = format!(
        "maxion_t_{}_{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_nanos()
    );
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.expect("create test database");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let url = SecretString::from(format!("{base}/{name}"));
    Some(Db { store: Store::open(&url).await.expect("postgres store"), _dir: None })
}

fn run(issue: u64, delivery: &str) -> DeliveryRecord {
    DeliveryRecord {
        id: delivery.into(),
        event: "issues".into(),
        action: Some("labeled".into()),
        effect: Effect::Run(new_job(issue, delivery)),
    }
}

fn ledger(store: &Store) -> Ledger {
    Ledger::start(store.clone(), JobRate { per_minute: 10_000, burst: 10_000 })
}

/// Records a run and admits its job (what the control loop does after the permission check).
async fn queued(store: &Store, ledger: &Ledger, issue: u64, delivery: &str) -> JobId {
    let id = ledger.record(run(issue, delivery)).await.expect("record").job_id.expect("job");
    assert!(store.transition(id, JobState::Received, JobState::Queued, None).await.expect("admit"));
    id
}

mod cases {
    use super::*;

    pub async fn ledger_creates_jobs_and_deduplicates(store: &Store) {
        let ledger = ledger(store);
        let first = ledger.record(run(1, "a")).await.expect("record");
        assert_eq!(first.outcome, DeliveryOutcome::JobCreated);
        let again = ledger.record(run(1, "a")).await.expect("record");
        assert!(again.duplicate);
        assert_eq!(again.job_id, first.job_id);
        assert_eq!(store.count_jobs().await.expect("count"), 1);
    }

    pub async fn concurrent_redeliveries_create_one_job(store: &Store) {
        let ledger = ledger(store);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let ledger = ledger.clone();
            tasks.push(tokio::spawn(async move { ledger.record(run(2, "same")).await.expect("record") }));
        }
        let mut fresh = 0;
        for t in tasks {
            if !t.await.expect("task").duplicate {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 1);
        assert_eq!(store.count_jobs().await.expect("count"), 1);
    }

    pub async fn one_active_job_per_issue(store: &Store) {
        let ledger = ledger(store);
        let a = ledger.record(run(3, "x1")).await.expect("record");
        let id = a.job_id.expect("job");
        // Received: waits for admission, and no worker may take it yet.
        assert_eq!(store.get_job(id).await.expect("read").expect("job").state, JobState::Received);
        assert!(store.claim_next("w", Duration::from_secs(60)).await.expect("claim").is_none());
        assert_eq!(store.control_outcome("x1").await.expect("read"), Some((false, None)));
        let b = ledger.record(run(3, "x2")).await.expect("record");
        assert_eq!(b.outcome, DeliveryOutcome::JobTriggered);
        assert_eq!(a.job_id, b.job_id);
        assert_eq!(store.job_trigger_count(id).await.expect("count"), 2);
        assert!(store.transition(id, JobState::Received, JobState::Queued, None).await.expect("admit"));
        // Once the job has ended, a new trigger starts a new job.
        let claimed = store.claim_next("w", Duration::from_secs(60)).await.expect("claim").expect("a job");
        assert_eq!(claimed.id, id);
        assert!(store.transition(id, JobState::Running, JobState::Succeeded, None).await.expect("finish"));
        let c = ledger.record(run(3, "x3")).await.expect("record");
        assert_eq!(c.outcome, DeliveryOutcome::JobCreated);
        assert_ne!(c.job_id, a.job_id);
    }

    pub async fn claims_are_exclusive_under_concurrency(store: &Store) {
        let ledger = ledger(store);
        for issue in 0..20 {
            queued(store, &ledger, 100 + issue, &format!("c{issue}")).await;
        }
        let mut workers = Vec::new();
        for w in 0..6 {
            let store = store.clone();
            workers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(job) = store.claim_next(&format!("w{w}"), Duration::from_secs(60)).await.expect("claim")
                {
                    assert_eq!(job.state, JobState::Running);
                    assert_eq!(job.attempts, 1);
                    mine.push(job.id);
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for w in workers {
            all.extend(w.await.expect("worker"));
        }
        let unique: BTreeSet<JobId> = all.iter().copied().collect();
        assert_eq!(all.len(), 20, "every job claimed exactly once");
        assert_eq!(unique.len(), 20);
    }

    pub async fn state_machine_is_enforced(store: &Store) {
        let ledger = ledger(store);
        let id = queued(store, &ledger, 4, "s1").await;
        assert!(store.transition(id, JobState::Queued, JobState::Succeeded, None).await.is_err());
        // A stale `from` does nothing.
        assert!(!store.transition(id, JobState::Running, JobState::Failed, None).await.expect("ok"));
        assert!(store.transition(id, JobState::Queued, JobState::Cancelled, Some("by alice")).await.expect("ok"));
        let job = store.get_job(id).await.expect("read").expect("job");
        assert_eq!(job.state, JobState::Cancelled);
        assert_eq!(job.error.as_deref(), Some("by alice"));
        assert!(job.finished_at.is_some());
        assert!(store.claim_next("w", Duration::from_secs(5)).await.expect("claim").is_none());
    }

    pub async fn leases_can_be_lost(store: &Store) {
        let ledger = ledger(store);
        queued(store, &ledger, 5, "l1").await;
        let job = store.claim_next("owner-a", Duration::from_secs(60)).await.expect("claim").expect("job");
        assert!(store.heartbeat(job.id, "owner-a", Duration::from_secs(60)).await.expect("beat"));
        assert!(!store.heartbeat(job.id, "owner-b", Duration::from_secs(60)).await.expect("beat"));
        assert!(store.transition(job.id, JobState::Running, JobState::Failed, Some("boom")).await.expect("fail"));
        assert!(!store.heartbeat(job.id, "owner-a", Duration::from_secs(60)).await.expect("beat"));
    }

    pub async fn events_are_ordered_and_replayable(store: &Store) {
        let ledger = ledger(store);
        let id = ledger.record(run(6, "e1")).await.expect("record").job_id.expect("job");
        let mut tasks = Vec::new();
        for i in 0..40 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.append_event(id, &JobEvent::Info { message: format!("m{i}") }).await.expect("append")
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
        let events = store.job_events(id, 0, 1000).await.expect("read");
        assert_eq!(events.len(), 40);
        assert!(events.windows(2).all(|w| w[0].id < w[1].id));
        let after = store.job_events(id, events[19].id, 1000).await.expect("read");
        assert_eq!(after.len(), 20);
        assert_eq!(after[0].id, events[20].id);
    }

    /// Control requests are claimed oldest first, one issue's in order (a
    /// later one waits while an earlier one is pending or leased), exactly once.
    pub async fn control_requests_are_claimed_in_order_per_issue(store: &Store) {
        let ledger = ledger(store);
        let a1 = ledger.record(run(7, "q1")).await.expect("record").job_id.expect("job");
        ledger.record(run(8, "q2")).await.expect("record");
        ledger.record(run(7, "q3")).await.expect("record"); // joins a1: no request for a label trigger
        let status = |issue: u64, delivery: &str| DeliveryRecord {
            id: delivery.into(),
            event: "issue_comment".into(),
            action: Some("created".into()),
            effect: Effect::Control(ControlRequest {
                action: ControlAction::Status,
                installation_id: InstallationId(1),
                repo: new_job(issue, delivery).repo,
                issue_number: IssueNumber(issue),
                issue_title: "t".into(),
                comment_id: Some(maxion::jobs::CommentId(5)),
                sender_login: "mallory".into(),
                sender_id: 9,
            }),
        };
        assert_eq!(ledger.record(status(7, "q4")).await.expect("record").outcome, DeliveryOutcome::Command);
        let lease = Duration::from_secs(60);
        let first = store.claim_control_request("i1", lease).await.expect("claim").expect("a request");
        assert_eq!((first.delivery_id.as_str(), first.attempts), ("q1", 1));
        assert_eq!(first.request.action, ControlAction::Admit { job: a1 });
        // Issue 7's next request waits for q1; issue 8's does not.
        let second = store.claim_control_request("i2", lease).await.expect("claim").expect("a request");
        assert_eq!(second.delivery_id, "q2");
        assert!(store.claim_control_request("i2", lease).await.expect("claim").is_none());
        store.finish_control_request(first.id, ControlOutcome::Refused).await.expect("finish");
        let third = store.claim_control_request("i2", lease).await.expect("claim").expect("a request");
        assert_eq!((third.delivery_id.as_str(), third.request.action.clone()), ("q4", ControlAction::Status));
        // After a crash, the instance frees what it held.
        assert!(store.claim_control_request("i2", lease).await.expect("claim").is_none());
        assert_eq!(store.release_control_requests("i2").await.expect("release"), 2);
        let second = store.claim_control_request("i2", lease).await.expect("claim").expect("released");
        assert_eq!((second.delivery_id.as_str(), second.attempts), ("q2", 2));
        let third = store.claim_control_request("i2", lease).await.expect("claim").expect("released");
        assert_eq!((third.delivery_id.as_str(), third.attempts), ("q4", 2));
        // A postponed request comes back later, with its attempts counted.
        store.postpone_control_request(third.id, Duration::ZERO).await.expect("postpone");
        let again = store.claim_control_request("i1", lease).await.expect("claim").expect("again");
        assert_eq!((again.id, again.attempts), (third.id, 3));
        store.finish_control_request(again.id, ControlOutcome::Replied).await.expect("finish");
        store.finish_control_request(second.id, ControlOutcome::Admitted).await.expect("finish");
        assert!(store.claim_control_request("i1", lease).await.expect("claim").is_none());
        assert_eq!(store.control_outcome("q4").await.expect("read"), Some((true, Some(ControlOutcome::Replied))));
        assert_eq!(
            store
                .recent_outcomes(RepoId(10), IssueNumber(7), "alice", ControlOutcome::Refused, 0)
                .await
                .expect("count"),
            1
        );
        assert_eq!(
            store
                .recent_outcomes(RepoId(10), IssueNumber(7), "mallory", ControlOutcome::Refused, 0)
                .await
                .expect("count"),
            0
        );
        let later = chrono::Utc::now().timestamp_millis() + 1000;
        assert_eq!(
            store
                .recent_outcomes(RepoId(10), IssueNumber(7), "alice", ControlOutcome::Refused, later)
                .await
                .expect("count"),
            0
        );
    }

    /// Cancelling a running job is a stored request the worker sees; status
    /// figures come from the store.
    pub async fn cancel_requests_and_queue_positions(store: &Store) {
        let ledger = ledger(store);
        let a = queued(store, &ledger, 11, "p1").await;
        let b = queued(store, &ledger, 12, "p2").await;
        assert_eq!(store.queue_position(b).await.expect("pos"), 2);
        let running = store.claim_next("w", Duration::from_secs(60)).await.expect("claim").expect("job");
        assert_eq!(running.id, a);
        assert_eq!(store.queue_position(b).await.expect("pos"), 1);
        assert!(!store.request_cancel(b, "bob").await.expect("queued jobs are not asked"));
        assert!(store.request_cancel(a, "bob").await.expect("request"));
        assert_eq!(store.cancel_requested_by(a).await.expect("read").as_deref(), Some("bob"));
        assert!(store.transition(a, JobState::Running, JobState::Succeeded, None).await.expect("end"));
        // A job whose instance died after someone asked to cancel it is not run again.
        let c = store.claim_next("dies", Duration::from_secs(60)).await.expect("claim").expect("job");
        assert_eq!(c.id, b);
        assert!(store.request_cancel(b, "carol").await.expect("request"));
        // The instance comes back and recovers what it held.
        let (requeued, ended) =
            store.recover_interrupted(Some("dies"), 2, maxion::report::text::cancelled_by).await.expect("recover");
        assert_eq!((requeued, ended), (vec![], vec![b]));
        let cancelled = store.get_job(b).await.expect("read").expect("job");
        assert_eq!((cancelled.state, cancelled.error.as_deref()), (JobState::Cancelled, Some("requested by @carol")));
        assert_eq!(store.recent_run_times().await.expect("times").len(), 1, "cancelled jobs do not count");
        assert_eq!(store.latest_job_for_issue(RepoId(10), IssueNumber(11)).await.expect("read").map(|j| j.id), Some(a));
        // A retry is created `received`, once per issue while one is active.
        let retry = NewJob { trigger: TriggerKind::Retry, ..new_job(11, "p3") };
        let r = store.create_received_job(&retry).await.expect("create").expect("created");
        assert_eq!(store.get_job(r).await.expect("read").expect("job").state, JobState::Received);
        assert_eq!(store.create_received_job(&retry).await.expect("create"), None);
    }

    /// An end recorded before it was shown is where recovery ends the job
    /// (not a requeue); only the attempt that runs may record one.
    pub async fn a_recorded_end_survives_its_instance(store: &Store) {
        use maxion::jobs::JobEnd;
        let ledger = ledger(store);
        let a = queued(store, &ledger, 41, "end-a").await;
        let job = store.claim_next("dies", Duration::from_secs(60)).await.expect("claim").expect("job");
        assert_eq!(job.id, a);
        let end = JobEnd::Succeeded { pull_request: Some("https://github.com/o/r/pull/3".into()) };
        let stale = store.record_pending_end(a, job.attempts + 1, JobState::Succeeded, None, &end).await;
        assert!(!stale.expect("record"), "another attempt's end is not recorded");
        assert_eq!(store.pending_end(a).await.expect("read"), None);
        assert!(store.record_pending_end(a, job.attempts, JobState::Succeeded, None, &end).await.expect("record"));
        assert_eq!(store.pending_end(a).await.expect("read"), Some(end));
        // The instance died before recording the end itself; its restart ends the job.
        let (requeued, ended) =
            store.recover_interrupted(Some("dies"), 2, maxion::report::text::cancelled_by).await.expect("recover");
        assert_eq!((requeued, ended), (vec![], vec![a]));
        let done = store.get_job(a).await.expect("read").expect("job");
        assert_eq!((done.state, done.attempts), (JobState::Succeeded, 1));

        let b = queued(store, &ledger, 42, "end-b").await;
        let job = store.claim_next("dies", Duration::from_secs(60)).await.expect("claim").expect("job");
        assert_eq!(job.id, b);
        let failed = JobEnd::failed("the tests still fail", Some("verify"));
        assert!(store.record_pending_end(b, 1, JobState::Failed, Some("tests fail"), &failed).await.expect("record"));
        store.recover_interrupted(Some("dies"), 2, maxion::report::text::cancelled_by).await.expect("recover");
        let done = store.get_job(b).await.expect("read").expect("job");
        assert_eq!((done.state, done.error.as_deref()), (JobState::Failed, Some("tests fail")));
    }

    pub async fn model_calls_are_summed_per_job_and_per_installation_day(store: &Store) {
        let ledger = ledger(store);
        let a = queued(store, &ledger, 21, "llm-a").await;
        let b = queued(store, &ledger, 22, "llm-b").await;
        let call = |input, output, cost| maxion::jobs::JobEvent::LlmCall {
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into(),
            status: 200,
            input_tokens: input,
            cached_tokens: 5,
            output_tokens: output,
            reasoning_tokens: 0,
            latency_ms: 40,
            usage_reported: true,
            cost_usd: cost,
        };
        store.record_llm_call(a, 1, &call(100, 10, Some(0.25))).await.expect("record");
        store.record_llm_call(a, 1, &call(200, 20, None)).await.expect("record");
        store.record_llm_call(b, 1, &call(1, 1, Some(0.5))).await.expect("record");
        store.record_llm_call(b, 2, &call(1, 1, Some(9.0))).await.expect("record");
        let sums = store.llm_sums(a).await.expect("sums");
        assert_eq!((sums.calls, sums.input_tokens, sums.cached_tokens, sums.output_tokens), (2, 300, 10, 30));
        assert!((sums.cost_usd - 0.25).abs() < 1e-9, "{sums:?}");
        let today = store.llm_cost_since(1, 0).await.expect("spend");
        assert!((today - 0.75).abs() < 1e-9, "{today}");
        let future = chrono::Utc::now().timestamp_millis() + 60_000;
        assert_eq!(store.llm_cost_since(1, future).await.expect("spend"), 0.0);
    }

    /// A reader that sees a job's new state also sees the event recording
    /// it: the job stream ends on the state and must not miss its last event.
    pub async fn a_state_change_and_its_event_are_seen_together(store: &Store) {
        let ledger = ledger(store);
        for issue in 0..30 {
            let id = queued(store, &ledger, 400 + issue, &format!("together-{issue}")).await;
            store.claim_next("w", Duration::from_secs(60)).await.expect("claim").expect("job");
            let reader = {
                let store = store.clone();
                tokio::spawn(async move {
                    loop {
                        let state = store.get_job(id).await.expect("read").expect("job").state;
                        let events = store.job_events(id, 0, 100).await.expect("events");
                        let recorded = events.iter().any(|e| {
                            matches!(e.event, maxion::jobs::JobEvent::StateChanged { to: JobState::Succeeded, .. })
                        });
                        if state == JobState::Succeeded {
                            return recorded;
                        }
                        tokio::task::yield_now().await;
                    }
                })
            };
            assert!(store.transition(id, JobState::Running, JobState::Succeeded, None).await.expect("end"));
            assert!(reader.await.expect("reader"), "job {id}: state read as ended before its event existed");
        }
    }

    pub async fn installations_are_upserted(store: &Store) {
        let ledger = ledger(store);
        let change = |action| InstallationChange {
            action,
            installation_id: InstallationId(9),
            account_login: "octo".into(),
            account_id: 3,
            repos: vec![RepoBrief { id: RepoId(1), full_name: "octo/a".into() }],
        };
        for (i, action) in [InstallationAction::Created, InstallationAction::Suspend, InstallationAction::Unsuspend]
            .into_iter()
            .enumerate()
        {
            let record = DeliveryRecord {
                id: format!("i{i}"),
                event: "installation".into(),
                action: None,
                effect: Effect::Installation(change(action)),
            };
            assert_eq!(ledger.record(record).await.expect("record").outcome, DeliveryOutcome::Recorded);
        }
        assert_eq!(store.installations().await.expect("read"), vec![(9, "octo".to_owned(), false, false)]);
    }
}

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite_store {
            $(#[tokio::test] async fn $case() { let db = super::sqlite().await; super::cases::$case(&db.store).await; })*
        }
        mod postgres_store {
            $(#[tokio::test] async fn $case() {
                let Some(db) = super::postgres().await else { return };
                super::cases::$case(&db.store).await;
            })*
        }
    };
}

on_both_backends!(
    ledger_creates_jobs_and_deduplicates,
    concurrent_redeliveries_create_one_job,
    one_active_job_per_issue,
    claims_are_exclusive_under_concurrency,
    state_machine_is_enforced,
    leases_can_be_lost,
    events_are_ordered_and_replayable,
    installations_are_upserted,
    control_requests_are_claimed_in_order_per_issue,
    cancel_requests_and_queue_positions,
    model_calls_are_summed_per_job_and_per_installation_day,
    a_state_change_and_its_event_are_seen_together,
    a_recorded_end_survives_its_instance,
);

#[tokio::test]
async fn sqlite_queued_jobs_survive_a_restart() {
    let dir = tempfile::tempdir().expect("dir");
    let url = SecretString::from(format!("sqlite://{}", dir.path().join("r.db").display()));
    {
        let store = Store::open(&url).await.expect("open");
        queued(&store, &ledger(&store), 1, "r1").await;
        store.pool_close().await;
    }
    let store = Store::open(&url).await.expect("reopen");
    let job = store.claim_next("after-restart", Duration::from_secs(5)).await.expect("claim").expect("job survived");
    assert_eq!(job.spec.issue_number, IssueNumber(1));
}
