//! The fake model upstream keeps its promises: the real key is checked, every
//! shape carries usage the way the provider sends it, and the scripted
//! delivery (hold, cut, error, empty queue) behaves as documented.

use serde_json::{Value, json};

use crate::support::fake_model::{ANTHROPIC_KEY, FakeModel, Gate, OPENAI_KEY, Reply, ToolCall, Usage};

fn anthropic(model: &FakeModel, c: &reqwest::Client, body: Value) -> reqwest::RequestBuilder {
    c.post(format!("{}/v1/messages", model.anthropic_url()))
        .header("x-api-key", ANTHROPIC_KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
}

fn openai(model: &FakeModel, c: &reqwest::Client, path: &str, body: Value) -> reqwest::RequestBuilder {
    c.post(format!("{}{path}", model.openai_url())).bearer_auth(OPENAI_KEY).json(&body)
}

fn sse_data(text: &str) -> Vec<Value> {
    text.lines().filter_map(|l| l.strip_prefix("data: ")).filter_map(|d| serde_json::from_str(d).ok()).collect()
}

#[tokio::test]
async fn anthropic_json_and_sse_carry_usage_and_the_key_is_checked() {
    let model = FakeModel::start().await;
    let c = reqwest::Client::new();
    let msg = json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});

    model.push(Reply::text("hello there").usage(Usage::new(120, 30).cached(7)));
    let r = anthropic(&model, &c, msg.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "hello there");
    assert_eq!(v["usage"]["input_tokens"], 120);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 7);
    assert_eq!(v["usage"]["output_tokens"], 30);

    let mut streamed = msg.clone();
    streamed["stream"] = json!(true);
    model.push(
        Reply::tool_calls(vec![ToolCall::new("toolu_1", "bash", json!({"command": "ls"}))]).usage(Usage::new(50, 9)),
    );
    let text = anthropic(&model, &c, streamed).send().await.unwrap().text().await.unwrap();
    let events = sse_data(&text);
    let types: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types.first(), Some(&"message_start"));
    assert_eq!(types.last(), Some(&"message_stop"));
    assert_eq!(events[0]["message"]["usage"]["input_tokens"], 50);
    let delta = events.iter().find(|e| e["type"] == "message_delta").unwrap();
    assert_eq!(delta["usage"]["output_tokens"], 9);
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
    assert!(text.contains("input_json_delta"));

    // Wrong key: 401 in Anthropic's error format, recorded, no reply used.
    model.push(Reply::text("unused"));
    let r = c
        .post(format!("{}/v1/messages", model.anthropic_url()))
        .header("x-api-key", "sk-capability-token")
        .header("anthropic-version", "2023-06-01")
        .json(&msg)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "authentication_error");
    assert_eq!(model.pending(), 1);
    let reqs = model.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[0].key_ok && reqs[1].key_ok && !reqs[2].key_ok);
    assert_eq!(reqs[2].status, 401);
    assert_eq!(reqs[0].path, "/v1/messages");
}

#[tokio::test]
async fn openai_shapes_report_usage_as_the_api_does() {
    let model = FakeModel::start().await;
    let c = reqwest::Client::new();

    model.push(Reply::text("resp").usage(Usage::new(40, 12).cached(8).reasoning(5)));
    let text = openai(&model, &c, "/responses", json!({"model": "gpt-5", "input": "hi", "stream": true}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = sse_data(&text);
    let done = events.iter().find(|e| e["type"] == "response.completed").unwrap();
    assert_eq!(done["response"]["usage"]["input_tokens"], 48);
    assert_eq!(done["response"]["usage"]["input_tokens_details"]["cached_tokens"], 8);
    assert_eq!(done["response"]["usage"]["output_tokens_details"]["reasoning_tokens"], 5);

    // Chat Completions streams usage only when asked for.
    let chat = json!({"model": "gpt-5", "messages": [{"role": "user", "content": "hi"}], "stream": true});
    model.push(Reply::text("a").usage(Usage::new(3, 4)));
    let plain = openai(&model, &c, "/chat/completions", chat.clone()).send().await.unwrap().text().await.unwrap();
    assert!(sse_data(&plain).iter().all(|e| e.get("usage").is_none()));
    assert!(plain.trim_end().ends_with("data: [DONE]"));
    let mut asked = chat.clone();
    asked["stream_options"] = json!({"include_usage": true});
    model.push(Reply::text("a").usage(Usage::new(3, 4)));
    let with = openai(&model, &c, "/chat/completions", asked).send().await.unwrap().text().await.unwrap();
    let last = sse_data(&with).into_iter().last().unwrap();
    assert_eq!(last["usage"]["completion_tokens"], 4);
    assert_eq!(last["choices"], json!([]));

    model.push(Reply::tool_calls(vec![ToolCall::new("call_1", "read", json!({"path": "a"}))]));
    let mut plain_json = chat;
    plain_json["stream"] = json!(false);
    let v: Value = openai(&model, &c, "/chat/completions", plain_json).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(v["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "read");
    assert_eq!(v["usage"]["prompt_tokens"], 10);

    // Bearer with anything but the real key: 401 in OpenAI's format.
    let r = c.get(format!("{}/models", model.openai_url())).bearer_auth("nope").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.json::<Value>().await.unwrap()["error"]["message"].is_string());
    // Missing fields: 400. Empty queue: 500.
    let r = openai(&model, &c, "/responses", json!({"input": "x"})).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = openai(&model, &c, "/responses", json!({"model": "m", "input": "x"})).send().await.unwrap();
    assert_eq!(r.status(), 500);
    model.push(Reply::error(529, "overloaded_error", "Overloaded"));
    let msg = json!({"model": "m", "max_tokens": 1, "messages": []});
    let r = anthropic(&model, &c, msg).send().await.unwrap();
    assert_eq!(r.status(), 529);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["type"], "overloaded_error");
}

#[tokio::test]
async fn a_held_stream_delivers_its_first_events_and_a_cut_one_breaks_off() {
    let model = FakeModel::start().await;
    let c = reqwest::Client::new();
    let msg = json!({"model": "m", "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": "x"}]});

    let gate = Gate::new();
    model.push(Reply::text("held reply").hold_after(1, &gate));
    let mut resp = anthropic(&model, &c, msg.clone()).send().await.unwrap();
    let first = resp.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&first).contains("message_start"));
    gate.reached().await;
    gate.release();
    let mut rest = Vec::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        rest.extend_from_slice(&chunk);
    }
    assert!(String::from_utf8_lossy(&rest).contains("message_stop"));

    model.push(Reply::text("cut reply").cut_after(2));
    let mut resp = anthropic(&model, &c, msg).send().await.unwrap();
    let mut got = Vec::new();
    let mut failed = false;
    loop {
        match resp.chunk().await {
            Ok(Some(b)) => got.extend_from_slice(&b),
            Ok(None) => break,
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "a cut stream ends with an error, not a clean end");
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("message_start") && !text.contains("message_delta"), "{text}");
}

/// A stalled reply sends nothing, not even its status, until its gate is
/// released; the request is recorded as not answered (status 0) meanwhile.
#[tokio::test]
async fn a_stalled_reply_answers_nothing_until_released() {
    let model = FakeModel::start().await;
    let c = reqwest::Client::new();
    let gate = Gate::new();
    model.push(Reply::text("late").stall(&gate));
    let chat = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
    let call = tokio::spawn(openai(&model, &c, "/chat/completions", chat).send());
    gate.reached().await;
    assert!(!call.is_finished(), "no answer while held");
    assert_eq!(model.requests()[0].status, 0);
    gate.release();
    let resp = call.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap()["choices"][0]["message"]["content"], "late");
    assert_eq!(model.requests()[0].status, 200);
}
