//! LLM gateway and egress proxy overhead, each against its own baseline in
//! the same run:
//! - the gateway in front of the fake model upstream against calling the
//!   fake directly: latency of a non-streaming Anthropic Messages call (to
//!   the last byte) and time to the first byte of a streaming one, with 1
//!   and 32 jobs at once (one listener and capability token per job, every
//!   call recorded in SQLite as in production);
//! - a 100 MB download through the egress proxy's `CONNECT` tunnel (a name
//!   pinned to a loopback server speaking plain HTTP, no TLS: the proxy only
//!   splices bytes, TLS would cost client and server the same either way)
//!   against the same download straight from the server.
//!
//! ```sh
//! cargo run --release --example gateway_bench -- [REQUESTS] [ROUNDS] [BODY_KB,...]
//! ```
//! REQUESTS per job and round (default 400; a job of 32 gets a tenth),
//! ROUNDS alternating direct / gateway (default 5), request bodies in KiB
//! (default 2,64). Prints Markdown tables for docs/BENCHMARKS.md.

#[path = "../tests/support/fake_model/mod.rs"]
#[allow(dead_code, unused_imports)]
mod fake_model;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use bytes::Bytes;
use maxion::egress::{EgressService, JobEgress, Policy, Resolver};
use maxion::gateway::{Budget, Gateway, Prices, Upstream};
use maxion::jobs::{
    DeliveryRecord, Effect, InstallationId, IssueNumber, JobId, JobRate, Ledger, NewJob, RepoId, RepoRef, Store,
    TriggerKind,
};
use secrecy::SecretString;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use fake_model::{ANTHROPIC_KEY, FakeModel, OPENAI_KEY, Reply, Usage};

const DOWNLOAD_BYTES: u64 = 100 << 20;
const MODEL: &str = "claude-sonnet-4-5";

/// Where a client sends its Anthropic calls, with which key.
#[derive(Clone)]
struct Target {
    base: String,
    key: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let requests: usize = args.first().map_or(Ok(400), |a| a.parse()).context("REQUESTS")?;
    let rounds: usize = args.get(1).map_or(Ok(5), |a| a.parse()).context("ROUNDS")?;
    let sizes: Vec<usize> = match args.get(2) {
        Some(list) => list.split(',').map(|s| s.trim().parse::<usize>()).collect::<Result<_, _>>()?,
        None => vec![2, 64],
    };

    let model = FakeModel::start().await;
    model.set_default(Reply::text("All done: the tests pass.").usage(Usage::new(1200, 40)));
    let dir = tempfile::tempdir()?;
    let store = Store::open(&SecretString::from(format!("sqlite://{}", dir.path().join("bench.db").display())))
        .await
        .context("sqlite store")?;
    let jobs = record_jobs(&store, 32).await?;
    let blob = TcpListener::bind("127.0.0.1:0").await?;
    let blob_addr = blob.local_addr()?;
    tokio::spawn(serve_blob(blob));
    let service = service(&model, blob_addr);

    let mut listeners = Vec::new();
    for job in &jobs {
        let (tx, rx) = tokio::sync::mpsc::channel(1024);
        let egress = JobEgress::start_on(&service, "127.0.0.1:0".parse()?, tx).await?;
        maxion::egress::store_events(store.clone(), *job, 1, rx);
        listeners.push(egress);
    }
    let direct = Target { base: model.anthropic_url(), key: ANTHROPIC_KEY.to_owned() };
    let gateway: Vec<Target> = listeners
        .iter()
        .map(|e| {
            let env: HashMap<String, String> = e.agent_env().into_iter().collect();
            Target { base: env["ANTHROPIC_BASE_URL"].clone(), key: env["ANTHROPIC_API_KEY"].clone() }
        })
        .collect();
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;

    println!(
        "| jobs | call | body | direct p50 ms | gateway p50 ms | added p50 ms | direct p99 ms | gateway p99 ms | added p99 ms | calls each |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for kb in sizes {
        let body = request_body(kb);
        let stream_body = request_body_streaming(kb);
        for jobs in [1usize, 32] {
            let per_job = if jobs == 1 { requests } else { (requests / 10).max(1) };
            for (name, body, stream) in [("JSON, to last byte", &body, false), ("SSE, first byte", &stream_body, true)]
            {
                let direct_targets = vec![direct.clone(); jobs];
                let gateway_targets = gateway[..jobs].to_vec();
                // Warm both paths' connections before measuring.
                block(&client, &direct_targets, body, stream, 20).await?;
                block(&client, &gateway_targets, body, stream, 20).await?;
                let (mut d, mut g) = (Vec::new(), Vec::new());
                for round in 0..rounds {
                    // Alternate the order so neither side always runs second.
                    if round % 2 == 0 {
                        d.extend(block(&client, &direct_targets, body, stream, per_job).await?);
                        g.extend(block(&client, &gateway_targets, body, stream, per_job).await?);
                    } else {
                        g.extend(block(&client, &gateway_targets, body, stream, per_job).await?);
                        d.extend(block(&client, &direct_targets, body, stream, per_job).await?);
                    }
                    model.clear_requests();
                }
                let (d50, d99) = percentiles(&mut d);
                let (g50, g99) = percentiles(&mut g);
                println!(
                    "| {jobs} | {name} | {kb} KiB | {d50:.3} | {g50:.3} | {:.3} | {d99:.3} | {g99:.3} | {:.3} | {} |",
                    g50 - d50,
                    g99 - d99,
                    d.len()
                );
            }
        }
    }

    let calls = store.llm_sums(jobs[0]).await?.calls;
    println!("\ncalls the first job's drain recorded in llm_calls: {calls}\n");

    println!("| 100 MiB download | run 1 MB/s | run 2 MB/s | run 3 MB/s | median MB/s |");
    println!("|---|---:|---:|---:|---:|");
    let proxy = listeners[0].addr();
    let (mut direct_rates, mut proxied_rates) = (Vec::new(), Vec::new());
    for run in 0..3 {
        if run % 2 == 0 {
            direct_rates.push(download(blob_addr, None).await?);
            proxied_rates.push(download(proxy, Some("mirror.bench:443")).await?);
        } else {
            proxied_rates.push(download(proxy, Some("mirror.bench:443")).await?);
            direct_rates.push(download(blob_addr, None).await?);
        }
    }
    for (name, rates) in [("direct from the server", &mut direct_rates), ("through CONNECT", &mut proxied_rates)] {
        let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        rates.sort_by(f64::total_cmp);
        println!("| {name} | {} | {:.0} |", shown.join(" | "), rates[1]);
    }
    for e in &listeners {
        e.close();
    }
    Ok(())
}

/// The gateway in front of the fake, pinning `mirror.bench` to the blob server.
fn service(model: &FakeModel, blob: SocketAddr) -> EgressService {
    let gateway = Gateway::new(
        Some(Upstream { url: model.anthropic_url(), key: SecretString::from(ANTHROPIC_KEY) }),
        Some(Upstream { url: model.openai_url(), key: SecretString::from(OPENAI_KEY) }),
        Prices::shipped(),
    );
    let policy = Policy {
        allow: Vec::new(),
        pins: HashMap::from([("mirror.bench".to_owned(), (blob.ip(), Some(blob.port())))]),
        provider_hosts: gateway.upstream_hosts(),
        docker_subnets: Vec::new(),
        resolver: Resolver::Fixed(Arc::new(HashMap::new())),
    };
    // A budget that is checked on every call but never reached.
    let budget = Budget { tokens: Some(u64::MAX / 2), usd: Some(1e12) };
    EgressService { policy, gateway, port: 0, budget, daily_usd: Some(1e12), daily: Default::default() }
}

/// `count` jobs as intake records them (the `llm_calls` rows need them).
async fn record_jobs(store: &Store, count: u64) -> anyhow::Result<Vec<JobId>> {
    let ledger = Ledger::start(store.clone(), JobRate { per_minute: 10_000, burst: 10_000 });
    let mut ids = Vec::new();
    for issue in 1..=count {
        let job = NewJob {
            installation_id: InstallationId(1),
            repo: RepoRef {
                id: RepoId(10),
                full_name: "bench/repo".into(),
                clone_url: "https://example.test/bench/repo.git".into(),
                default_branch: "main".into(),
            },
            issue_number: IssueNumber(issue),
            issue_title: format!("issue {issue}"),
            trigger: TriggerKind::Label,
            trigger_comment_id: None,
            sender_login: "bench".into(),
            sender_id: 1,
            instructions: None,
            delivery_id: format!("d{issue}"),
            follow_up: None,
        };
        let record = DeliveryRecord {
            id: format!("d{issue}"),
            event: "issues".into(),
            action: Some("labeled".into()),
            effect: Effect::Run(job),
        };
        ids.push(ledger.record(record).await?.job_id.context("a job")?);
    }
    Ok(ids)
}

/// An Anthropic Messages request of about `kb` KiB (a conversation so far).
fn request_body(kb: usize) -> Bytes {
    body_json(kb, false)
}

fn request_body_streaming(kb: usize) -> Bytes {
    body_json(kb, true)
}

fn body_json(kb: usize, stream: bool) -> Bytes {
    let turn = "Read src/lib.rs and tell me where the parser handles escapes. ";
    let text = turn.repeat((kb * 1024 / turn.len()).max(1));
    let v = serde_json::json!({
        "model": MODEL,
        "max_tokens": 4096,
        "stream": stream,
        "system": "You are a coding agent.",
        "messages": [{"role": "user", "content": text}],
    });
    Bytes::from(v.to_string())
}

/// Every target runs `count` calls one after another, all targets at once;
/// returns each call's latency (to the last byte, or to the first for SSE).
async fn block(
    client: &reqwest::Client,
    targets: &[Target],
    body: &Bytes,
    stream: bool,
    count: usize,
) -> anyhow::Result<Vec<Duration>> {
    let mut tasks = tokio::task::JoinSet::new();
    for t in targets {
        let (client, t, body) = (client.clone(), t.clone(), body.clone());
        tasks.spawn(async move {
            let mut out = Vec::with_capacity(count);
            for _ in 0..count {
                out.push(call(&client, &t, &body, stream).await?);
            }
            anyhow::Ok(out)
        });
    }
    let mut all = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r??);
    }
    Ok(all)
}

async fn call(client: &reqwest::Client, t: &Target, body: &Bytes, stream: bool) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut resp = client
        .post(format!("{}/v1/messages", t.base))
        .header("x-api-key", &t.key)
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await?;
    ensure!(resp.status() == 200, "status {} from {}", resp.status(), t.base);
    if !stream {
        resp.bytes().await?;
        return Ok(started.elapsed());
    }
    if resp.chunk().await?.is_none() {
        bail!("empty stream from {}", t.base);
    }
    let first = started.elapsed();
    while resp.chunk().await?.is_some() {}
    Ok(first)
}

/// p50 and p99 in milliseconds.
fn percentiles(samples: &mut [Duration]) -> (f64, f64) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)].as_secs_f64() * 1000.0;
    (at(0.50), at(0.99))
}

/// A plain-HTTP server answering every request with DOWNLOAD_BYTES of body.
async fn serve_blob(listener: TcpListener) {
    while let Ok((mut s, _)) = listener.accept().await {
        tokio::spawn(async move {
            if read_head(&mut s).await.is_err() {
                return;
            }
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {DOWNLOAD_BYTES}\r\nConnection: close\r\n\r\n");
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 256 << 10];
            let mut left = DOWNLOAD_BYTES;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if s.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                left -= n as u64;
            }
        });
    }
}

/// Reads an HTTP head (up to the blank line); returns it.
async fn read_head(s: &mut TcpStream) -> anyhow::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        ensure!(s.read(&mut byte).await? == 1, "connection closed in the head");
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

/// Downloads the blob (through `CONNECT tunnel` on `addr` when given);
/// returns MB/s (10^6 bytes) from connect to the last byte.
async fn download(addr: SocketAddr, tunnel: Option<&str>) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).await?;
    if let Some(target) = tunnel {
        s.write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes()).await?;
        let head = read_head(&mut s).await?;
        ensure!(head.starts_with("HTTP/1.1 200"), "CONNECT answered {head:?}");
    }
    s.write_all(b"GET /blob HTTP/1.1\r\nHost: mirror.bench\r\n\r\n").await?;
    let head = read_head(&mut s).await?;
    ensure!(head.starts_with("HTTP/1.1 200"), "GET answered {head:?}");
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0u64;
    while got < DOWNLOAD_BYTES {
        let n = s.read(&mut buf).await?;
        ensure!(n > 0, "download cut after {got} bytes");
        got += n as u64;
    }
    Ok(got as f64 / 1e6 / started.elapsed().as_secs_f64())
}
