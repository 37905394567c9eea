//! Token usage from model answers, read from a copy of the bytes while the
//! original streams on: Anthropic `message_start` plus the cumulative
//! `message_delta` usage (the latest value wins, nothing is summed), OpenAI
//! Responses `response.completed` / `.incomplete` / `.failed`, and the Chat
//! Completions usage chunk; non-streaming bodies by their `usage` object.

use serde_json::Value;

/// Which API shape an answer has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    AnthropicMessages,
    OpenAiResponses,
    ChatCompletions,
}

/// Tokens of one call. `input` excludes cache reads, which are `cached`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub input: u64,
    pub cached: u64,
    pub output: u64,
    pub reasoning: u64,
}

impl Usage {
    pub fn total(&self) -> u64 {
        self.input + self.cached + self.output
    }
}

fn n(v: &Value, ptr: &str) -> Option<u64> {
    v.pointer(ptr).and_then(Value::as_u64)
}

/// OpenAI counts cached tokens inside the input; ours are apart.
fn openai_usage(u: &Value, input_key: &str, output_key: &str, details: (&str, &str)) -> Usage {
    let input = n(u, &format!("/{input_key}")).unwrap_or(0);
    let cached = n(u, &format!("/{}/cached_tokens", details.0)).unwrap_or(0);
    Usage {
        input: input.saturating_sub(cached),
        cached,
        output: n(u, &format!("/{output_key}")).unwrap_or(0),
        reasoning: n(u, &format!("/{}/reasoning_tokens", details.1)).unwrap_or(0),
    }
}

fn responses_usage(u: &Value) -> Usage {
    openai_usage(u, "input_tokens", "output_tokens", ("input_tokens_details", "output_tokens_details"))
}

fn chat_usage(u: &Value) -> Usage {
    openai_usage(u, "prompt_tokens", "completion_tokens", ("prompt_tokens_details", "completion_tokens_details"))
}

fn anthropic_input(u: &Value) -> (Option<u64>, u64) {
    let cached = n(u, "/cache_read_input_tokens").unwrap_or(0);
    // Cache writes are billed as input.
    let input = n(u, "/input_tokens").map(|i| i + n(u, "/cache_creation_input_tokens").unwrap_or(0));
    (input, cached)
}

/// The usage of a complete (non-streaming) JSON answer.
pub fn from_body(shape: Shape, body: &[u8]) -> Option<Usage> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let u = v.get("usage").filter(|u| u.is_object())?;
    Some(match shape {
        Shape::AnthropicMessages => {
            let (input, cached) = anthropic_input(u);
            Usage { input: input.unwrap_or(0), cached, output: n(u, "/output_tokens").unwrap_or(0), reasoning: 0 }
        }
        Shape::OpenAiResponses => responses_usage(u),
        Shape::ChatCompletions => chat_usage(u),
    })
}

/// Reads SSE events out of a byte stream in pieces of any size and keeps
/// the latest usage they report.
#[derive(Debug)]
pub struct SseUsage {
    shape: Shape,
    pending: Vec<u8>,
    usage: Usage,
    seen: bool,
    /// The model the stream names (Anthropic's `message_start`, OpenAI's chunks).
    pub model: Option<String>,
}

/// Events are never this large; a stream that is (or is not SSE at all)
/// stops being parsed rather than growing the buffer.
const MAX_EVENT_BYTES: usize = 4 << 20;

impl SseUsage {
    pub fn new(shape: Shape) -> Self {
        SseUsage { shape, pending: Vec::new(), usage: Usage::default(), seen: false, model: None }
    }

    /// The usage seen so far; `None` if the stream reported none yet.
    pub fn usage(&self) -> Option<Usage> {
        self.seen.then_some(self.usage)
    }

    pub fn feed(&mut self, bytes: &[u8]) {
        if self.pending.len() > MAX_EVENT_BYTES {
            return;
        }
        self.pending.extend_from_slice(bytes);
        while let Some((end, sep)) = find_event_end(&self.pending) {
            let event: Vec<u8> = self.pending.drain(..end + sep).collect();
            self.event(&event[..end]);
        }
    }

    fn event(&mut self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        let data: Vec<&str> =
            text.lines().filter_map(|l| l.strip_prefix("data:")).map(|d| d.strip_prefix(' ').unwrap_or(d)).collect();
        if data.is_empty() {
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(&data.join("\n")) else { return };
        match self.shape {
            Shape::AnthropicMessages => match v.get("type").and_then(Value::as_str) {
                Some("message_start") => {
                    if let Some(m) = v.pointer("/message/model").and_then(Value::as_str) {
                        self.model = Some(m.to_owned());
                    }
                    if let Some(u) = v.pointer("/message/usage") {
                        let (input, cached) = anthropic_input(u);
                        self.usage.input = input.unwrap_or(0);
                        self.usage.cached = cached;
                        self.usage.output = n(u, "/output_tokens").unwrap_or(0);
                        self.seen = true;
                    }
                }
                Some("message_delta") => {
                    if let Some(u) = v.get("usage") {
                        // Cumulative: the latest value replaces, never adds.
                        if let Some(o) = n(u, "/output_tokens") {
                            self.usage.output = o;
                        }
                        let (input, cached) = anthropic_input(u);
                        if let Some(i) = input {
                            self.usage.input = i;
                        }
                        if u.get("cache_read_input_tokens").is_some() {
                            self.usage.cached = cached;
                        }
                        self.seen = true;
                    }
                }
                _ => {}
            },
            Shape::OpenAiResponses => {
                let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
                if let Some(m) = v.pointer("/response/model").and_then(Value::as_str) {
                    self.model = Some(m.to_owned());
                }
                if matches!(kind, "response.completed" | "response.incomplete" | "response.failed")
                    && let Some(u) = v.pointer("/response/usage").filter(|u| u.is_object())
                {
                    self.usage = responses_usage(u);
                    self.seen = true;
                }
            }
            Shape::ChatCompletions => {
                if let Some(m) = v.get("model").and_then(Value::as_str) {
                    self.model = Some(m.to_owned());
                }
                if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
                    self.usage = chat_usage(u);
                    self.seen = true;
                }
            }
        }
    }
}

/// The end of the first complete event (`\n\n` or `\r\n\r\n`) and the
/// separator's length.
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// A rough input estimate for a call whose answer reported no usage: a token
/// per four bytes of the request.
pub fn estimate_input(request_bytes: usize) -> u64 {
    request_bytes.div_ceil(4) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_in_pieces(shape: Shape, text: &str, piece: usize) -> SseUsage {
        let mut p = SseUsage::new(shape);
        for c in text.as_bytes().chunks(piece) {
            p.feed(c);
        }
        p
    }

    #[test]
    fn anthropic_stream_takes_the_latest_cumulative_output() {
        let text = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"claude-x\",\"usage\":{\"input_tokens\":100,\"cache_read_input_tokens\":20,\"output_tokens\":1}}}\n\n\
                    event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":15}}\n\n\
                    event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":42}}\n\n";
        for piece in [1, 7, 1000] {
            let p = feed_in_pieces(Shape::AnthropicMessages, text, piece);
            assert_eq!(p.usage(), Some(Usage { input: 100, cached: 20, output: 42, reasoning: 0 }), "piece {piece}");
            assert_eq!(p.model.as_deref(), Some("claude-x"));
        }
    }

    #[test]
    fn openai_streams_and_bodies() {
        let resp = "event: response.created\r\ndata: {\"type\":\"response.created\",\"response\":{\"model\":\"gpt-5\"}}\r\n\r\n\
                    event: response.completed\r\ndata: {\"type\":\"response.completed\",\"response\":{\"model\":\"gpt-5\",\"usage\":{\"input_tokens\":50,\"input_tokens_details\":{\"cached_tokens\":10},\"output_tokens\":7,\"output_tokens_details\":{\"reasoning_tokens\":3}}}}\r\n\r\n";
        let p = feed_in_pieces(Shape::OpenAiResponses, resp, 5);
        assert_eq!(p.usage(), Some(Usage { input: 40, cached: 10, output: 7, reasoning: 3 }));
        let chat = "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}\n\ndata: [DONE]\n\n";
        let p = feed_in_pieces(Shape::ChatCompletions, chat, 3);
        assert_eq!(p.usage(), Some(Usage { input: 9, cached: 0, output: 4, reasoning: 0 }));
        let cut = "data: {\"model\":\"m\",\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n";
        assert_eq!(feed_in_pieces(Shape::ChatCompletions, cut, 3).usage(), None);
        let body = br#"{"usage":{"input_tokens":5,"cache_creation_input_tokens":2,"output_tokens":3}}"#;
        assert_eq!(
            from_body(Shape::AnthropicMessages, body),
            Some(Usage { input: 7, cached: 0, output: 3, reasoning: 0 })
        );
        assert_eq!(from_body(Shape::ChatCompletions, b"not json"), None);
    }
}
