//! Webhook intake benchmark: signed `issue_comment` deliveries over loopback,
//! each verified, routed and committed to SQLite before it is answered, at
//! increasing concurrency; and the same load against a bare axum handler that
//! answers 202 without work, as the ceiling. Load comes from `wrk` (a separate
//! process on the same machine; `apt-get install wrk`).
//!
//! ```sh
//! cargo run --release --example intake_bench -- [SECONDS] [CONCURRENCY,...]
//! ```
//! Prints a Markdown table for docs/BENCHMARKS.md.

use std::io::Write;
use std::process::Command;

use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use maxion::config::{RawSettings, Settings};
use sha2::Sha256;

const SECRET: &str = "benchmark-webhook-secret";
const KEY: &str = include_str!("../tests/fixtures/service-test-key.pem");

struct Row {
    target: &'static str,
    connections: usize,
    requests: u64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: u64 = args.first().map(|s| s.parse()).transpose()?.unwrap_or(10);
    let levels: Vec<usize> = match args.get(1) {
        Some(list) => list.split(',').map(str::parse).collect::<Result<_, _>>()?,
        None => vec![1, 8, 32, 64, 128],
    };
    Command::new("wrk").arg("--version").output().context("wrk is not installed (apt-get install wrk)")?;

    let dir = tempfile::tempdir()?;
    let body = example_comment()?;
    let script = dir.path().join("deliveries.lua");
    std::fs::write(&script, lua_script(&body, &sign(&body)))?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let raw = RawSettings {
        github_app_id: Some("1".into()),
        github_app_private_key: Some(KEY.into()),
        github_webhook_secret: Some(SECRET.into()),
        database_url: Some(format!("sqlite://{}", dir.path().join("bench.db").display())),
        maxion_listen: Some("127.0.0.1:0".into()),
        // No jobs run here: no sandbox network to check at start-up (the
        // check for `filtered` needs the sandbox image on the engine).
        maxion_sandbox_network: Some("none".into()),
        ..Default::default()
    };
    let running = runtime.block_on(maxion::service::start(Settings::from_raw(raw, None)?))?;
    let maxion_url = format!("http://{}", running.addr);
    let bare_url = runtime.block_on(bare_server())?;

    let mut rows = Vec::new();
    for &connections in &levels {
        rows.push(wrk("maxion (verify + store)", &maxion_url, &script, connections, seconds)?);
        rows.push(wrk("bare axum 202 (ceiling)", &bare_url, &script, connections, seconds)?);
    }
    let stored = runtime.block_on(count_deliveries(&running.store))?;
    let sent: u64 = rows.iter().filter(|r| r.target.starts_with("maxion")).map(|r| r.requests).sum();
    runtime.block_on(running.stop())?;

    println!("| target | connections | requests/s | p50 ms | p99 ms | non-2xx |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {} |",
            r.target, r.connections, r.rps, r.p50_ms, r.p99_ms, r.errors
        );
    }
    println!("\ndeliveries answered by maxion: {sent}; rows in the deliveries table: {stored}");
    if stored < sent {
        bail!("{} answered deliveries are missing from the store", sent - stored);
    }
    Ok(())
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A real `issue_comment`/`created` payload from GitHub's examples (no command in it).
fn example_comment() -> anyhow::Result<Vec<u8>> {
    let all: serde_json::Value = serde_json::from_str(include_str!("../tests/fixtures/webhook-examples.json"))?;
    let event = all.as_array().into_iter().flatten().find(|e| e["name"] == "issue_comment").context("no example")?;
    let example = event["examples"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["action"] == "created")
        .context("no created example")?;
    Ok(serde_json::to_vec(example)?)
}

/// wrk script: the same signed body, a unique delivery id per request.
fn lua_script(body: &[u8], signature: &str) -> String {
    let body_hex = hex::encode(body);
    format!(
        r#"
local hex = "{body_hex}"
local body = (hex:gsub("..", function(c) return string.char(tonumber(c, 16)) end))
local threads = 0
function setup(thread) thread:set("tid", threads); threads = threads + 1 end
local n = 0
local run = tostring(os.time()) .. tostring(math.random(1, 1000000000))
request = function()
  n = n + 1
  local id = run .. "-" .. tostring(tid) .. "-" .. tostring(n)
  return wrk.format("POST", "/webhook", {{
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "issue_comment",
    ["X-GitHub-Delivery"] = id,
    ["X-Hub-Signature-256"] = "{signature}",
  }}, body)
end
"#
    )
}

fn wrk(
    target: &'static str,
    url: &str,
    script: &std::path::Path,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Row> {
    let threads = connections.min(2);
    let output = Command::new("wrk")
        .args(["--latency", "-t", &threads.to_string(), "-c", &connections.to_string()])
        .args(["-d", &format!("{seconds}s"), "-s"])
        .arg(script)
        .arg(url)
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    let _ = std::io::stderr().write_all(output.stderr.as_slice());
    let field = |prefix: &str| -> Option<String> {
        text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(|r| r.trim().to_owned()))
    };
    let rps: f64 = field("Requests/sec:").context("wrk printed no Requests/sec")?.parse()?;
    let requests: u64 = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .context("wrk printed no request count")?
        .parse()?;
    let errors = field("Non-2xx or 3xx responses:").map(|v| v.parse()).transpose()?.unwrap_or(0);
    Ok(Row {
        target,
        connections,
        requests,
        rps,
        p50_ms: millis(&field("50%").context("no p50")?)?,
        p99_ms: millis(&field("99%").context("no p99")?)?,
        errors,
    })
}

fn millis(value: &str) -> anyhow::Result<f64> {
    let (number, unit) = value.split_at(value.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(value.len()));
    let n: f64 = number.parse()?;
    Ok(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        _ => bail!("unknown unit in {value:?}"),
    })
}

async fn bare_server() -> anyhow::Result<String> {
    use axum::{Router, http::StatusCode, routing::post};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let app = Router::new().route("/webhook", post(|| async { StatusCode::ACCEPTED }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

async fn count_deliveries(store: &maxion::jobs::Store) -> anyhow::Result<u64> {
    Ok(u64::try_from(store.count_deliveries().await?)?)
}
