//! The real agents under the operator's and the repository's settings: a
//! repository's `agent:` picks another allowed profile and that program
//! runs; a job budget smaller than the script's usage stops each real agent
//! with `budget_exceeded` on GitHub; a job runs on the production sandbox
//! image (`docker/sandbox.Dockerfile`) that CI builds.

use maxion::jobs::JobState;

use crate::agents::{JOB_LIMIT, assert_pull_request_by_the_real_agent, fixing_script, start_with};
use crate::support::fake_model::{FakeModel, Provider, Usage};

/// The operator runs codex and allows claude-code; the repository's
/// `.github/maxion.yml` picks claude-code with its own model: the real
/// Claude Code writes the pull request, asking for that model.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repository_picks_another_allowed_agent_and_that_program_runs() {
    let model = FakeModel::start().await;
    model.set_script(fixing_script());
    let Some(e) = start_with("codex", &model, |r| r.maxion_allowed_agents = Some("codex,claude-code".into())).await
    else {
        return;
    };
    e.gh.put_file(e.repo, "main", ".github/maxion.yml", "agent: { profile: claude-code, model: claude-sonnet-4-5 }\n");
    assert_pull_request_by_the_real_agent(&e, &model, Provider::Anthropic).await;
    let models: Vec<String> = model.requests().iter().map(|c| c.body["model"].to_string()).collect();
    assert!(models.iter().all(|m| m == "\"claude-sonnet-4-5\""), "the repository's model: {models:?}");
    let pr = &e.gh.pulls(e.repo)[0];
    assert!(pr.body.clone().unwrap_or_default().contains("agent: `claude-code`"), "{:?}", pr.body);
    e.stop().await;
}

/// Every reply of the script reports this usage; the budget lets the first
/// call or two through (each reserves its worst case: its input plus its
/// `max_tokens`) and refuses one before the script's end.
const TOKENS_PER_REPLY: u64 = 45_000;
const TOKEN_BUDGET: &str = "100000";

/// A job budget smaller than the script's usage: the gateway refuses the
/// real agent's next call with 403 `budget_exceeded` and the job ends so,
/// on the status comment and the check run, naming the budget.
async fn budget_stops_the_real_agent(profile: &str) {
    let model = FakeModel::start().await;
    model.set_script(fixing_script().usage(Usage::new(TOKENS_PER_REPLY, 80)));
    let Some(e) = start_with(profile, &model, |r| r.egress.maxion_job_token_budget = Some(TOKEN_BUDGET.into())).await
    else {
        return;
    };
    let issue = e.label_issue("add subtracts", "add(2, 2) returns 0").await;
    let job = e.wait_terminal(e.job_for(issue).await.id, JOB_LIMIT).await;
    assert_eq!(job.state, JobState::Failed, "{job:?}");
    let error = job.error.clone().unwrap_or_default();
    let stopped = "of its 100,000 tokens (budget_exceeded)";
    assert!(error.contains(stopped) && error.contains("MAXION_JOB_TOKEN_BUDGET"), "{error}");
    let served = model.requests().len();
    assert!((1..4).contains(&served), "the model served {served} of the script's 4 replies");
    assert!(e.gh.pulls(e.repo).is_empty(), "a job its budget stopped opens no pull request");

    let status = e.status_comment(issue, job.id);
    assert!(status.body.contains(stopped), "{}", status.body);
    let runs = e.gh.check_runs(e.repo);
    let run = runs.last().expect("a check run");
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{runs:?}");
    let shown = format!("{:?} {:?} {:?}", run.title, run.summary, run.text);
    assert!(shown.contains(stopped), "{shown}");
    e.gh.assert_ok();
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claude_code_stops_at_its_budget() {
    budget_stops_the_real_agent("claude-code").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codex_stops_at_its_budget() {
    budget_stops_the_real_agent("codex").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mini_swe_agent_stops_at_its_budget() {
    budget_stops_the_real_agent("mini-swe-agent").await;
}

/// The production sandbox image CI builds from `docker/sandbox.Dockerfile`
/// (`MAXION_TEST_SANDBOX_IMAGE`, an agent stage): a real agent job on it
/// ends in a pull request, as on the test image.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_real_agent_job_runs_on_the_production_sandbox_image() {
    let Some((image, profile)) = crate::support::docker::production_sandbox_image().await else { return };
    let model = FakeModel::start().await;
    model.set_script(fixing_script());
    let provider = if profile == "claude-code" { Provider::Anthropic } else { Provider::OpenAi };
    let Some(e) = start_with(&profile, &model, |r| r.maxion_sandbox_image = Some(image)).await else { return };
    assert_pull_request_by_the_real_agent(&e, &model, provider).await;
    e.stop().await;
}
