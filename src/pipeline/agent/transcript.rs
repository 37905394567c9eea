//! Reading an agent's output while it runs: each profile's structured lines
//! become [`AgentEvent`]s (never raw JSON in the job log), the final message
//! is kept for the PR body, and a failed run is named for what it is.

use std::collections::{HashMap, VecDeque};

use super::{AgentFailure, MISSING_MARKER, ProfileKind};

/// One readable thing the agent did or said.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// The agent started (program, version, model, as far as it says).
    Started {
        detail: String,
    },
    /// A message of the agent to the user.
    Message(String),
    /// A shell command the agent ran; `exit_code` when the agent reports it,
    /// `failed` when it reports only that it failed.
    Command {
        command: String,
        exit_code: Option<i64>,
        failed: bool,
    },
    FileEdited {
        path: String,
    },
    /// Another tool (read a file, search, …) with a short description.
    Tool {
        name: String,
        detail: String,
    },
    /// A model call failed and the agent retries it.
    ApiRetry {
        status: Option<u16>,
        attempt: u32,
        max: u32,
        detail: String,
    },
    Error(String),
    /// The agent's own usage report (the gateway's figure is the one budgets use).
    Usage {
        input_tokens: u64,
        output_tokens: u64,
        cost_usd: Option<f64>,
    },
    /// A line that is not structured output, passed through as is.
    Text(String),
}

impl AgentEvent {
    /// The event as a line of the job log.
    pub fn render(&self) -> String {
        use crate::report::text as t;
        match self {
            AgentEvent::Started { detail } => t::agent_started(detail),
            AgentEvent::Message(m) => t::agent_message(m),
            AgentEvent::Command { command, exit_code, failed } => t::agent_command(command, *exit_code, *failed),
            AgentEvent::FileEdited { path } => t::agent_file_edited(path),
            AgentEvent::Tool { name, detail } => t::agent_tool(name, detail),
            AgentEvent::ApiRetry { status, attempt, max, detail } => {
                t::agent_api_retry(*status, *attempt, *max, detail)
            }
            AgentEvent::Error(e) => t::agent_error(e),
            AgentEvent::Usage { input_tokens, output_tokens, cost_usd } => {
                t::agent_usage(*input_tokens, *output_tokens, *cost_usd)
            }
            AgentEvent::Text(l) => l.clone(),
        }
    }
}

/// Model-call trouble seen in the output so far.
#[derive(Debug, Default)]
pub(super) struct ApiTrouble {
    pub status: Option<u16>,
    pub detail: String,
    /// A connection failure or time-out rather than an HTTP answer.
    pub unreachable: bool,
}

/// State shared by the profile parsers.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Tool calls waiting for their result: id → (tool, command or path).
    pub pending: HashMap<String, (String, String)>,
    pub summary: Option<String>,
    pub trouble: Option<ApiTrouble>,
    /// The agent said it failed (e.g. Claude Code's `is_error` result).
    pub gave_up: Option<String>,
    /// The agent said it finished its task.
    pub finished: bool,
}

impl State {
    pub fn api_error(&mut self, status: Option<u16>, detail: impl Into<String>, unreachable: bool) {
        self.trouble = Some(ApiTrouble { status, detail: detail.into(), unreachable });
    }
}

const TAIL_LINES: usize = 30;

/// Reads one agent run's output; see the module comment.
#[derive(Debug)]
pub struct Transcript {
    kind: ProfileKind,
    state: State,
    stdout: String,
    stderr: String,
    missing: Option<String>,
    /// The last readable lines, for a failure report.
    tail: VecDeque<String>,
}

impl Transcript {
    pub fn new(kind: ProfileKind) -> Self {
        Transcript {
            kind,
            state: State::default(),
            stdout: String::new(),
            stderr: String::new(),
            missing: None,
            tail: VecDeque::new(),
        }
    }

    /// A chunk of the agent's output; returns the events of its complete lines.
    pub fn feed(&mut self, chunk: &str, stderr: bool) -> Vec<AgentEvent> {
        let buf = if stderr { &mut self.stderr } else { &mut self.stdout };
        buf.push_str(chunk);
        let Some(end) = buf.rfind('\n') else { return Vec::new() };
        let complete: String = buf.drain(..=end).collect();
        complete.lines().flat_map(|l| self.line(l, stderr)).collect()
    }

    /// The events of what is left after the last newline.
    pub fn finish(&mut self) -> Vec<AgentEvent> {
        let out = std::mem::take(&mut self.stdout);
        let err = std::mem::take(&mut self.stderr);
        let mut events = self.line(&out, false);
        events.extend(self.line(&err, true));
        events
    }

    fn line(&mut self, line: &str, stderr: bool) -> Vec<AgentEvent> {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            return Vec::new();
        }
        if let Some(program) = line.strip_prefix(MISSING_MARKER) {
            self.missing = Some(program.trim().to_owned());
        }
        let events = match (stderr, self.kind) {
            (false, ProfileKind::ClaudeCode) => super::claude::parse(&mut self.state, line),
            (false, ProfileKind::Codex) => super::codex::parse(&mut self.state, line),
            (false, ProfileKind::MiniSweAgent) => super::mini::parse(&mut self.state, line),
            _ => None,
        };
        let events = events.unwrap_or_else(|| vec![AgentEvent::Text(line.to_owned())]);
        for e in &events {
            {
                for l in e.render().lines() {
                    if self.tail.len() == TAIL_LINES {
                        self.tail.pop_front();
                    }
                    self.tail.push_back(l.to_owned());
                }
            }
        }
        events
    }

    /// The agent's final message, for the PR body.
    pub fn summary(&self) -> Option<&str> {
        self.state.summary.as_deref().filter(|s| !s.trim().is_empty())
    }

    /// The last readable lines of the run.
    pub fn last_lines(&self) -> Vec<String> {
        self.tail.iter().cloned().collect()
    }

    /// Why the run failed; `None` when it succeeded. `exit_code` is the
    /// program's (`None`: killed or no exit code).
    pub fn failure(&self, exit_code: Option<i64>) -> Option<AgentFailure> {
        if let Some(program) = &self.missing {
            let stage = ProfileKind::ALL
                .into_iter()
                .find(|k| k.program() == Some(program.as_str()))
                .map_or("base", |k| k.image_stage());
            return Some(AgentFailure::ProgramMissing { program: program.clone(), stage });
        }
        let exited_ok = exit_code == Some(0);
        if exited_ok && self.state.gave_up.is_none() {
            return None;
        }
        // A model call that kept failing is the cause whenever the agent
        // did not finish its task after it.
        if let Some(t) = self.state.trouble.as_ref().filter(|_| !self.state.finished) {
            return Some(match t.status {
                Some(s @ (401 | 403 | 404)) => AgentFailure::ModelRefused { status: s, detail: t.detail.clone() },
                s if !t.unreachable => AgentFailure::UpstreamError { status: s, detail: t.detail.clone() },
                _ => AgentFailure::Unreachable { detail: t.detail.clone() },
            });
        }
        if let Some(reason) = &self.state.gave_up {
            return Some(AgentFailure::Gave { reason: reason.clone() });
        }
        Some(AgentFailure::Exited { code: exit_code })
    }
}

/// Shortens a one-line description to `max` characters.
pub(super) fn short(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        return one_line;
    }
    let cut: String = one_line.chars().take(max.saturating_sub(1)).collect();
    format!("{cut}…")
}

/// The HTTP status in an error text such as "unexpected status 401 Unauthorized".
pub(super) fn status_in(text: &str) -> Option<u16> {
    let mut words = text.split(|c: char| !c.is_ascii_alphanumeric());
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case("status")
            && let Some(code) = words.find(|w| !w.is_empty()).and_then(|w| w.parse::<u16>().ok())
        {
            return (100..600).contains(&code).then_some(code);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_names_the_image_stage() {
        let mut t = Transcript::new(ProfileKind::Codex);
        t.feed(&format!("{MISSING_MARKER} codex\n"), true);
        assert_eq!(
            t.failure(Some(127)),
            Some(AgentFailure::ProgramMissing { program: "codex".into(), stage: "codex" })
        );
    }

    #[test]
    fn partial_lines_wait_for_their_end() {
        let mut t = Transcript::new(ProfileKind::Custom);
        assert!(t.feed("hel", false).is_empty());
        assert_eq!(t.feed("lo\nwor", false), vec![AgentEvent::Text("hello".into())]);
        assert_eq!(t.finish(), vec![AgentEvent::Text("wor".into())]);
        assert_eq!(t.failure(Some(0)), None);
        assert_eq!(t.failure(Some(2)), Some(AgentFailure::Exited { code: Some(2) }));
    }

    #[test]
    fn statuses_are_found_in_error_texts() {
        assert_eq!(status_in("unexpected status 401 Unauthorized: invalid"), Some(401));
        assert_eq!(status_in("Reconnecting... 2/5 (unexpected status 500 Internal Server Error"), Some(500));
        assert_eq!(status_in("Connection failed: error sending request"), None);
    }
}
