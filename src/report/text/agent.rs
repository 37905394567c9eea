//! Wording about the coding agent: its readable job events (commands with
//! their exit codes, files edited, messages), the "Agent summary" section of
//! the PR body, and each named failure. Takes plain values so the pipeline's
//! agent types stay below the report layer.

use std::fmt::Write as _;

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

pub fn agent_model_refused(profile: &str, status: u16, detail: &str) -> String {
    let check = match status {
        401 => "check the provider's API key (ANTHROPIC_API_KEY / OPENAI_API_KEY)",
        403 => "check the key's permissions and the job's budget",
        _ => "check the model name (MAXION_AGENT_MODEL or agent.model in .github/maxion.yml)",
    };
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
}
