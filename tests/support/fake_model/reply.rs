//! What a test scripts: one reply per model call, in the order the calls
//! arrive. The reply is shape-neutral (text, tool calls, an error) and each
//! API shape renders it its own way (`render.rs`), so a scripted tool-call
//! turn works for an agent on the Anthropic, Responses or Chat Completions API.

use std::sync::Arc;

use tokio::sync::Notify;

/// Token counts reported in the reply's usage (every shape reports them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Input tokens not read from the cache.
    pub input: u64,
    /// Input tokens read from the prompt cache.
    pub cached_input: u64,
    pub output: u64,
    /// Output tokens spent on reasoning (OpenAI shapes report them).
    pub reasoning: u64,
}

impl Usage {
    pub fn new(input: u64, output: u64) -> Usage {
        Usage { input, output, ..Usage::default() }
    }

    pub fn cached(mut self, cached_input: u64) -> Usage {
        self.cached_input = cached_input;
        self
    }

    pub fn reasoning(mut self, reasoning: u64) -> Usage {
        self.reasoning = reasoning;
        self
    }
}

/// One tool call the model asks the agent to make.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The call id the agent echoes back with the result.
    pub id: String,
    pub name: String,
    /// The arguments as a JSON object.
    pub arguments: serde_json::Value,
}

impl ToolCall {
    pub fn new(id: impl Into<String>, name: impl Into<String>, arguments: serde_json::Value) -> ToolCall {
        ToolCall { id: id.into(), name: name.into(), arguments }
    }
}

/// What the assistant says: some text, then any tool calls. No tool calls
/// means the turn ends (`end_turn` / `stop`); with tool calls the agent is
/// expected to run them and call again.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Content {
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
}

/// How the answer is delivered.
#[derive(Debug, Clone, Default)]
pub enum Delivery {
    /// All at once (streamed event by event when the client asked to stream).
    #[default]
    Normal,
    /// Streaming only: send this many SSE events, then wait for the gate
    /// (never released: a provider that stalls mid-stream).
    HoldAfter { events: usize, gate: Gate },
    /// Accept the request, then send nothing, not even the status line,
    /// until the gate is released (never: a provider that does not answer).
    Stall { gate: Gate },
    /// Streaming only: send this many SSE events, then drop the connection
    /// without ending the stream (no usage event arrives).
    CutAfter { events: usize },
}

/// A pause a test controls: the fake signals `reached` when it stopped and
/// continues after `release`.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    reached: Arc<Notify>,
    release: Arc<Notify>,
}

impl Gate {
    pub fn new() -> Gate {
        Gate::default()
    }

    /// Waits until the fake has sent the events before the pause.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the held stream go on (also when called before it got there).
    pub fn release(&self) {
        self.release.notify_one();
    }

    pub(super) async fn pause(&self) {
        self.reached.notify_one();
        self.release.notified().await;
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Answer {
    Content(Content),
    /// An error status with a body in the provider's own error format.
    Error {
        status: u16,
        kind: String,
        message: String,
    },
}

/// One scripted reply: the answer, its usage and how it is delivered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub answer: Answer,
    pub usage: Usage,
    pub delivery: Delivery,
}

impl Reply {
    /// A final text answer, with a small default usage.
    pub fn text(text: impl Into<String>) -> Reply {
        Reply::content(Content { text: text.into(), tool_calls: Vec::new() })
    }

    /// A turn asking for tool calls (the agent runs them and calls again).
    pub fn tool_calls(calls: Vec<ToolCall>) -> Reply {
        Reply::content(Content { text: String::new(), tool_calls: calls })
    }

    pub fn content(content: Content) -> Reply {
        Reply { answer: Answer::Content(content), usage: Usage::new(10, 5), delivery: Delivery::Normal }
    }

    /// An error answer (`kind` is the provider's error type, e.g. `overloaded_error`).
    pub fn error(status: u16, kind: impl Into<String>, message: impl Into<String>) -> Reply {
        Reply {
            answer: Answer::Error { status, kind: kind.into(), message: message.into() },
            usage: Usage::default(),
            delivery: Delivery::Normal,
        }
    }

    pub fn usage(mut self, usage: Usage) -> Reply {
        self.usage = usage;
        self
    }

    /// Streams `events` SSE events, then waits for `gate`.
    pub fn hold_after(mut self, events: usize, gate: &Gate) -> Reply {
        self.delivery = Delivery::HoldAfter { events, gate: gate.clone() };
        self
    }

    /// Answers nothing until `gate` is released; `gate.reached()` returns once
    /// a request is held (streamed or not).
    pub fn stall(mut self, gate: &Gate) -> Reply {
        self.delivery = Delivery::Stall { gate: gate.clone() };
        self
    }

    /// Streams `events` SSE events, then cuts the connection.
    pub fn cut_after(mut self, events: usize) -> Reply {
        self.delivery = Delivery::CutAfter { events };
        self
    }
}
