//! The LLM gateway from inside a real `filtered` sandbox, in front of the
//! fake model upstream: the real key is injected (the fake checks it) and
//! appears nowhere in the sandbox; answers stream through event by event;
//! usage is read for every shape, streaming or not, also from a cut stream;
//! a request past the job's budget gets 403 `budget_exceeded` unsent.

use maxion::gateway::Budget;
use maxion::jobs::JobEvent;
use maxion::sandbox::{ExecRequest, OutputEvent};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::support::docker::DockerTest;
use crate::support::egress::{FilteredJob, gateway_for, service};
use crate::support::fake_model::{ANTHROPIC_KEY, FakeModel, Gate, OPENAI_KEY, Reply, ToolCall, Usage};

macro_rules! docker_test {
    ($name:expr) => {
        match DockerTest::new($name).await {
            Some(t) => t,
            None => return,
        }
    };
}

/// `python3 probe.py CALLS_JSON`: each call is [provider, path, body, stream];
/// prints one JSON line per call: {"status", "body" | "events", "error"}.
const CALLER: &str = r#"
import json, os, sys, urllib.error, urllib.request

def call(provider, path, body, key=None):
    if provider == "anthropic":
        base = os.environ["ANTHROPIC_BASE_URL"]
        headers = {"x-api-key": key or os.environ["ANTHROPIC_API_KEY"], "anthropic-version": "2023-06-01"}
    else:
        base = os.environ["OPENAI_BASE_URL"]
        headers = {"authorization": "Bearer " + (key or os.environ["OPENAI_API_KEY"])}
    headers["content-type"] = "application/json"
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, headers=headers, method="GET" if body is None else "POST")
    out = {}
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            out["status"] = r.status
            out["buffering"] = r.headers.get("x-accel-buffering")
            if r.headers.get("content-type", "").startswith("text/event-stream"):
                events = []
                try:
                    for line in r:
                        line = line.decode().strip()
                        if line.startswith("data: ") and line != "data: [DONE]":
                            events.append(json.loads(line[6:]))
                            if len(events) == 1 and body.get("marker"):
                                # Padding: the output masker holds back the longest secret's length (a PEM key)
                                # at the end of what it has seen.
                                print("FIRST-EVENT" + " " * 32768, flush=True)
                except Exception as e:
                    out["error"] = type(e).__name__
                out["events"] = events
            else:
                out["body"] = json.loads(r.read())
    except urllib.error.HTTPError as e:
        out["status"] = e.code
        out["body"] = json.loads(e.read())
    return out

for c in json.loads(sys.argv[1]):
    print(json.dumps(call(*c)), flush=True)
"#;

fn results(out: &str) -> Vec<Value> {
    out.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn msg(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 256, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn the_real_key_is_injected_and_never_inside_the_sandbox() {
    let t = docker_test!("gw-key");
    let model = FakeModel::start().await;
    let svc = service(gateway_for(&model), &[], &[], &[], Budget::default());
    let mut job = FilteredJob::start(&t, &svc, "job-gw-key").await;
    model.push(Reply::text("hello from the model").usage(Usage::new(21, 4)));
    model.push(Reply::tool_calls(vec![ToolCall::new("call_1", "bash", json!({"cmd": "ls"}))]).usage(Usage::new(30, 6)));
    let calls = json!([
        ["anthropic", "/v1/messages", msg("claude-sonnet-4-5", false)],
        ["openai", "/responses", {"model": "gpt-5", "input": "hi"}],
        ["openai", "/models", null],
        ["anthropic", "/v1/messages", msg("claude-sonnet-4-5", false), "sk-ant-made-up-key"],
    ]);
    let (code, out) = job.python(CALLER, &[&calls.to_string()]).await;
    assert_eq!(code, 0, "{out}");
    let r = results(&out);
    assert_eq!(r[0]["status"], 200, "{out}");
    assert_eq!(r[0]["body"]["content"][0]["text"], "hello from the model");
    assert_eq!(r[1]["body"]["output"][0]["name"], "bash", "{out}");
    assert_eq!(r[2]["body"]["data"][0]["id"], "gpt-5", "{out}");
    // An unknown token: 401 in Anthropic's own error format, nothing forwarded.
    assert_eq!(r[3]["status"], 401, "{out}");
    assert_eq!(r[3]["body"]["error"]["type"], "authentication_error");

    let reqs = model.requests();
    assert_eq!(reqs.len(), 3, "the refused call never reached the provider");
    assert!(reqs.iter().all(|q| q.key_ok), "{reqs:?}");
    let token = job.egress.agent_env().into_iter().find(|(k, _)| k == "ANTHROPIC_API_KEY").unwrap().1;
    assert!(token.starts_with("maxion-cap-"));
    for q in &reqs {
        assert!(q.headers.iter().all(|(_, v)| !v.contains(&token)), "the capability token went upstream: {q:?}");
    }

    // Nowhere in the sandbox: environments of all processes, workspace, home.
    let scan = r#"
import os, sys
keys = [k.encode() for k in sys.argv[1:]]
hits = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            data = open("/proc/%s/environ" % pid, "rb").read()
        except OSError:
            continue
        hits += ["environ of %s" % pid for k in keys if k in data]
for root in ("/workspace", "/home/sandbox", "/tmp"):
    for d, _, files in os.walk(root):
        for f in files:
            try:
                data = open(os.path.join(d, f), "rb").read()
            except OSError:
                continue
            hits += [os.path.join(d, f) for k in keys if k in data]
print("HITS", hits)
"#;
    let (code, out) = job.python(scan, &[ANTHROPIC_KEY, OPENAI_KEY]).await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("HITS []"), "{out}");
    let inspect = t.docker.inspect_container(job.sandbox.container_id(), None).await.unwrap();
    let inspect = serde_json::to_string(&inspect).unwrap();
    assert!(!inspect.contains(ANTHROPIC_KEY) && !inspect.contains(OPENAI_KEY));

    let mut seen = Vec::new();
    let ev =
        job.wait_for(&mut seen, |e| matches!(e, JobEvent::LlmCall { provider, .. } if provider == "anthropic")).await;
    let JobEvent::LlmCall { status, input_tokens, output_tokens, cost_usd, .. } = ev else { unreachable!() };
    assert_eq!((status, input_tokens, output_tokens), (200, 21, 4));
    assert!(cost_usd.unwrap() > 0.0);
    job.stop().await;
}

#[tokio::test]
async fn streams_pass_through_unbuffered_and_usage_is_read_for_every_shape() {
    let t = docker_test!("gw-stream");
    let model = FakeModel::start().await;
    let svc = service(gateway_for(&model), &[], &[], &[], Budget::default());
    let mut job = FilteredJob::start(&t, &svc, "job-gw-stream").await;

    // 1. A held stream: the first event must reach the sandbox while the
    // upstream has not sent the rest.
    let gate = Gate::new();
    model.push(Reply::text("streamed slowly").usage(Usage::new(11, 7)).hold_after(1, &gate));
    let mut held = msg("claude-sonnet-4-5-held", true);
    held["marker"] = json!(true);
    let calls = json!([["anthropic", "/v1/messages", held]]);
    job.sandbox.upload_file("/home/sandbox/probe.py", CALLER.as_bytes(), 0o644).await.unwrap();
    let mut req = ExecRequest::new(["python3", "/home/sandbox/probe.py", &calls.to_string()]);
    for (k, v) in job.egress.agent_env() {
        req = req.env(k, v);
    }
    let (tx, mut rx) = mpsc::channel::<OutputEvent>(64);
    let mut out = String::new();
    {
        let exec = job.sandbox.exec(req, &tx);
        tokio::pin!(exec);
        let mut released = false;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        let result = loop {
            tokio::select! {
                r = &mut exec => break r,
                Some(ev) = rx.recv() => {
                    out.push_str(&ev.text);
                    if !released && out.contains("FIRST-EVENT") {
                        released = true;
                        gate.release();
                    }
                }
                _ = tokio::time::sleep_until(deadline), if !released => {
                    panic!("the first event did not reach the sandbox while the upstream held the stream: {out}");
                }
            }
        };
        assert!(result.unwrap().outcome.succeeded(), "{out}");
    }
    drop(tx);
    while let Ok(ev) = rx.try_recv() {
        out.push_str(&ev.text);
    }
    let r = results(&out);
    assert_eq!(r[0]["buffering"], "no");
    assert_eq!(r[0]["events"].as_array().unwrap().last().unwrap()["type"], "message_stop", "{out}");

    // 2. Every shape, streaming and not, and two cut streams.
    model.push(Reply::text("a").usage(Usage::new(100, 10).cached(40)));
    model.push(Reply::text("b").usage(Usage::new(200, 20)));
    model.push(Reply::text("c").usage(Usage::new(300, 30).cached(5).reasoning(3)));
    model.push(Reply::text("d").usage(Usage::new(400, 40)));
    model.push(Reply::text("e").usage(Usage::new(500, 50)));
    model.push(Reply::text("f").usage(Usage::new(600, 60)));
    model.push(Reply::text("cut after start").usage(Usage::new(700, 70)).cut_after(2));
    model.push(Reply::text("cut early").usage(Usage::new(800, 80)).cut_after(1));
    let chat =
        |m: &str, stream: bool| json!({"model": m, "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
    let calls = json!([
        ["anthropic", "/v1/messages", msg("m-anthropic-json", false)],
        ["anthropic", "/v1/messages", msg("m-anthropic-sse", true)],
        ["openai", "/responses", {"model": "m-responses-sse", "input": "hi", "stream": true}],
        ["openai", "/responses", {"model": "m-responses-json", "input": "hi"}],
        ["openai", "/chat/completions", chat("m-chat-json", false)],
        ["openai", "/chat/completions", chat("m-chat-sse", true)],
        ["anthropic", "/v1/messages", msg("m-anthropic-cut", true)],
        ["openai", "/chat/completions", chat("m-chat-cut", true)],
    ]);
    let (code, out) = job.python(CALLER, &[&calls.to_string()]).await;
    assert_eq!(code, 0, "{out}");
    let r = results(&out);
    assert_eq!(r.len(), 8, "{out}");
    // The cut streams arrive cut: what was sent, nothing after.
    let types: Vec<&str> = r[6]["events"].as_array().unwrap().iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, ["message_start", "content_block_start"], "{out}");
    assert_eq!(r[7]["events"].as_array().unwrap().len(), 1, "{out}");
    // The gateway asked for the chat stream's usage the client did not ask for.
    let chat_sse = model.requests().into_iter().find(|q| q.body["model"] == "m-chat-sse").unwrap();
    assert_eq!(chat_sse.body["stream_options"]["include_usage"], true);

    let mut seen = Vec::new();
    let expect: [(&str, u64, u64, u64, u64, bool); 9] = [
        ("claude-sonnet-4-5-held", 11, 0, 7, 0, true),
        ("m-anthropic-json", 100, 40, 10, 0, true),
        ("m-anthropic-sse", 200, 0, 20, 0, true),
        ("m-responses-sse", 300, 5, 30, 3, true),
        ("m-responses-json", 400, 0, 40, 0, true),
        ("m-chat-json", 500, 0, 50, 0, true),
        ("m-chat-sse", 600, 0, 60, 0, true),
        // Cut after message_start: its input usage counts, output as far as seen.
        ("m-anthropic-cut", 700, 0, 1, 0, true),
        // Cut before any usage: charged the input estimate.
        ("m-chat-cut", 0, 0, 0, 0, false),
    ];
    for (m, input, cached, output, reasoning, reported) in expect {
        let ev = job.wait_for(&mut seen, |e| matches!(e, JobEvent::LlmCall { model, .. } if model == m)).await;
        let JobEvent::LlmCall { input_tokens, cached_tokens, output_tokens, reasoning_tokens, usage_reported, .. } = ev
        else {
            unreachable!()
        };
        assert_eq!(usage_reported, reported, "{m}");
        if reported {
            assert_eq!(
                (input_tokens, cached_tokens, output_tokens, reasoning_tokens),
                (input, cached, output, reasoning),
                "{m}"
            );
        } else {
            assert!(input_tokens > 0, "a cut call is charged at least its input estimate");
        }
    }
    let totals = job.egress.totals();
    assert_eq!(totals.calls, 9, "{totals:?}");
    job.stop().await;
}

#[tokio::test]
async fn a_request_past_the_budget_gets_403_budget_exceeded_and_is_not_sent() {
    let t = docker_test!("gw-budget");
    let model = FakeModel::start().await;
    let budget = Budget { tokens: Some(400), ..Budget::default() };
    let svc = service(gateway_for(&model), &[], &[], &[], budget);
    let job = FilteredJob::start(&t, &svc, "job-gw-budget").await;
    model.push(Reply::text("fits").usage(Usage::new(50, 50)));
    let small =
        json!({"model": "claude-sonnet-4-5", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]});
    let big =
        json!({"model": "claude-sonnet-4-5", "max_tokens": 1000, "messages": [{"role": "user", "content": "hi"}]});
    let big_openai = json!({"model": "gpt-5", "input": "hi", "max_output_tokens": 1000});
    let calls = json!([
        ["anthropic", "/v1/messages", small],
        ["anthropic", "/v1/messages", big],
        ["openai", "/responses", big_openai]
    ]);
    let (code, out) = job.python(CALLER, &[&calls.to_string()]).await;
    assert_eq!(code, 0, "{out}");
    let r = results(&out);
    assert_eq!(r[0]["status"], 200, "{out}");
    assert_eq!(r[1]["status"], 403, "never 429: {out}");
    assert_eq!(r[1]["body"]["error"]["type"], "budget_exceeded", "{out}");
    assert_eq!(r[2]["status"], 403, "{out}");
    assert_eq!(r[2]["body"]["error"]["code"], "budget_exceeded", "OpenAI's format: {out}");
    assert_eq!(model.requests().len(), 1, "refused requests never reach the provider");
    assert!(job.egress.totals().exceeded.is_some());
    job.stop().await;
}

/// The agent of the end-to-end budget test: one call that fits the budget,
/// one that does not (its 403 is printed), then the file verification wants.
const BUDGET_AGENT: &str = r#"python3 - <<'PY'
import json, os, urllib.error, urllib.request
def call(max_tokens):
    body = {"model": "claude-sonnet-4-5", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "hi"}]}
    req = urllib.request.Request(os.environ["ANTHROPIC_BASE_URL"] + "/v1/messages", data=json.dumps(body).encode(),
        headers={"x-api-key": os.environ["ANTHROPIC_API_KEY"], "anthropic-version": "2023-06-01",
                 "content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
print(call(100))
print(call(5000))
open("/workspace/ok.txt", "w").write("done\n")
PY"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_over_its_budget_ends_budget_exceeded_on_github() {
    let model = FakeModel::start().await;
    model.push(Reply::text("within budget").usage(Usage::new(50, 20)));
    let url = model.anthropic_url();
    let Some(e) = crate::support::service::TestService::with_docker(|r| {
        r.maxion_sandbox_network = Some("filtered".into());
        r.maxion_agent_command = Some(BUDGET_AGENT.into());
        r.egress.anthropic_api_key = Some(ANTHROPIC_KEY.into());
        r.egress.maxion_anthropic_url = Some(url);
        r.egress.maxion_job_token_budget = Some("1000".into());
    })
    .await
    else {
        return;
    };
    // The repository asks for more than the operator allows: clamped and noted.
    e.gh.put_file(e.repo, "main", ".github/maxion.yml", "budget: { tokens: 5000 }\negress: [pypi.org, evil.test]\n");
    let issue = e.label_issue("Spend too much", "nothing").await;
    let job = e.job_for(issue).await;
    let job = e.wait_terminal(job.id, std::time::Duration::from_secs(120)).await;
    assert_eq!(job.state, maxion::jobs::JobState::Failed, "{job:?}");
    let error = job.error.clone().unwrap_or_default();
    assert!(error.contains("budget_exceeded") && error.contains("70 of its 1,000 tokens"), "{error}");
    assert_eq!(model.requests().len(), 1, "the call past the budget never reached the provider");
    let sums = e.store().llm_sums(job.id).await.unwrap();
    let events = e.store().job_events(job.id, 0, 1000).await.unwrap();
    let calls: Vec<_> = events.iter().filter(|ev| matches!(ev.event, JobEvent::LlmCall { .. })).collect();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!((sums.calls, sums.input_tokens, sums.output_tokens), (1, 50, 20), "stored with the job");
    assert!(e.gh.pulls(e.repo).is_empty(), "a job its budget stopped opens no pull request");

    let comments = e.gh.comments(e.repo, issue);
    let status = comments.iter().find(|c| c.user == e.gh.bot_login()).expect("status comment");
    assert!(status.body.contains("stopped: used 70 of its 1,000 tokens"), "{}", status.body);
    assert!(status.body.contains("model: 1 call, 50 tokens in / 20 out"), "{}", status.body);
    assert!(
        status.body.contains("`budget.tokens: 5000`") && status.body.contains("MAXION_JOB_TOKEN_BUDGET"),
        "{}",
        status.body
    );
    assert!(
        status.body.contains("`egress[2]: evil.test`") && status.body.contains("MAXION_EGRESS_ALLOW_MAX"),
        "{}",
        status.body
    );
    let runs = e.gh.check_runs(e.repo);
    let run = runs.last().expect("a check run");
    assert_eq!(run.conclusion.as_deref(), Some("failure"), "{runs:?}");
    let shown = format!("{:?} {:?} {:?}", run.title, run.summary, run.text);
    assert!(shown.contains("stopped: used 70 of its 1,000 tokens"), "{shown}");
    e.gh.assert_ok();
    e.stop().await;
}
