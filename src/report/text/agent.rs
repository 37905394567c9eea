//! Wording about the coding agent: its readable job events (commands with
//! their exit codes, files edited, messages), the "Agent summary" section of
//! the PR body, and each named failure. Takes plain values so the pipeline's
//! agent types stay below the report layer.

use std::fmt::Write as _;
use std::time::Duration;

pub fn agent_started(detail: &str) -> String {
    format!("▶ agent: {detail}")
}

pub fn agent_message(text: &str) -> String {
    format!("💬 {}", text.trim())
}

pub fn agent_command(command: &str, exit_code: Option<i64>, failed: bool) -> String {
    let result = match (exit_code, failed) {
        (Some(c), _) => format!("exit {c}"),
        (None, true) => "failed".to_owned(),
        (None, false) => "no exit code".to_owned(),
    };
    let command = command.trim();
    if command.contains('\n') {
        format!("$ {}  → {result}", command.replace('\n', "\n  "))
    } else {
        format!("$ {command}  → {result}")
    }
}

pub fn agent_file_edited(path: &str) -> String {
    format!("✎ edited {path}")
}

pub fn agent_tool(name: &str, detail: &str) -> String {
    if detail.is_empty() { format!("· {name}") } else { format!("· {name}: {detail}") }
}

pub fn agent_api_retry(status: Option<u16>, attempt: u32, max: u32, detail: &str) -> String {
    let status = status.map_or("no answer".to_owned(), |s| format!("HTTP {s}"));
    let attempt = if max > 0 { format!(", retry {attempt} of {max}") } else { ", retrying".to_owned() };
    format!("⚠ model call failed ({status}{attempt}): {detail}")
}

pub fn agent_error(text: &str) -> String {
    format!("⚠ {}", text.trim())
}

pub fn agent_usage(input_tokens: u64, output_tokens: u64, cost_usd: Option<f64>) -> String {
    let mut s = String::from("agent's own usage report:");
    if input_tokens + output_tokens > 0 {
        let _ = write!(s, " {input_tokens} tokens in, {output_tokens} out");
    }
    if let Some(c) = cost_usd {
        let _ = write!(s, " ${c:.4} by its own prices");
    }
    s.push_str(" (the gateway's count is the one budgets use)");
    s
}

/// The PR body section with the agent's final message.
pub fn agent_summary_section(profile: &str, summary: &str) -> String {
    format!("### Agent summary\n\n_{profile} said:_\n\n{}\n", summary.trim())
}

pub fn agent_program_missing(profile: &str, program: &str, stage: &str) -> String {
    format!(
        "the agent program `{program}` (profile `{profile}`) is not in the sandbox image: \
         build the image's `{stage}` stage of docker/sandbox.Dockerfile, or set MAXION_SANDBOX_IMAGE to an image that has it"
    )
}

/// What to check when the provider answers `status` (401, 403, 404).
fn refused_check(status: u16) -> &'static str {
    match status {
        401 => "check the provider's API key (ANTHROPIC_API_KEY / OPENAI_API_KEY)",
        403 => "check the key's permissions and the job's budget",
        _ => "check the model name (MAXION_AGENT_MODEL or agent.model in .github/maxion.yml)",
    }
}

pub fn agent_model_refused(profile: &str, status: u16, detail: &str) -> String {
    let check = refused_check(status);
    format!("the model API refused the agent's request (HTTP {status}); {check}. The agent ({profile}) said: {detail}")
}

pub fn agent_upstream_error(profile: &str, status: Option<u16>, detail: &str) -> String {
    let status = status.map_or("a server error".to_owned(), |s| format!("a server error (HTTP {s})"));
    format!(
        "the model API kept answering with {status} until the agent ({profile}) gave up; the provider may be down, retry later. It said: {detail}"
    )
}

pub fn agent_unreachable(profile: &str, detail: &str) -> String {
    format!(
        "the agent ({profile}) could not reach its model API (no answer, or it timed out); check the upstream URL setting and the network. It said: {detail}"
    )
}

/// `2 s`, `1.5 s`.
fn seconds(d: Duration) -> String {
    if d.subsec_millis() == 0 { format!("{} s", d.as_secs()) } else { format!("{:.1} s", d.as_secs_f64()) }
}

/// Which of the agent's calls: "its last call", "its last 4 calls".
fn last_calls(calls: u32) -> String {
    if calls <= 1 { "its last call".to_owned() } else { format!("its last {calls} calls") }
}

/// The gateway's wait for the provider ran out on the agent's latest calls.
pub fn upstream_no_answer(profile: &str, timeout: Duration, calls: u32) -> String {
    format!(
        "the model provider did not answer within {} (MAXION_LLM_TIMEOUT): the gateway gave up on {} and the agent ({profile}) stopped. \
         The provider may be overloaded: retry later, or raise MAXION_LLM_TIMEOUT if its answers take longer",
        seconds(timeout),
        last_calls(calls)
    )
}

/// The provider went quiet in the middle of its answers.
pub fn upstream_stalled(profile: &str, timeout: Duration, calls: u32) -> String {
    format!(
        "the model provider stopped sending its answer for {} mid-stream (MAXION_LLM_TIMEOUT): the gateway ended {} and the agent ({profile}) stopped. \
         The provider may be overloaded: retry later, or raise MAXION_LLM_TIMEOUT if its answers pause longer",
        seconds(timeout),
        last_calls(calls)
    )
}

/// Maxion could not reach the provider at `url_setting`'s address.
pub fn upstream_unreachable(profile: &str, url_setting: &str, error: &str, calls: u32) -> String {
    format!(
        "the model provider could not be reached (HTTP 502): {error}; the agent ({profile}) stopped after {} failed. \
         Check {url_setting} and that Maxion's host reaches it",
        last_calls(calls)
    )
}

/// The provider answered the agent's latest calls with `status`; `message` is its own.
pub fn upstream_status(profile: &str, status: u16, message: Option<&str>, calls: u32) -> String {
    let said = message.map(|m| format!(" The provider said: {m}")).unwrap_or_default();
    let last = last_calls(calls);
    match status {
        401 | 403 | 404 => format!(
            "the model API refused the agent's request (HTTP {status}) on {last}; {}.{said}",
            refused_check(status)
        ),
        429 => format!(
            "the model API kept answering with its rate limit (HTTP 429) on {last} until the agent ({profile}) gave up; \
             retry later, or check the key's limits with the provider.{said}"
        ),
        500.. => format!(
            "the model API kept answering with a server error (HTTP {status}) on {last} until the agent ({profile}) gave up; \
             the provider may be down, retry later.{said}"
        ),
        _ => format!(
            "the model API rejected the agent's request (HTTP {status}) on {last}, and the agent ({profile}) stopped.{said}"
        ),
    }
}

/// The provider broke off its streamed answers.
pub fn upstream_cut(profile: &str, calls: u32) -> String {
    format!(
        "the model provider broke off its answer mid-stream on {} until the agent ({profile}) gave up; \
         the provider or the network to it may be failing, retry later",
        last_calls(calls)
    )
}

pub fn agent_gave_up(profile: &str, reason: &str) -> String {
    format!("the agent ({profile}) stopped without finishing: {reason}")
}

pub fn agent_exited(profile: &str, code: Option<i64>) -> String {
    match code {
        Some(c) => format!("the agent ({profile}) failed (exit code {c}); its last lines are below"),
        None => format!("the agent ({profile}) ended without an exit code; its last lines are below"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_one_line_each() {
        insta::assert_snapshot!(agent_command("cargo test", Some(101), true), @"$ cargo test  → exit 101");
        insta::assert_snapshot!(agent_file_edited("src/lib.rs"), @"✎ edited src/lib.rs");
        insta::assert_snapshot!(agent_api_retry(Some(500), 2, 3, "server_error"), @"⚠ model call failed (HTTP 500, retry 2 of 3): server_error");
        insta::assert_snapshot!(agent_usage(300, 60, Some(0.0018)), @"agent's own usage report: 300 tokens in, 60 out $0.0018 by its own prices (the gateway's count is the one budgets use)");
    }

    #[test]
    fn failures_say_what_to_check() {
        insta::assert_snapshot!(agent_program_missing("codex", "codex", "codex"), @"the agent program `codex` (profile `codex`) is not in the sandbox image: build the image's `codex` stage of docker/sandbox.Dockerfile, or set MAXION_SANDBOX_IMAGE to an image that has it");
        insta::assert_snapshot!(agent_model_refused("claude-code", 404, "no such model"), @"the model API refused the agent's request (HTTP 404); check the model name (MAXION_AGENT_MODEL or agent.model in .github/maxion.yml). The agent (claude-code) said: no such model");
        insta::assert_snapshot!(agent_summary_section("codex", "Fixed the off-by-one.\n"), @r"
        ### Agent summary

        _codex said:_

        Fixed the off-by-one.
        ");
    }

    #[test]
    fn what_the_gateway_saw_names_the_cause_and_the_setting() {
        let two = Duration::from_secs(2);
        insta::assert_snapshot!(upstream_no_answer("codex", two, 4), @"the model provider did not answer within 2 s (MAXION_LLM_TIMEOUT): the gateway gave up on its last 4 calls and the agent (codex) stopped. The provider may be overloaded: retry later, or raise MAXION_LLM_TIMEOUT if its answers take longer");
        insta::assert_snapshot!(upstream_stalled("claude-code", Duration::from_millis(1500), 1), @"the model provider stopped sending its answer for 1.5 s mid-stream (MAXION_LLM_TIMEOUT): the gateway ended its last call and the agent (claude-code) stopped. The provider may be overloaded: retry later, or raise MAXION_LLM_TIMEOUT if its answers pause longer");
        insta::assert_snapshot!(upstream_unreachable("claude-code", "MAXION_ANTHROPIC_URL", "Connection refused (os error 111)", 4), @"the model provider could not be reached (HTTP 502): Connection refused (os error 111); the agent (claude-code) stopped after its last 4 calls failed. Check MAXION_ANTHROPIC_URL and that Maxion's host reaches it");
        insta::assert_snapshot!(upstream_status("mini-swe-agent", 500, Some("the fake upstream is down"), 4), @"the model API kept answering with a server error (HTTP 500) on its last 4 calls until the agent (mini-swe-agent) gave up; the provider may be down, retry later. The provider said: the fake upstream is down");
        insta::assert_snapshot!(upstream_status("codex", 429, None, 2), @"the model API kept answering with its rate limit (HTTP 429) on its last 2 calls until the agent (codex) gave up; retry later, or check the key's limits with the provider.");
        insta::assert_snapshot!(upstream_status("codex", 401, Some("invalid x-api-key"), 1), @"the model API refused the agent's request (HTTP 401) on its last call; check the provider's API key (ANTHROPIC_API_KEY / OPENAI_API_KEY). The provider said: invalid x-api-key");
        insta::assert_snapshot!(upstream_status("codex", 400, Some("prompt is too long"), 1), @"the model API rejected the agent's request (HTTP 400) on its last call, and the agent (codex) stopped. The provider said: prompt is too long");
        insta::assert_snapshot!(upstream_cut("codex", 3), @"the model provider broke off its answer mid-stream on its last 3 calls until the agent (codex) gave up; the provider or the network to it may be failing, retry later");
    }
}
