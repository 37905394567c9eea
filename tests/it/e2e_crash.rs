//! Crash recovery with a real process: `maxion serve` is SIGKILLed while its
//! job's sandbox runs. The next start removes the orphan container and retries
//! the job once from the start (same status comment, no PR); a second SIGKILL
//! makes the next start fail the job with reason "interrupted" and show
//! that on its status comment and check run. A SIGKILL while a job's end is
//! being shown leaves that end to the next start, which does not run the job
//! again.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use maxion::jobs::{JobId, JobState};

use crate::support::docker::job_containers;
use crate::support::fake_github::Failure;
use crate::support::service::TestService;
use crate::support::wait::until;

const BIN: &str = env!("CARGO_BIN_EXE_maxion");

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `maxion serve` as a child process with the harness's settings (on
/// its database and data dir), listening on `port`.
fn spawn_serve(e: &TestService, port: u16) -> Killed {
    let raw = e.settings();
    let vars = [
        ("GITHUB_APP_ID", raw.github_app_id),
        ("GITHUB_APP_PRIVATE_KEY", raw.github_app_private_key),
        ("GITHUB_WEBHOOK_SECRET", raw.github_webhook_secret),
        ("GITHUB_API_URL", raw.github_api_url),
        ("DATABASE_URL", raw.database_url),
        ("MAXION_LISTEN", Some(format!("127.0.0.1:{port}"))),
        ("MAXION_PUBLIC_URL", raw.maxion_public_url),
        ("MAXION_API_TOKEN", raw.maxion_api_token),
        ("MAXION_DATA_DIR", raw.maxion_data_dir),
        ("MAXION_WORKERS", raw.maxion_workers),
        ("MAXION_SANDBOX_IMAGE", raw.maxion_sandbox_image),
        ("MAXION_AGENT", raw.maxion_agent),
        ("MAXION_AGENT_COMMAND", raw.maxion_agent_command),
        ("MAXION_VERIFY_COMMANDS", raw.maxion_verify_commands),
    ];
    let child = Command::new(BIN)
        .arg("serve")
        .current_dir(e.dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(vars.into_iter().filter_map(|(name, value)| Some((name, value?))))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn maxion serve");
    Killed(child)
}

async fn wait_healthy(port: u16) {
    until(Duration::from_secs(20), async || {
        let answer = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
        answer.map(|_| ()).map_err(|e| format!("maxion serve never answered /healthz: {e}"))
    })
    .await
}

/// Waits until attempt `attempt` of the job runs its agent in a container.
async fn wait_agent_running(e: &TestService, docker: &bollard::Docker, instance: &str, job: JobId, attempt: i64) {
    until(Duration::from_secs(90), async || {
        let j = e.job(job).await;
        let agent_starts = e.steps_started(job).await.iter().filter(|s| *s == "agent").count();
        if j.state == JobState::Running
            && j.attempts == attempt
            && agent_starts as i64 >= attempt
            && job_containers(docker, instance, job).await == 1
        {
            Ok(())
        } else {
            Err(format!("attempt {attempt} never reached the agent: {j:?}"))
        }
    })
    .await
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Starts `maxion serve`, waits until attempt `attempt` of the job runs its
/// agent, and SIGKILLs the process.
async fn kill_while_the_agent_runs(
    e: &TestService,
    docker: &bollard::Docker,
    instance: &str,
    job: JobId,
    attempt: i64,
) {
    let port = free_port();
    let mut serve = spawn_serve(e, port);
    wait_healthy(port).await;
    wait_agent_running(e, docker, instance, job, attempt).await;
    serve.0.kill().expect("sigkill");
    serve.0.wait().expect("reaped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_mid_job_is_cleaned_up_retried_once_then_failed_as_interrupted() {
    // The in-process service only records (workers 0); the child processes run the job.
    let Some(mut e) = TestService::with_docker(|s| s.maxion_workers = Some("0".into())).await else { return };
    let docker = maxion::sandbox::connect().await.expect("docker");
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
    kill_while_the_agent_runs(&e, &docker, &instance, job, 1).await;
    assert_eq!(job_containers(&docker, &instance, job).await, 1, "SIGKILL leaves the sandbox behind");

    // Restart: the orphan is swept and the job is retried from the start, once.
    kill_while_the_agent_runs(&e, &docker, &instance, job, 2).await;

    // Next start: the retry is spent, so the job fails as interrupted and its container goes.
    e.running.take().expect("running").stop().await.expect("stop the recorder");
    e.boot(|s| s.maxion_workers = Some("1".into())).await;
    let failed = e.wait_terminal(job, Duration::from_secs(60)).await;
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error.as_deref(), Some("interrupted"));
    until(Duration::from_secs(30), async || match job_containers(&docker, &instance, job).await {
        0 => Ok(()),
        _ => Err("the orphan container was not removed".to_owned()),
    })
    .await;
    // One status comment for the job across three processes, and it says the
    // job failed, as does its check run: nothing runs the job again to say so.
    wait_shown_ended(&e, issue, job, "❌", "failure").await;
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

/// SIGKILL while the job's end is being shown on GitHub (the check run's
/// creation, which a job this quick makes only with its end, hangs): the
/// next start records the end the run reached and shows it; it does not run
/// the job again (no second agent run, pull request or check run per commit,
/// and no "interrupted").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_while_the_end_is_shown_finishes_the_job_without_running_it_again() {
    let Some(mut e) = TestService::with_docker(|s| s.maxion_workers = Some("0".into())).await else { return };
    let issue = e.label_issue("Fix it", "write ok.txt fine").await;
    let job = e.job_for(issue).await.id;
    e.wait_state(job, JobState::Queued, Duration::from_secs(30)).await;
    // Creating the check runs comes last when an end is shown: it hangs.
    let hang = Failure::Delay(Duration::from_secs(3600));
    let creation = "/repos/{owner}/{repo}/check-runs";
    e.gh.fail("POST", creation, hang, 1);

    let port = free_port();
    let mut serve = spawn_serve(&e, port);
    wait_healthy(port).await;
    // Killed once the end is recorded and its showing hangs on GitHub.
    until(Duration::from_secs(120), async || match e.store().pending_end(job).await {
        Ok(Some(_)) if !e.gh.requests_to("POST", creation).is_empty() => Ok(()),
        other => Err(format!("the job's end was never shown: {other:?}, {:?}", e.job(job).await)),
    })
    .await;
    serve.0.kill().expect("sigkill");
    serve.0.wait().expect("reaped");
    assert_eq!(e.job(job).await.state, JobState::Running, "killed before the worker recorded the end");

    e.running.take().expect("running").stop().await.expect("stop the recorder");
    e.boot(|s| s.maxion_workers = Some("1".into())).await;
    let done = e.wait_terminal(job, Duration::from_secs(60)).await;
    assert_eq!(done.state, JobState::Succeeded, "error: {:?}", done.error);
    assert_eq!(done.attempts, 1, "the job was not started again");
    assert_eq!(e.steps_started(job).await.iter().filter(|s| *s == "agent").count(), 1, "one agent run");
    let pulls: Vec<_> =
        e.gh.pulls(e.repo).into_iter().filter(|p| p.head.contains(&format!("issue-{issue}-"))).collect();
    assert_eq!(pulls.len(), 1, "one pull request");
    wait_shown_ended(&e, issue, job, "✅", "success").await;
    let runs = job_runs(&e, job);
    let mut shas: Vec<&str> = runs.iter().map(|r| r.head_sha.as_str()).collect();
    shas.sort_unstable();
    let before = shas.len();
    shas.dedup();
    assert!(!runs.is_empty() && shas.len() == before, "one check run per commit, none of a second start: {runs:#?}");
    e.stop().await;
}

fn job_runs(e: &TestService, job: JobId) -> Vec<crate::support::fake_github::CheckRun> {
    let id = job.to_string();
    e.gh.check_runs(e.repo).into_iter().filter(|r| r.external_id.as_deref() == Some(id.as_str())).collect()
}

/// Waits until the job's one status comment heads with `headline` and every
/// check run of the job exists and is completed with `conclusion`.
async fn wait_shown_ended(e: &TestService, issue: u64, job: JobId, headline: &str, conclusion: &str) {
    until(Duration::from_secs(30), async || {
        let comment = e.status_comment(issue, job);
        let runs = job_runs(e, job);
        let ended = |r: &crate::support::fake_github::CheckRun| {
            r.status == "completed" && r.conclusion.as_deref() == Some(conclusion)
        };
        if comment.body.lines().nth(1).is_some_and(|l| l.starts_with(headline))
            && !runs.is_empty()
            && runs.iter().all(ended)
        {
            Ok(())
        } else {
            Err(format!("the job is not shown as ended ({headline} {conclusion}):\n{}\n{runs:#?}", comment.body))
        }
    })
    .await
}
