//! The three API shapes, rendered from one scripted [`Content`] and its
//! [`Usage`]: a JSON body, or the SSE events the real API streams (names,
//! order and fields as the providers document them).

use serde_json::{Value, json};

use super::reply::{Content, Usage};

/// One SSE event: an optional `event:` name and its `data:` line.
#[derive(Debug, Clone)]
pub struct SseEvent {
    pub name: Option<&'static str>,
    pub data: String,
}

impl SseEvent {
    fn named(name: &'static str, data: Value) -> SseEvent {
        SseEvent { name: Some(name), data: data.to_string() }
    }

    fn data(data: Value) -> SseEvent {
        SseEvent { name: None, data: data.to_string() }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        match self.name {
            Some(n) => format!("event: {n}\ndata: {}\n\n", self.data).into_bytes(),
            None => format!("data: {}\n\n", self.data).into_bytes(),
        }
    }
}

fn args_text(v: &Value) -> String {
    v.to_string()
}

// ---- Anthropic Messages ----

fn anthropic_usage(u: &Usage) -> Value {
    json!({"input_tokens": u.input, "output_tokens": u.output,
           "cache_creation_input_tokens": 0, "cache_read_input_tokens": u.cached_input})
}

fn anthropic_stop(c: &Content) -> &'static str {
    if c.tool_calls.is_empty() { "end_turn" } else { "tool_use" }
}

pub fn anthropic_json(id: &str, model: &str, c: &Content, u: &Usage) -> Value {
    let mut blocks = Vec::new();
    if !c.text.is_empty() {
        blocks.push(json!({"type": "text", "text": c.text}));
    }
    for t in &c.tool_calls {
        blocks.push(json!({"type": "tool_use", "id": t.id, "name": t.name, "input": t.arguments}));
    }
    json!({"id": id, "type": "message", "role": "assistant", "model": model, "content": blocks,
           "stop_reason": anthropic_stop(c), "stop_sequence": null, "usage": anthropic_usage(u)})
}

pub fn anthropic_sse(id: &str, model: &str, c: &Content, u: &Usage) -> Vec<SseEvent> {
    // message_start carries the input usage and a first output count; the
    // message_delta's usage is cumulative (the final output count).
    let start_usage = json!({"input_tokens": u.input, "output_tokens": 1,
                             "cache_creation_input_tokens": 0, "cache_read_input_tokens": u.cached_input});
    let mut ev = vec![SseEvent::named(
        "message_start",
        json!({"type": "message_start", "message": {"id": id, "type": "message", "role": "assistant",
               "model": model, "content": [], "stop_reason": null, "stop_sequence": null, "usage": start_usage}}),
    )];
    let mut index = 0;
    if !c.text.is_empty() {
        ev.push(SseEvent::named(
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
        ));
        for piece in chunks(&c.text) {
            ev.push(SseEvent::named(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}),
            ));
        }
        ev.push(SseEvent::named("content_block_stop", json!({"type": "content_block_stop", "index": index})));
        index += 1;
    }
    for t in &c.tool_calls {
        ev.push(SseEvent::named(
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
                   "content_block": {"type": "tool_use", "id": t.id, "name": t.name, "input": {}}}),
        ));
        ev.push(SseEvent::named(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index,
                   "delta": {"type": "input_json_delta", "partial_json": args_text(&t.arguments)}}),
        ));
        ev.push(SseEvent::named("content_block_stop", json!({"type": "content_block_stop", "index": index})));
        index += 1;
    }
    ev.push(SseEvent::named(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": anthropic_stop(c), "stop_sequence": null},
               "usage": {"output_tokens": u.output}}),
    ));
    ev.push(SseEvent::named("message_stop", json!({"type": "message_stop"})));
    ev
}

pub fn anthropic_error(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

// ---- OpenAI Responses ----

fn responses_usage(u: &Usage) -> Value {
    json!({"input_tokens": u.input + u.cached_input, "input_tokens_details": {"cached_tokens": u.cached_input},
           "output_tokens": u.output, "output_tokens_details": {"reasoning_tokens": u.reasoning},
           "total_tokens": u.input + u.cached_input + u.output})
}

fn responses_output(id: &str, c: &Content) -> Vec<Value> {
    let mut out = Vec::new();
    if !c.text.is_empty() {
        out.push(json!({"type": "message", "id": format!("msg_{id}"), "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": c.text, "annotations": []}]}));
    }
    for t in &c.tool_calls {
        out.push(json!({"type": "function_call", "id": format!("fc_{}", t.id), "call_id": t.id, "name": t.name,
                        "arguments": args_text(&t.arguments), "status": "completed"}));
    }
    out
}

fn response_object(id: &str, model: &str, status: &str, output: Vec<Value>, usage: Value) -> Value {
    json!({"id": id, "object": "response", "created_at": 1_700_000_000, "status": status, "model": model,
           "output": output, "usage": usage})
}

pub fn responses_json(id: &str, model: &str, c: &Content, u: &Usage) -> Value {
    response_object(id, model, "completed", responses_output(id, c), responses_usage(u))
}

pub fn responses_sse(id: &str, model: &str, c: &Content, u: &Usage) -> Vec<SseEvent> {
    let mut seq = 0u64;
    let mut next = |name: &'static str, mut v: Value| {
        v["type"] = json!(name);
        v["sequence_number"] = json!(seq);
        seq += 1;
        SseEvent::named(name, v)
    };
    let mut ev = vec![
        next("response.created", json!({"response": response_object(id, model, "in_progress", vec![], Value::Null)})),
        next(
            "response.in_progress",
            json!({"response": response_object(id, model, "in_progress", vec![], Value::Null)}),
        ),
    ];
    let output = responses_output(id, c);
    for (i, item) in output.iter().enumerate() {
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        if item["type"] == "message" {
            added["content"] = json!([]);
            ev.push(next("response.output_item.added", json!({"output_index": i, "item": added})));
            let item_id = item["id"].clone();
            for piece in chunks(&c.text) {
                ev.push(next(
                    "response.output_text.delta",
                    json!({"item_id": item_id, "output_index": i, "content_index": 0, "delta": piece}),
                ));
            }
            ev.push(next(
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": i, "content_index": 0, "text": c.text}),
            ));
        } else {
            added["arguments"] = json!("");
            ev.push(next("response.output_item.added", json!({"output_index": i, "item": added})));
            ev.push(next(
                "response.function_call_arguments.delta",
                json!({"item_id": item["id"], "output_index": i, "delta": item["arguments"]}),
            ));
            ev.push(next(
                "response.function_call_arguments.done",
                json!({"item_id": item["id"], "output_index": i, "arguments": item["arguments"]}),
            ));
        }
        ev.push(next("response.output_item.done", json!({"output_index": i, "item": item})));
    }
    ev.push(next(
        "response.completed",
        json!({"response": response_object(id, model, "completed", output, responses_usage(u))}),
    ));
    ev
}

// ---- OpenAI Chat Completions ----

fn chat_usage(u: &Usage) -> Value {
    json!({"prompt_tokens": u.input + u.cached_input, "completion_tokens": u.output,
           "total_tokens": u.input + u.cached_input + u.output,
           "prompt_tokens_details": {"cached_tokens": u.cached_input},
           "completion_tokens_details": {"reasoning_tokens": u.reasoning}})
}

fn chat_finish(c: &Content) -> &'static str {
    if c.tool_calls.is_empty() { "stop" } else { "tool_calls" }
}

fn chat_tool_calls(c: &Content) -> Vec<Value> {
    c.tool_calls
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"index": i, "id": t.id, "type": "function",
                   "function": {"name": t.name, "arguments": args_text(&t.arguments)}})
        })
        .collect()
}

pub fn chat_json(id: &str, model: &str, c: &Content, u: &Usage) -> Value {
    let mut message =
        json!({"role": "assistant", "content": if c.text.is_empty() { Value::Null } else { json!(c.text) }});
    if !c.tool_calls.is_empty() {
        let calls: Vec<Value> = chat_tool_calls(c)
            .into_iter()
            .map(|mut v| {
                v.as_object_mut().map(|o| o.remove("index"));
                v
            })
            .collect();
        message["tool_calls"] = json!(calls);
    }
    json!({"id": id, "object": "chat.completion", "created": 1_700_000_000, "model": model,
           "choices": [{"index": 0, "message": message, "finish_reason": chat_finish(c)}],
           "usage": chat_usage(u)})
}

/// Chat Completions streams usage only when the client asked for it
/// (`stream_options.include_usage`), in a last chunk with no choices.
pub fn chat_sse(id: &str, model: &str, c: &Content, u: &Usage, include_usage: bool) -> Vec<SseEvent> {
    let chunk = |choices: Value, usage: Value| {
        let mut v = json!({"id": id, "object": "chat.completion.chunk", "created": 1_700_000_000,
                           "model": model, "choices": choices});
        if include_usage {
            v["usage"] = usage;
        }
        SseEvent::data(v)
    };
    let mut ev = vec![chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        Value::Null,
    )];
    for piece in chunks(&c.text) {
        ev.push(chunk(json!([{"index": 0, "delta": {"content": piece}, "finish_reason": null}]), Value::Null));
    }
    if !c.tool_calls.is_empty() {
        ev.push(chunk(
            json!([{"index": 0, "delta": {"tool_calls": chat_tool_calls(c)}, "finish_reason": null}]),
            Value::Null,
        ));
    }
    ev.push(chunk(json!([{"index": 0, "delta": {}, "finish_reason": chat_finish(c)}]), Value::Null));
    if include_usage {
        ev.push(chunk(json!([]), chat_usage(u)));
    }
    ev.push(SseEvent { name: None, data: "[DONE]".to_owned() });
    ev
}

pub fn openai_error(kind: &str, message: &str) -> Value {
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
}

/// Text in a few pieces, as a model streams it (at most 4 pieces).
fn chunks(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let size = chars.len().div_ceil(4).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}
