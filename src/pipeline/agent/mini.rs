//! mini-swe-agent: `mini -y --exit-immediately` with `MSWEA_CONFIGURED=true`.
//! The command writes a config file from the environment (the task from the
//! prompt file, `api_base` = the gateway's OpenAI address, cost tracking
//! that tolerates models missing from its price list: the gateway's price
//! table is the one that counts) and calls OpenAI Chat Completions, not
//! streamed. `mini` prints for a terminal; its trajectory file is the
//! structured record, so the command sends mini's own output to a file and
//! prints the trajectory's messages, one JSON object a line, when it ends.
//! YAML is a superset of JSON, so Python's `json` writes the config.

use serde_json::Value;

use super::transcript::{AgentEvent, State};

/// The command a mini-swe-agent that ends its task runs; not a real command.
const SUBMIT: &str = "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT";

pub(super) fn command() -> String {
    super::guarded(
        "mini",
        r#"state="$HOME/.maxion-mini"
mkdir -p "$state"
python3 - "$state/config.yaml" <<'PY' || exit 2
import json, os, sys
model = os.environ.get("MAXION_AGENT_MODEL")
if not model:
    sys.exit("maxion-agent: mini-swe-agent needs a model: set MAXION_AGENT_MODEL (or agent.model)")
base = os.environ.get("OPENAI_BASE_URL")
if not base:
    sys.exit("maxion-agent: OPENAI_BASE_URL is not set: no OpenAI provider is configured")
config = {
    "run": {"task": open(os.environ["MAXION_PROMPT_FILE"]).read()},
    "agent": {"step_limit": 0, "cost_limit": 0},
    "environment": {"cwd": "/workspace"},
    "model": {
        "model_name": model if "/" in model else "openai/" + model,
        "cost_tracking": "ignore_errors",
        # Its own retries only (MSWEA_MODEL_RETRY_STOP_AFTER_ATTEMPT): the
        # OpenAI client's two more per attempt would triple them.
        "model_kwargs": {"api_base": base, "max_retries": 0},
    },
}
json.dump(config, open(sys.argv[1], "w"))
PY
mini -y --exit-immediately -c mini.yaml -c "$state/config.yaml" -o "$state/trajectory.json" </dev/null >"$state/mini.log" 2>&1
status=$?
python3 - "$state/trajectory.json" <<'PY'
import json, sys
try:
    t = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    sys.exit(0)
for m in t.get("messages", [])[2:]:
    extra = m.get("extra") or {}
    extra.pop("response", None)
    extra.pop("traceback", None)
    print(json.dumps({"role": m.get("role"), "content": m.get("content"), "extra": extra,
                      "tool_call_id": m.get("tool_call_id")}))
print(json.dumps({"role": "stats", "extra": (t.get("info") or {}).get("model_stats") or {}}))
PY
[ "$status" -eq 0 ] || tail -n 30 "$state/mini.log" >&2
exit "$status""#,
    )
}

/// One trajectory message as the command prints it; `None` when it is not one.
pub(super) fn parse(state: &mut State, line: &str) -> Option<Vec<AgentEvent>> {
    let v: Value = serde_json::from_str(line).ok()?;
    let role = v.get("role")?.as_str()?;
    let extra = v.get("extra").cloned().unwrap_or(Value::Null);
    let content = match v.get("content") {
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n")
            .trim()
            .to_owned(),
        _ => String::new(),
    };
    let mut events = Vec::new();
    match role {
        "assistant" => {
            if !content.is_empty() {
                events.push(AgentEvent::Message(content.clone()));
                state.summary = Some(content);
            }
            for action in extra.get("actions").and_then(Value::as_array).into_iter().flatten() {
                let command = action.get("command").and_then(Value::as_str).unwrap_or_default().to_owned();
                let id = action.get("tool_call_id").and_then(Value::as_str).unwrap_or_default().to_owned();
                state.pending.insert(id, ("bash".to_owned(), command));
            }
        }
        "tool" | "user" => {
            let id = v.get("tool_call_id").and_then(Value::as_str).unwrap_or_default();
            if let Some((_, command)) = state.pending.remove(id)
                && !command.contains(SUBMIT)
            {
                let exit_code = extra.get("returncode").and_then(Value::as_i64);
                events.push(AgentEvent::Command { command, exit_code, failed: exit_code != Some(0) });
            }
        }
        "exit" => {
            let status = extra.get("exit_status").and_then(Value::as_str).unwrap_or_default();
            if status == "Submitted" {
                state.finished = true;
            } else {
                let detail = extra.get("exception_str").and_then(Value::as_str).unwrap_or(&content).to_owned();
                let (code, unreachable) = litellm_status(status);
                if code.is_some() || unreachable {
                    state.api_error(code, detail.clone(), unreachable);
                }
                state.gave_up = Some(format!("{status}: {detail}"));
                events.push(AgentEvent::Error(format!("{status}: {detail}")));
            }
        }
        "stats" => {
            let cost = extra.get("instance_cost").and_then(Value::as_f64).filter(|c| *c > 0.0);
            let calls = extra.get("api_calls").and_then(Value::as_u64).unwrap_or(0);
            if calls > 0 {
                events.push(AgentEvent::Tool { name: "model".into(), detail: format!("{calls} calls") });
            }
            if let Some(c) = cost {
                events.push(AgentEvent::Usage { input_tokens: 0, output_tokens: 0, cost_usd: Some(c) });
            }
        }
        _ => return None,
    }
    Some(events)
}

/// The HTTP status behind a LiteLLM exception name, and whether it means
/// the upstream was not reached at all.
fn litellm_status(exception: &str) -> (Option<u16>, bool) {
    match exception {
        "AuthenticationError" => (Some(401), false),
        "PermissionDeniedError" => (Some(403), false),
        "NotFoundError" => (Some(404), false),
        "RateLimitError" => (Some(429), false),
        "InternalServerError" => (Some(500), false),
        "BadGatewayError" => (Some(502), false),
        "ServiceUnavailableError" => (Some(503), false),
        "APIConnectionError" | "Timeout" | "APITimeoutError" => (None, true),
        _ => (None, false),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AgentFailure, ProfileKind, Transcript};
    use super::*;

    // What the command prints from a real mini-swe-agent 2.4.6 trajectory.
    const RUN: &str = r#"{"role": "assistant", "content": "Looking around.", "extra": {"actions": [{"command": "ls -la && echo hi > new.txt", "tool_call_id": "call_1"}]}, "tool_call_id": null}
{"role": "tool", "content": "{\n  \"returncode\": 0,\n  \"output\": \"total 4\\n\"\n}", "extra": {"raw_output": "total 4\n", "returncode": 0, "exception_info": ""}, "tool_call_id": "call_1"}
{"role": "assistant", "content": "Done.", "extra": {"actions": [{"command": "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", "tool_call_id": "call_2"}]}, "tool_call_id": null}
{"role": "tool", "content": "{\"returncode\": -1, \"output\": \"\", \"exception_info\": \"action was not executed\"}", "extra": {"raw_output": "", "returncode": -1, "exception_info": "action was not executed"}, "tool_call_id": "call_2"}
{"role": "exit", "content": "", "extra": {"exit_status": "Submitted", "submission": ""}, "tool_call_id": null}
{"role": "stats", "extra": {"instance_cost": 0.00072, "api_calls": 2}}
"#;

    #[test]
    fn a_run_becomes_readable_events_and_a_summary() {
        let mut t = Transcript::new(ProfileKind::MiniSweAgent);
        assert_eq!(
            t.feed(RUN, false),
            vec![
                AgentEvent::Message("Looking around.".into()),
                AgentEvent::Command {
                    command: "ls -la && echo hi > new.txt".into(),
                    exit_code: Some(0),
                    failed: false
                },
                AgentEvent::Message("Done.".into()),
                AgentEvent::Tool { name: "model".into(), detail: "2 calls".into() },
                AgentEvent::Usage { input_tokens: 0, output_tokens: 0, cost_usd: Some(0.00072) },
            ]
        );
        assert_eq!(t.summary(), Some("Done."));
        assert_eq!(t.failure(Some(0)), None);
    }

    #[test]
    fn a_refused_key_is_named() {
        let mut t = Transcript::new(ProfileKind::MiniSweAgent);
        t.feed(r#"{"role": "exit", "content": "litellm.AuthenticationError: invalid x-api-key", "extra": {"exit_status": "AuthenticationError", "submission": "", "exception_str": "litellm.AuthenticationError: AuthenticationError: OpenAIException - invalid x-api-key"}, "tool_call_id": null}
"#, false);
        assert!(matches!(t.failure(Some(1)), Some(AgentFailure::ModelRefused { status: 401, .. })));
    }
}
