//! The real coding agents when their model fails them: the job fails with a
//! reason that names the cause, on the job and on its status comment,
//! whatever the agent printed about it: an upstream that answers 500, one
//! that does not answer within `MAXION_LLM_TIMEOUT`, one that cannot be
//! reached, a refused model, an agent program missing from the image.

use maxion::jobs::{Job, JobEvent, JobState};

use crate::agents::{JOB_LIMIT, fixing_script, start, start_with};
use crate::support::fake_model::{FakeModel, Gate, Recorded, Reply};
use crate::support::service::TestService;

/// A labelled issue's job, run to its end: it failed and opened no pull
/// request. Returns the job and its status comment's text.
async fn failed_job(e: &TestService) -> (Job, String) {
    let issue = e.label_issue("add subtracts", "add(2, 2) returns 0").await;
    let job = e.wait_terminal(e.job_for(issue).await.id, JOB_LIMIT).await;
    assert_eq!(job.state, JobState::Failed, "{job:?}");
    assert!(e.gh.pulls(e.repo).is_empty(), "a failed job opens no pull request");
    let status = e.status_comment(issue, job.id).body;
    (job, status)
}

/// The statuses the gateway recorded for the job's model calls.
async fn recorded_statuses(e: &TestService, job: &Job) -> Vec<u16> {
    let log = e.store().job_events(job.id, 0, 10_000).await.unwrap_or_default();
    log.iter()
        .filter_map(|s| match &s.event {
            JobEvent::LlmCall { status, .. } => Some(*status),
            _ => None,
        })
        .collect()
}

/// The model calls among the requests (not the models list or token counts).
fn model_calls(model: &FakeModel) -> Vec<Recorded> {
    let is_call = |c: &Recorded| ["/v1/messages", "/responses", "/chat/completions"].contains(&c.path.as_str());
    model.requests().into_iter().filter(is_call).collect()
}

/// The upstream answers 500 to every call: the job fails saying so, with
/// the status (codex words a 500 as "high demand", without it).
async fn an_upstream_500_fails_the_job_saying_so(profile: &str) {
    let model = FakeModel::start().await;
    model.set_default(Reply::error(500, "api_error", "the fake upstream is down"));
    let Some(e) = start(profile, &model).await else { return };
    let (job, status) = failed_job(&e).await;
    let error = job.error.clone().unwrap_or_default();
    let cause = "the model API kept answering with a server error (HTTP 500)";
    assert!(error.contains(cause) && error.contains("the fake upstream is down"), "{error}");
    assert!(status.contains(cause), "{status}");
    let statuses = recorded_statuses(&e, &job).await;
    assert!(statuses.len() > 1 && statuses.iter().all(|s| *s == 500), "the agent retried: {statuses:?}");
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claude_code_job_fails_naming_an_upstream_500() {
    an_upstream_500_fails_the_job_saying_so("claude-code").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codex_job_fails_naming_an_upstream_500() {
    an_upstream_500_fails_the_job_saying_so("codex").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mini_swe_agent_job_fails_naming_an_upstream_500() {
    an_upstream_500_fails_the_job_saying_so("mini-swe-agent").await;
}

/// The upstream takes every call and never answers: the gateway gives up
/// after `MAXION_LLM_TIMEOUT` (1 s here) with 504, the agent retries and
/// stops, and the job fails naming the time-out and the setting.
async fn a_silent_upstream_fails_the_job_naming_the_timeout(profile: &str) {
    let model = FakeModel::start().await;
    let gate = Gate::new();
    model.set_default(Reply::text("too late").stall(&gate));
    let Some(e) = start_with(profile, &model, |r| r.egress.maxion_llm_timeout = Some("1".into())).await else {
        return;
    };
    let (job, status) = failed_job(&e).await;
    let error = job.error.clone().unwrap_or_default();
    let cause = "the model provider did not answer within 1 s (MAXION_LLM_TIMEOUT)";
    assert!(error.contains(cause), "{error}");
    assert!(status.contains(cause), "{status}");
    // Every call reached the fake, which held it; the gateway ended each one.
    let calls = model_calls(&model);
    assert!(!calls.is_empty() && calls.iter().all(|c| c.status == 0 && c.key_ok), "{calls:#?}");
    let statuses = recorded_statuses(&e, &job).await;
    assert_eq!(statuses.len(), calls.len(), "each held call is a recorded call");
    assert!(statuses.iter().all(|s| *s == 504), "{statuses:?}");
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claude_code_job_fails_naming_a_silent_upstream() {
    a_silent_upstream_fails_the_job_naming_the_timeout("claude-code").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codex_job_fails_naming_a_silent_upstream() {
    a_silent_upstream_fails_the_job_naming_the_timeout("codex").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mini_swe_agent_job_fails_naming_a_silent_upstream() {
    a_silent_upstream_fails_the_job_naming_the_timeout("mini-swe-agent").await;
}

/// The model name is refused (404): the job says which setting to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mini_swe_agent_job_fails_naming_a_refused_model() {
    let model = FakeModel::start().await;
    model.set_default(Reply::error(404, "not_found_error", "model not found"));
    let Some(e) = start("mini-swe-agent", &model).await else { return };
    let (job, _) = failed_job(&e).await;
    let error = job.error.clone().unwrap_or_default();
    assert!(error.contains("HTTP 404") && error.contains("MAXION_AGENT_MODEL"), "{error}");
    e.stop().await;
}

/// `pi` is not in the test image: the job fails before any model call,
/// naming the program and the image stage that has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_whose_agent_program_is_missing_names_the_image_stage() {
    let model = FakeModel::start().await;
    model.set_script(fixing_script());
    let Some(e) = start("pi", &model).await else { return };
    let (job, status) = failed_job(&e).await;
    let error = job.error.clone().unwrap_or_default();
    let cause = "the agent program `pi` (profile `pi`) is not in the sandbox image: build the image's `pi` stage";
    assert!(error.contains(cause), "{error}");
    assert!(status.contains(cause), "{status}");
    assert!(model.requests().is_empty(), "no model call without an agent");
    e.stop().await;
}

/// The model upstream is down (nothing listens at its address): the
/// gateway answers 502 "could not be reached", the agent retries, and the
/// job fails with that cause and the setting to check.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claude_code_job_fails_naming_an_unreachable_upstream() {
    let model = FakeModel::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr());
    let closed = closed.expect("a free port");
    let Some(e) = start_with("claude-code", &model, |r| {
        r.egress.maxion_anthropic_url = Some(format!("http://{closed}"));
    })
    .await
    else {
        return;
    };
    let (job, status) = failed_job(&e).await;
    let error = job.error.clone().unwrap_or_default();
    assert!(error.contains("(HTTP 502)") && error.contains("the model provider could not be reached"), "{error}");
    assert!(error.contains("MAXION_ANTHROPIC_URL"), "{error}");
    assert!(status.contains("the model provider could not be reached"), "{status}");
    e.stop().await;
}
