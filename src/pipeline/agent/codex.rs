//! Codex CLI: `codex exec --json`. Current versions ignore
//! `OPENAI_BASE_URL`, so the command writes `$CODEX_HOME/config.toml` with a
//! model provider whose `base_url` is the gateway (`wire_api = "responses"`,
//! key from `OPENAI_API_KEY`). `--dangerously-bypass-approvals-and-sandbox`:
//! the container is the sandbox, Codex's own bubblewrap sandbox cannot work
//! inside one. The prompt comes on stdin, which ends with the file (Codex
//! waits for more input while stdin stays open). It calls OpenAI Responses
//! with SSE.

use serde_json::Value;

use super::transcript::{AgentEvent, State, short, status_in};

pub(super) fn command() -> String {
    // The model name was checked by `valid_model_name`, the base URL is
    // Maxion's own gateway address: neither can break out of the quotes.
    super::guarded(
        "codex",
        r#"export CODEX_HOME="$HOME/.codex"
mkdir -p "$CODEX_HOME"
{
  [ -n "${MAXION_AGENT_MODEL:-}" ] && printf 'model = "%s"\n' "$MAXION_AGENT_MODEL"
  printf 'model_provider = "maxion"\n\n[model_providers.maxion]\nname = "Maxion gateway"\n'
  printf 'base_url = "%s"\nwire_api = "responses"\nenv_key = "OPENAI_API_KEY"\n' "${OPENAI_BASE_URL:?OPENAI_BASE_URL is not set: no OpenAI provider is configured}"
  printf 'request_max_retries = %s\nstream_max_retries = %s\n' "${MAXION_MODEL_RETRIES:-3}" "${MAXION_MODEL_RETRIES:-3}"
} > "$CODEX_HOME/config.toml"
exec codex exec --json --ephemeral --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox - < "$MAXION_PROMPT_FILE""#,
    )
}

/// One line of `codex exec --json`; `None` when it is not one.
pub(super) fn parse(state: &mut State, line: &str) -> Option<Vec<AgentEvent>> {
    let v: Value = serde_json::from_str(line).ok()?;
    let kind = v.get("type")?.as_str()?;
    let mut events = Vec::new();
    match kind {
        "thread.started" | "turn.started" | "item.started" | "item.updated" => {}
        "item.completed" => {
            let item = v.get("item")?;
            let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            match item.get("type").and_then(Value::as_str).unwrap_or_default() {
                "command_execution" => events.push(AgentEvent::Command {
                    command: unwrap_shell(&text("command")),
                    exit_code: item.get("exit_code").and_then(Value::as_i64),
                    failed: item.get("status").and_then(Value::as_str) == Some("failed"),
                }),
                "agent_message" => {
                    let msg = text("text");
                    if !msg.trim().is_empty() {
                        state.summary = Some(msg.trim().to_owned());
                        events.push(AgentEvent::Message(msg.trim().to_owned()));
                    }
                }
                "file_change" => {
                    for change in item.get("changes").and_then(Value::as_array).into_iter().flatten() {
                        if let Some(path) = change.get("path").and_then(Value::as_str) {
                            let path = path.strip_prefix("/workspace/").unwrap_or(path).to_owned();
                            events.push(AgentEvent::FileEdited { path });
                        }
                    }
                }
                "error" => events.push(AgentEvent::Error(text("message"))),
                "mcp_tool_call" | "web_search" => events.push(AgentEvent::Tool {
                    name: text("type"),
                    detail: short(&format!("{} {}", text("tool"), text("query")), 120),
                }),
                // Reasoning, to-do lists: the agent's thinking, not its work.
                _ => {}
            }
        }
        "error" => {
            let message = v.get("message").and_then(Value::as_str).unwrap_or_default();
            events.push(retry(state, message));
        }
        "turn.failed" => {
            let message = v.pointer("/error/message").and_then(Value::as_str).unwrap_or_default().to_owned();
            let status = status_in(&message);
            let unreachable = status.is_none() && !server_error(&message);
            state.api_error(status, message.clone(), unreachable);
            state.gave_up = Some(message.clone());
            events.push(AgentEvent::Error(message));
        }
        "turn.completed" => {
            state.finished = true;
            state.trouble = None;
            if let Some(u) = v.get("usage") {
                let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
                events.push(AgentEvent::Usage {
                    input_tokens: n("input_tokens"),
                    output_tokens: n("output_tokens"),
                    cost_usd: None,
                });
            }
        }
        _ => return None,
    }
    Some(events)
}

/// "Reconnecting... 2/5 (unexpected status 500 …)" or "… waiting for network (Connection failed …)".
fn retry(state: &mut State, message: &str) -> AgentEvent {
    let status = status_in(message);
    let unreachable = status.is_none() && !server_error(message);
    state.api_error(status, message, unreachable);
    let counts = message.strip_prefix("Reconnecting... ").and_then(|r| r.split_whitespace().next()).and_then(|c| {
        let (a, m) = c.split_once('/')?;
        Some((a.parse().ok()?, m.parse().ok()?))
    });
    match counts {
        Some((attempt, max)) => AgentEvent::ApiRetry { status, attempt, max, detail: short(message, 200) },
        None if message.starts_with("Reconnecting") => {
            AgentEvent::ApiRetry { status, attempt: 0, max: 0, detail: short(message, 200) }
        }
        None => AgentEvent::Error(message.to_owned()),
    }
}

/// Codex words a 5xx answer without its status ("We're currently
/// experiencing high demand…", as codex-cli 0.163.0 does for a 500).
fn server_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("high demand") || m.contains("server error") || m.contains("overloaded")
}

/// Codex reports commands as `/bin/bash -lc '<command>'`; the maintainer
/// wants to read the command.
fn unwrap_shell(command: &str) -> String {
    for prefix in ["/bin/bash -lc ", "bash -lc ", "/bin/sh -c ", "sh -c "] {
        if let Some(rest) = command.strip_prefix(prefix) {
            if let Some(inner) = rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                return inner.replace("'\\''", "'");
            }
            if let Some(inner) = rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
                return inner.to_owned();
            }
        }
    }
    command.to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::{AgentFailure, ProfileKind, Transcript};
    use super::*;

    // A real run of codex-cli 0.163.0 against a scripted server.
    const RUN: &str = r#"{"type":"thread.started","thread_id":"01a22a6f-a067-7f00-bd90-48a172dd7c32"}
{"type":"turn.started"}
{"type":"item.started","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'ls -la && echo hi > new.txt'","aggregated_output":"","exit_code":null,"status":"in_progress"}}
{"type":"item.completed","item":{"id":"item_1","type":"command_execution","command":"/bin/bash -lc 'ls -la && echo hi > new.txt'","aggregated_output":"total 4\n","exit_code":0,"status":"completed"}}
{"type":"item.completed","item":{"id":"item_2","type":"agent_message","text":"All done: codex listed files."}}
{"type":"turn.completed","usage":{"input_tokens":200,"cached_input_tokens":0,"cache_write_input_tokens":0,"output_tokens":40,"reasoning_output_tokens":0}}
"#;

    #[test]
    fn a_run_becomes_readable_events_and_a_summary() {
        let mut t = Transcript::new(ProfileKind::Codex);
        assert_eq!(
            t.feed(RUN, false),
            vec![
                AgentEvent::Command {
                    command: "ls -la && echo hi > new.txt".into(),
                    exit_code: Some(0),
                    failed: false
                },
                AgentEvent::Message("All done: codex listed files.".into()),
                AgentEvent::Usage { input_tokens: 200, output_tokens: 40, cost_usd: None },
            ]
        );
        assert_eq!(t.summary(), Some("All done: codex listed files."));
        assert_eq!(t.failure(Some(0)), None);
    }

    #[test]
    fn a_refused_key_and_an_unreachable_upstream_are_named() {
        let mut t = Transcript::new(ProfileKind::Codex);
        let events = t.feed(r#"{"type":"error","message":"Reconnecting... 1/5 (unexpected status 401 Unauthorized: invalid x-api-key, url: http://172.17.0.1:18081/openai/v1/responses)"}
{"type":"turn.failed","error":{"message":"unexpected status 401 Unauthorized: invalid x-api-key, url: http://172.17.0.1:18081/openai/v1/responses"}}
"#, false);
        assert!(matches!(events[0], AgentEvent::ApiRetry { status: Some(401), attempt: 1, max: 5, .. }));
        assert!(matches!(t.failure(Some(1)), Some(AgentFailure::ModelRefused { status: 401, .. })));

        let mut t = Transcript::new(ProfileKind::Codex);
        t.feed(
            "{\"type\":\"error\",\"message\":\"Reconnecting... waiting for network (Connection failed: error sending request)\"}\n",
            false,
        );
        assert!(matches!(t.failure(None), Some(AgentFailure::Unreachable { .. })));

        // codex-cli 0.163.0 when the upstream answers 500.
        let mut t = Transcript::new(ProfileKind::Codex);
        t.feed(
            "{\"type\":\"turn.failed\",\"error\":{\"message\":\"We\u{2019}re currently experiencing high demand, which may cause temporary errors.\"}}\n",
            false,
        );
        assert!(matches!(t.failure(Some(1)), Some(AgentFailure::UpstreamError { status: None, .. })));
    }
}
