//! Crash recovery with a real process: `maxion serve` is SIGKILLed while its
//! job's sandbox runs. The next start removes the orphan container and retries
//! the job once from the start (same status comment, no PR); a second SIGKILL
//! makes the next start fail the job with reason "interrupted".

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::e2e::{AGENT_COMMAND, E2e};
use crate::support::service::API_TOKEN;
use maxion::jobs::{JobEvent, JobId, JobState};

const BIN: &str = env!("CARGO_BIN_EXE_maxion");

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `maxion serve` as a child process on the e2e database and data dir.
fn spawn_serve(e: &E2e, port: u16) -> Killed {
    let dir = e.dir.path();
    let child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GITHUB_APP_ID", e.gh.app_id().to_string())
        .env("GITHUB_APP_PRIVATE_KEY", e.gh.private_key_pem())
        .env("GITHUB_WEBHOOK_SECRET", crate::support::service::WEBHOOK_SECRET)
        .env("GITHUB_API_URL", e.gh.url())
        .env("DATABASE_URL", format!("sqlite://{}", dir.join("maxion.db").display()))
        .env("MAXION_LISTEN", format!("127.0.0.1:{port}"))
        .env("MAXION_API_TOKEN", API_TOKEN)
        .env("MAXION_DATA_DIR", dir.join("data"))
        .env("MAXION_WORKERS", "1")
        .env("MAXION_SANDBOX_IMAGE", &e.image)
        .env("MAXION_AGENT", "custom")
        .env("MAXION_AGENT_COMMAND", AGENT_COMMAND)
        .env("MAXION_VERIFY_COMMANDS", "test -f ok.txt")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn maxion serve");
    Killed(child)
}

async fn wait_healthy(port: u16) {
    for _ in 0..400 {
        if reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("maxion serve never answered /healthz");
}

async fn containers(instance: &str, job: JobId) -> usize {
    let docker = maxion::sandbox::connect().await.expect("docker");
    let filters = std::collections::HashMap::from([(
        "label",
        vec![format!("maxion.job={job}"), format!("maxion.instance={instance}")],
    )]);
    let opts = bollard::query_parameters::ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    docker.list_containers(Some(opts)).await.expect("list containers").len()
}

/// Waits until attempt `attempt` of the job runs its agent in a container.
async fn wait_agent_running(store: &maxion::jobs::Store, instance: &str, job: JobId, attempt: i64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let j = store.get_job(job).await.expect("read").expect("job");
        let events = store.job_events(job, 0, 10_000).await.expect("events");
        let agent_starts =
            events.iter().filter(|s| matches!(&s.event, JobEvent::StepStarted { step } if step == "agent")).count();
        if j.state == JobState::Running
            && j.attempts == attempt
            && agent_starts as i64 >= attempt
            && containers(instance, job).await == 1
        {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "attempt {attempt} never reached the agent: {j:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_job_is_cleaned_up_retried_once_then_failed_as_interrupted() {
    // The in-process service only records (workers 0); the child processes run the job.
    let Some(mut e) = E2e::start(|s| s.maxion_workers = Some("0".into())).await else { return };
    let store = e.store().clone();
    let instance = maxion::worker::instance_id(&e.dir.path().join("data")).expect("instance id");
    let issue = e.label_issue("Crash me", "sleep 600").await;
    let job = e.job_for(issue).await.id;
    // A second job waits behind it (one worker) through both crashes.
    let queued_issue = e.label_issue("Queued behind", "write ok.txt fine").await;
    let queued = e.job_for(queued_issue).await.id;
    // The recorder admits both (its control loop posts their status comments)
    // before the children start: they share its data dir, so its instance id,
    // and an instance takes up at start what that id left unfinished.
    e.wait_state(job, JobState::Queued, Duration::from_secs(30)).await;
    e.wait_state(queued, JobState::Queued, Duration::from_secs(30)).await;

    // First run: SIGKILL while the agent sleeps in its sandbox.
    let port = free_port();
    let mut first = spawn_serve(&e, port);
    wait_healthy(port).await;
    wait_agent_running(&store, &instance, job, 1).await;
    first.0.kill().expect("sigkill");
    first.0.wait().expect("reaped");
    assert_eq!(containers(&instance, job).await, 1, "SIGKILL leaves the sandbox behind");

    // Restart: the orphan is swept and the job is retried from the start, once.
    let port = free_port();
    let mut second = spawn_serve(&e, port);
    wait_healthy(port).await;
    wait_agent_running(&store, &instance, job, 2).await;
    second.0.kill().expect("sigkill");
    second.0.wait().expect("reaped");

    // Next start: the retry is spent, so the job fails as interrupted and its container goes.
    e.running.take().expect("running").stop().await.expect("stop the recorder");
    e.boot(|s| s.maxion_workers = Some("1".into())).await;
    let failed = e.wait_terminal(job, Duration::from_secs(60)).await;
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error.as_deref(), Some("interrupted"));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while containers(&instance, job).await > 0 {
        assert!(tokio::time::Instant::now() < deadline, "the orphan container was not removed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One status comment for the job across three processes, and no pull request for it.
    let marker = format!("maxion:job:{job}");
    let status: Vec<_> = e.gh.comments(e.repo, issue).into_iter().filter(|c| c.body.contains(&marker)).collect();
    assert_eq!(status.len(), 1, "exactly one status comment");
    assert!(!e.gh.pulls(e.repo).iter().any(|p| p.head.contains(&format!("issue-{issue}-"))), "no pull request");

    // The job that was queued the whole time still runs, once, to a pull request.
    let done = e.wait_terminal(queued, Duration::from_secs(120)).await;
    assert_eq!(done.state, JobState::Succeeded, "queued job error: {:?}", done.error);
    assert_eq!(done.attempts, 1, "the queued job was never started by the killed processes");
    let pulls: Vec<_> =
        e.gh.pulls(e.repo).into_iter().filter(|p| p.head.contains(&format!("issue-{queued_issue}-"))).collect();
    assert_eq!(pulls.len(), 1, "one pull request for the queued job");
    e.stop().await;
}
