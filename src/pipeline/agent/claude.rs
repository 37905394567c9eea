//! Claude Code: `claude -p --output-format stream-json --verbose`, prompt on
//! stdin. It honours `ANTHROPIC_BASE_URL` and `ANTHROPIC_API_KEY` (the
//! gateway and the job's capability token) and calls Anthropic Messages with
//! SSE. `--dangerously-skip-permissions` is refused as root; the sandbox user
//! is not root. Its `HOME` is the sandbox's writable tmpfs.

use serde_json::Value;

use super::transcript::{AgentEvent, State, short};

pub(super) fn command() -> String {
    super::guarded(
        "claude",
        "exec claude -p --output-format stream-json --verbose --dangerously-skip-permissions \
         ${MAXION_AGENT_MODEL:+--model \"$MAXION_AGENT_MODEL\"} < \"$MAXION_PROMPT_FILE\"",
    )
}

/// One line of `stream-json`; `None` when it is not one.
pub(super) fn parse(state: &mut State, line: &str) -> Option<Vec<AgentEvent>> {
    let v: Value = serde_json::from_str(line).ok()?;
    let kind = v.get("type")?.as_str()?;
    let mut events = Vec::new();
    match (kind, v.get("subtype").and_then(Value::as_str)) {
        ("system", Some("init")) => {
            let version = v.get("claude_code_version").and_then(Value::as_str).unwrap_or("?");
            let model = v.get("model").and_then(Value::as_str).unwrap_or("its default model");
            events.push(AgentEvent::Started { detail: format!("Claude Code {version}, model {model}") });
        }
        ("system", Some("api_retry")) => {
            let status = v.get("error_status").and_then(Value::as_u64).and_then(|s| u16::try_from(s).ok());
            let detail = v.get("error").and_then(Value::as_str).unwrap_or("error").to_owned();
            state.api_error(status, detail.clone(), status.is_none());
            events.push(AgentEvent::ApiRetry {
                status,
                attempt: num(&v, "attempt"),
                max: num(&v, "max_retries"),
                detail,
            });
        }
        ("system", _) => {}
        ("assistant", _) => {
            for block in content(&v) {
                match block.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        let text = block.get("text").and_then(Value::as_str).unwrap_or_default();
                        if !text.trim().is_empty() {
                            events.push(AgentEvent::Message(text.trim().to_owned()));
                        }
                    }
                    Some("tool_use") => events.extend(tool_use(state, block)),
                    _ => {}
                }
            }
        }
        ("user", _) => {
            for block in content(&v) {
                if block.get("type").and_then(Value::as_str) == Some("tool_result") {
                    events.extend(tool_result(state, block));
                }
            }
        }
        ("result", _) => {
            let text = v.get("result").and_then(Value::as_str).unwrap_or_default().trim().to_owned();
            if v.get("is_error").and_then(Value::as_bool) == Some(true) {
                if let Some(status) = v.get("api_error_status").and_then(Value::as_u64) {
                    state.api_error(u16::try_from(status).ok(), text.clone(), false);
                }
                state.gave_up = Some(text);
            } else {
                state.finished = true;
                state.trouble = None;
                state.summary = Some(text);
            }
            if let Some(u) = v.get("usage") {
                events.push(AgentEvent::Usage {
                    input_tokens: tokens(u, "input_tokens")
                        + tokens(u, "cache_read_input_tokens")
                        + tokens(u, "cache_creation_input_tokens"),
                    output_tokens: tokens(u, "output_tokens"),
                    cost_usd: v.get("total_cost_usd").and_then(Value::as_f64),
                });
            }
        }
        _ => return None,
    }
    Some(events)
}

fn content(v: &Value) -> impl Iterator<Item = &Value> {
    v.pointer("/message/content").and_then(Value::as_array).into_iter().flatten()
}

fn num(v: &Value, key: &str) -> u32 {
    v.get(key).and_then(Value::as_u64).and_then(|n| u32::try_from(n).ok()).unwrap_or(0)
}

fn tokens(u: &Value, key: &str) -> u64 {
    u.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn tool_use(state: &mut State, block: &Value) -> Option<AgentEvent> {
    let id = block.get("id")?.as_str()?.to_owned();
    let name = block.get("name")?.as_str()?.to_owned();
    let input = block.get("input").cloned().unwrap_or(Value::Null);
    let field = |k: &str| input.get(k).and_then(Value::as_str).map(str::to_owned);
    match name.as_str() {
        // Shown with their result, when it comes.
        "Bash" => {
            state.pending.insert(id, (name, field("command").unwrap_or_default()));
            None
        }
        "Edit" | "MultiEdit" | "Write" | "NotebookEdit" => {
            let path = field("file_path").or_else(|| field("notebook_path")).unwrap_or_default();
            state.pending.insert(id, (name, path));
            None
        }
        _ => {
            let detail = ["file_path", "pattern", "path", "url", "description", "prompt"]
                .iter()
                .find_map(|k| field(k))
                .map(|d| short(&d, 120))
                .unwrap_or_default();
            Some(AgentEvent::Tool { name, detail })
        }
    }
}

fn tool_result(state: &mut State, block: &Value) -> Option<AgentEvent> {
    let id = block.get("tool_use_id")?.as_str()?;
    let (tool, what) = state.pending.remove(id)?;
    let is_error = block.get("is_error").and_then(Value::as_bool) == Some(true);
    let text = match block.get("content") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str)).collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    };
    if tool == "Bash" {
        // A failed command's result starts "Exit code N".
        let exit_code = text
            .strip_prefix("Exit code ")
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .or((!is_error).then_some(0));
        return Some(AgentEvent::Command { command: what, exit_code, failed: is_error });
    }
    if is_error {
        return Some(AgentEvent::Error(format!("{tool} {what}: {}", short(&text, 200))));
    }
    Some(AgentEvent::FileEdited { path: relative(&what) })
}

/// Paths relative to the workspace, as a maintainer reads them in the diff.
fn relative(path: &str) -> String {
    path.strip_prefix("/workspace/").unwrap_or(path).to_owned()
}

#[cfg(test)]
mod tests {
    use super::super::{AgentFailure, ProfileKind, Transcript};
    use super::*;

    // Lines of a real run of Claude Code 2.1.332 against a scripted server
    // (shortened: fields the parser does not read are left out).
    const RUN: &str = r#"{"type":"system","subtype":"init","cwd":"/workspace","model":"claude-sonnet-4-5","claude_code_version":"2.1.332"}
{"type":"assistant","message":{"id":"msg_1","role":"assistant","content":[{"type":"text","text":"Let me look."}]}}
{"type":"assistant","message":{"id":"msg_1","role":"assistant","content":[{"type":"tool_use","id":"toolu_01","name":"Bash","input":{"command":"ls -la && echo hi > /workspace/new.txt","description":"list"}}]}}
{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_01","type":"tool_result","content":"total 8","is_error":false}]},"tool_use_result":{"stdout":"total 8","stderr":"","interrupted":false}}
{"type":"assistant","message":{"id":"msg_1","role":"assistant","content":[{"type":"tool_use","id":"toolu_02","name":"Edit","input":{"replace_all":false,"file_path":"/workspace/a.txt","old_string":"old","new_string":"new"}}]}}
{"type":"user","message":{"role":"user","content":[{"type":"tool_result","content":"<tool_use_error>File has not been read yet. Read it first before writing to it.</tool_use_error>","is_error":true,"tool_use_id":"toolu_02"}]}}
{"type":"assistant","message":{"id":"msg_1","role":"assistant","content":[{"type":"text","text":"All done: I listed the files."}]}}
{"duration_api_ms":380,"stop_reason":"end_turn","total_cost_usd":0.0018,"usage":{"input_tokens":300,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":60},"is_error":false,"num_turns":3,"subtype":"success","result":"All done: I listed the files.","type":"result"}
"#;

    #[test]
    fn a_run_becomes_readable_events_and_a_summary() {
        let mut t = Transcript::new(ProfileKind::ClaudeCode);
        let events = t.feed(RUN, false);
        assert_eq!(
            events,
            vec![
                AgentEvent::Started { detail: "Claude Code 2.1.332, model claude-sonnet-4-5".into() },
                AgentEvent::Message("Let me look.".into()),
                AgentEvent::Command {
                    command: "ls -la && echo hi > /workspace/new.txt".into(),
                    exit_code: Some(0),
                    failed: false
                },
                AgentEvent::Error(
                    "Edit /workspace/a.txt: <tool_use_error>File has not been read yet. Read it first before writing to it.</tool_use_error>".into()
                ),
                AgentEvent::Message("All done: I listed the files.".into()),
                AgentEvent::Usage { input_tokens: 300, output_tokens: 60, cost_usd: Some(0.0018) },
            ]
        );
        assert_eq!(t.summary(), Some("All done: I listed the files."));
        assert_eq!(t.failure(Some(0)), None);
    }

    #[test]
    fn a_failed_command_and_an_edit() {
        let mut t = Transcript::new(ProfileKind::ClaudeCode);
        let lines = r#"{"type":"assistant","message":{"content":[{"type":"tool_use","id":"a","name":"Bash","input":{"command":"cargo test"}},{"type":"tool_use","id":"b","name":"Write","input":{"file_path":"/workspace/src/lib.rs","content":"x"}}]}}
{"type":"user","message":{"content":[{"type":"tool_result","tool_use_id":"a","content":"Exit code 101\ntest failed","is_error":true},{"type":"tool_result","tool_use_id":"b","content":"ok"}]}}
"#;
        assert_eq!(
            t.feed(lines, false),
            vec![
                AgentEvent::Command { command: "cargo test".into(), exit_code: Some(101), failed: true },
                AgentEvent::FileEdited { path: "src/lib.rs".into() },
            ]
        );
    }

    #[test]
    fn a_refused_model_is_named() {
        // Claude Code 2.1.332 when the API answers 404 for the model.
        let mut t = Transcript::new(ProfileKind::ClaudeCode);
        t.feed(r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":404,"result":"There's an issue with the selected model (claude-sonnet-4-5). It may not exist or you may not have access to it. Run --model to pick a different model.","usage":{"input_tokens":0,"output_tokens":0}}
"#, false);
        assert!(matches!(t.failure(Some(1)), Some(AgentFailure::ModelRefused { status: 404, .. })));
    }

    #[test]
    fn retries_without_a_status_mean_unreachable() {
        let mut t = Transcript::new(ProfileKind::ClaudeCode);
        let events = t.feed(r#"{"type":"system","subtype":"api_retry","attempt":1,"max_retries":3,"retry_delay_ms":547,"error_status":null,"error":"unknown"}
"#, false);
        assert!(matches!(events[0], AgentEvent::ApiRetry { status: None, attempt: 1, max: 3, .. }));
        assert!(matches!(t.failure(Some(1)), Some(AgentFailure::Unreachable { .. })));
        let mut t = Transcript::new(ProfileKind::ClaudeCode);
        t.feed(r#"{"type":"system","subtype":"api_retry","attempt":1,"max_retries":3,"error_status":500,"error":"server_error"}
"#, false);
        assert!(matches!(t.failure(Some(1)), Some(AgentFailure::UpstreamError { status: Some(500), .. })));
    }
}
