//! Scripts for real agents: "run `cat src/lib.rs`; run `sed -i …`; finish
//! with this message". The fake answers each model call with the step the
//! conversation is at, read from the request itself (how many tool results
//! it carries back), in the tool-call shape the calling agent understands:
//! Claude Code's `Bash` tool_use blocks (Anthropic Messages), Codex's
//! `exec_command` function calls (OpenAI Responses), mini-swe-agent's `bash`
//! tool calls (Chat Completions), whose task ends with its submit command.
//! A script has sessions: the first whose marker appears in the request
//! plays (e.g. a fix round's prompt), else the default one.

use serde_json::{Value, json};

use super::{Content, Provider, Reply, ToolCall, Usage};

/// One step of a session.
#[derive(Debug, Clone)]
pub enum Step {
    /// The agent runs this shell command.
    Run(String),
    /// The agent ends its task with this final message.
    Finish(String),
}

#[derive(Debug, Clone, Default)]
pub struct Session {
    steps: Vec<Step>,
}

impl Session {
    pub fn new() -> Session {
        Session::default()
    }

    pub fn run(mut self, command: impl Into<String>) -> Session {
        self.steps.push(Step::Run(command.into()));
        self
    }

    pub fn finish(mut self, message: impl Into<String>) -> Session {
        self.steps.push(Step::Finish(message.into()));
        self
    }
}

/// Sessions, chosen by a marker in the request; see the module comment.
#[derive(Debug, Clone)]
pub struct Script {
    default: Session,
    marked: Vec<(String, Session)>,
    usage: Usage,
}

/// mini-swe-agent ends its task with this command, not with a text answer.
const MINI_SUBMIT: &str = "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT";

impl Script {
    pub fn new(default: Session) -> Script {
        Script { default, marked: Vec::new(), usage: Usage::new(1200, 80) }
    }

    /// `session` plays for requests containing `marker`.
    pub fn when(mut self, marker: impl Into<String>, session: Session) -> Script {
        self.marked.push((marker.into(), session));
        self
    }

    /// The usage every reply reports.
    pub fn usage(mut self, usage: Usage) -> Script {
        self.usage = usage;
        self
    }

    /// The reply to one request (`path` below the provider's base URL).
    pub fn reply(&self, provider: Provider, path: &str, body: &Value) -> Reply {
        let shape = Shape::of(provider, path);
        // Side calls without tools (titles, summaries) get a plain answer.
        if body.get("tools").and_then(Value::as_array).is_none_or(|t| t.is_empty()) {
            return Reply::text("ok").usage(self.usage);
        }
        let text = body.to_string();
        let session =
            self.marked.iter().find(|(m, _)| text.contains(&json_escaped(m))).map_or(&self.default, |(_, s)| s);
        let at = shape.results(body);
        let step = session.steps.get(at).or(session.steps.last());
        let reply = match step {
            Some(Step::Run(command)) => Reply::tool_calls(vec![shape.call(at, command)]),
            Some(Step::Finish(message)) if shape == Shape::Chat => {
                Reply::content(Content { text: message.clone(), tool_calls: vec![shape.call(at, MINI_SUBMIT)] })
            }
            Some(Step::Finish(message)) => Reply::text(message.clone()),
            None => Reply::text("nothing scripted"),
        };
        reply.usage(self.usage)
    }
}

fn json_escaped(s: &str) -> String {
    let quoted = Value::String(s.to_owned()).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Anthropic,
    Responses,
    Chat,
}

impl Shape {
    fn of(provider: Provider, path: &str) -> Shape {
        match provider {
            Provider::Anthropic => Shape::Anthropic,
            Provider::OpenAi if path.ends_with("/responses") => Shape::Responses,
            Provider::OpenAi => Shape::Chat,
        }
    }

    /// How many tool results the conversation carries: the step it is at.
    fn results(self, body: &Value) -> usize {
        let items = |key: &str| body.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
        match self {
            Shape::Anthropic => items("messages")
                .iter()
                .filter_map(|m| m.get("content").and_then(Value::as_array))
                .flatten()
                .filter(|c| c.get("type").and_then(Value::as_str) == Some("tool_result"))
                .count(),
            Shape::Responses => items("input")
                .iter()
                .filter(|i| i.get("type").and_then(Value::as_str) == Some("function_call_output"))
                .count(),
            Shape::Chat => {
                items("messages").iter().filter(|m| m.get("role").and_then(Value::as_str) == Some("tool")).count()
            }
        }
    }

    fn call(self, step: usize, command: &str) -> ToolCall {
        let id = format!("call_{step}");
        match self {
            Shape::Anthropic => ToolCall::new(format!("toolu_{step}"), "Bash", json!({"command": command})),
            Shape::Responses => ToolCall::new(id, "exec_command", json!({"cmd": command})),
            Shape::Chat => ToolCall::new(id, "bash", json!({"command": command})),
        }
    }
}
