//! The real coding agents end to end: Claude Code, Codex CLI and
//! mini-swe-agent (the programs pinned in the test image) run in a real
//! `filtered` sandbox, reach the scripted fake model only through Maxion's
//! LLM gateway with the job's capability token, run real commands on the
//! repository (read, edit `src/lib.rs`, run its tests) and end in a pull
//! request on the fake GitHub with the agent's summary, also after a fix
//! round. How their failures are named: `agents_failures.rs`; their
//! configuration and budgets: `agents_config.rs`.

use std::time::Duration;

use maxion::config::RawSettings;
use maxion::jobs::JobState;

use crate::support::fake_model::{ANTHROPIC_KEY, FakeModel, OPENAI_KEY, Provider, Script, Session};
use crate::support::service::TestService;

pub(crate) const JOB_LIMIT: Duration = Duration::from_secs(180);

/// The repository: a function with a bug and a test script that checks it.
const LIB: &str = "// Adds two numbers.\npub fn add(a: i32, b: i32) -> i32 {\n    a - b\n}\n";
const TEST_SH: &str = "#!/bin/sh\n# The repository's tests.\ngrep -q 'a + b' src/lib.rs || { echo 'FAIL: add subtracts'; exit 1; }\necho 'all 1 tests passed'\n";
pub(crate) const FIX: &str = "sed -i '3s/.*/    a + b/' src/lib.rs";
pub(crate) const SUMMARY: &str = "Fixed `add`: it subtracted its arguments; it now adds them, and `sh test.sh` passes.";

/// The model each profile is configured with.
pub(crate) fn model_for(profile: &str) -> &'static str {
    match profile {
        "claude-code" => "claude-sonnet-4-5",
        "codex" => "gpt-5-codex",
        _ => "gpt-4.1",
    }
}

pub(crate) async fn start(profile: &str, model: &FakeModel) -> Option<TestService> {
    start_with(profile, model, |_| {}).await
}

/// The service with `profile` as the operator's agent, both providers on
/// the fake `model`, the buggy repository; `tweak` adjusts the settings.
pub(crate) async fn start_with(
    profile: &str,
    model: &FakeModel,
    tweak: impl FnOnce(&mut RawSettings),
) -> Option<TestService> {
    let (profile, anthropic, openai) = (profile.to_owned(), model.anthropic_url(), model.openai_url());
    let e = TestService::with_docker(move |r| {
        r.maxion_agent = Some(profile.clone());
        r.maxion_agent_command = None;
        r.maxion_agent_model = Some(model_for(&profile).into());
        r.maxion_sandbox_network = Some("filtered".into());
        r.maxion_verify_commands = Some("sh test.sh".into());
        r.maxion_max_fix_rounds = Some("1".into());
        r.egress.anthropic_api_key = Some(ANTHROPIC_KEY.into());
        r.egress.maxion_anthropic_url = Some(anthropic);
        r.egress.openai_api_key = Some(OPENAI_KEY.into());
        r.egress.maxion_openai_url = Some(openai);
        tweak(r);
    })
    .await?;
    e.gh.put_files(e.repo, "main", &[("src/lib.rs", LIB.as_bytes()), ("test.sh", TEST_SH.as_bytes())]);
    Some(e)
}

pub(crate) fn fixing_script() -> Script {
    Script::new(Session::new().run("cat src/lib.rs").run(FIX).run("sh test.sh").finish(SUMMARY))
}

/// Labelled issue → the real agent reads, edits and tests in the sandbox →
/// verification passes → a ready PR with the fix and the agent's summary.
async fn issue_becomes_a_pull_request(profile: &str, provider: Provider) {
    let model = FakeModel::start().await;
    model.set_script(fixing_script());
    let Some(e) = start(profile, &model).await else { return };
    assert_pull_request_by_the_real_agent(&e, &model, provider).await;
    e.stop().await;
}

/// A labelled issue (a signed webhook) ends in a ready PR with the agent's
/// fix and summary; the model was called only through the gateway, for
/// `provider`'s API shape; the log reads as commands with exit codes.
pub(crate) async fn assert_pull_request_by_the_real_agent(e: &TestService, model: &FakeModel, provider: Provider) {
    let issue = e.label_issue("add subtracts", "add(2, 2) returns 0").await;
    let job = e.wait_terminal(e.job_for(issue).await.id, JOB_LIMIT).await;
    let log = e.store().job_events(job.id, 0, 10_000).await.unwrap_or_default();
    assert_eq!(job.state, JobState::Succeeded, "job error: {:?}\n{log:#?}", job.error);

    let pulls = e.gh.pulls(e.repo);
    assert_eq!(pulls.len(), 1);
    let pr = &pulls[0];
    assert!(!pr.draft, "verification passed");
    let lib = e.gh.file(e.repo, &pr.head, "src/lib.rs").unwrap_or_default();
    assert!(String::from_utf8_lossy(&lib).contains("    a + b\n"), "the agent's edit is on the branch");
    let body = pr.body.clone().unwrap_or_default();
    assert!(body.contains("### Agent summary"), "{body}");
    assert!(body.contains(SUMMARY), "{body}");
    assert!(body.contains("| `sh test.sh` | passed |"), "{body}");

    // The model was called through the gateway only, with the real key it
    // injected, for the agent's own API shape; the brief was the prompt.
    let calls = model.requests();
    assert!(calls.len() >= 4, "one call per step: {}", calls.len());
    assert!(calls.iter().all(|c| c.key_ok && c.provider == provider), "{calls:#?}");
    assert!(calls[0].body.to_string().contains("add subtracts"), "the brief is the prompt");

    // The job log reads as commands with exit codes, never raw JSON lines.
    let text: String = log
        .iter()
        .filter_map(|s| match &s.event {
            maxion::jobs::JobEvent::Output { step, text, .. } if step == "agent" => Some(text.clone()),
            _ => None,
        })
        .collect();
    assert!(text.contains("$ sh test.sh  → exit 0"), "{text}");
    assert!(text.contains(&format!("$ {FIX}  → exit 0")), "{text}");
    assert!(!text.lines().any(|l| l.trim_start().starts_with('{')), "raw JSON in the log: {text}");
    e.gh.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claude_code_turns_an_issue_into_a_pull_request() {
    issue_becomes_a_pull_request("claude-code", Provider::Anthropic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codex_turns_an_issue_into_a_pull_request() {
    issue_becomes_a_pull_request("codex", Provider::OpenAi).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mini_swe_agent_turns_an_issue_into_a_pull_request() {
    issue_becomes_a_pull_request("mini-swe-agent", Provider::OpenAi).await;
}

/// The first session leaves the bug; verification fails, and the fix prompt
/// with the failure output drives a second run of the real agent that
/// fixes it: a ready PR with the fix round's summary.
async fn fix_round_after_failed_verification(profile: &str) {
    let model = FakeModel::start().await;
    model.set_script(
        Script::new(Session::new().run("cat src/lib.rs").finish("Looked at it; nothing to change."))
            .when("# Fix the verification failures", Session::new().run(FIX).finish(SUMMARY)),
    );
    let Some(e) = start(profile, &model).await else { return };
    let issue = e.label_issue("add subtracts", "add(2, 2) returns 0").await;
    let job = e.wait_terminal(e.job_for(issue).await.id, JOB_LIMIT).await;
    assert_eq!(job.state, JobState::Succeeded, "job error: {:?}", job.error);
    let pulls = e.gh.pulls(e.repo);
    assert_eq!(pulls.len(), 1);
    let pr = &pulls[0];
    assert!(!pr.draft, "the fix round made verification pass");
    let lib = e.gh.file(e.repo, &pr.head, "src/lib.rs").unwrap_or_default();
    assert!(String::from_utf8_lossy(&lib).contains("    a + b\n"), "the fix round's edit is on the branch");
    assert!(pr.body.clone().unwrap_or_default().contains(SUMMARY), "{:?}", pr.body);
    let fix_call =
        model.requests().into_iter().find(|c| c.body.to_string().contains("# Fix the verification failures"));
    let fix_call = fix_call.expect("a fix round called the model");
    assert!(fix_call.body.to_string().contains("FAIL: add subtracts"), "the failure output is in the fix prompt");
    e.gh.assert_ok();
    e.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claude_code_fix_round_after_failed_verification() {
    fix_round_after_failed_verification("claude-code").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codex_fix_round_after_failed_verification() {
    fix_round_after_failed_verification("codex").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mini_swe_agent_fix_round_after_failed_verification() {
    fix_round_after_failed_verification("mini-swe-agent").await;
}
