//! Pipeline overhead benchmark: from the signed `labeled` delivery sent to
//! the pull request's creation (when the fake GitHub received the request),
//! through the real service, a real Docker sandbox, host git over HTTP and
//! the fake GitHub, with the scripted agent changing one file and no setup or
//! verify commands. The repository is generated: 10,000 files / 100 MB. Each
//! run starts a fresh service and data dir, then runs a first job (cold
//! mirror) and a second one on the same repository (warm mirror), with
//! GitHub's 1 s spacing of mutating calls and without it; then a first job on
//! a tiny repository (3 files) with the spacing; and times on its own a
//! sandbox's container start and the upload of the 100 MB tree into it. A
//! fresh full `git clone` of the repository is the baseline.
//!
//! ```sh
//! export MAXION_TEST_IMAGE=$(bash docker/build-test-image.sh | tail -n1)
//! cargo run --release --example pipeline_bench -- [RUNS]
//! ```
//! Prints a Markdown table (medians over RUNS, default 3) for docs/BENCHMARKS.md,
//! broken down by step from the job's own stored events.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use maxion::github::{GitHubApp, GitHubConfig, Permissions};
use maxion::jobs::{JobEvent, JobState};
use maxion::sandbox::{Sandbox, SandboxSettings, WORKSPACE};
use secrecy::{ExposeSecret, SecretString};
use support::fake_github::RecordedRequest;
use support::service::TestService;
use tokio_util::sync::CancellationToken;

const FILE_BYTES: usize = 10_000;

/// 10,000 files unless `PIPELINE_BENCH_FILES` says otherwise (a quick trial).
fn file_count() -> usize {
    std::env::var("PIPELINE_BENCH_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000)
}

/// Pseudo-random text lines, as in `git_bench`: about as compressible as
/// source code with long identifiers.
fn generate() -> Vec<(String, Vec<u8>)> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _(){};=";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..file_count())
        .map(|i| {
            let mut content = Vec::with_capacity(FILE_BYTES);
            while content.len() < FILE_BYTES {
                let c =
                    if content.len() % 80 == 79 { b'\n' } else { ALPHABET[(next() % ALPHABET.len() as u64) as usize] };
                content.push(c);
            }
            (format!("dir{:03}/file{:05}.txt", i / 100, i), content)
        })
        .collect()
}

/// The phases of one job, in order. Each is measured from the end of the
/// previous one; "sandbox" is container start plus the upload of the base
/// commit (between the checkout and the agent, not a step of its own).
const PHASES: [&str; 7] = [
    "intake, admission, acknowledgement, gathering the brief's inputs",
    "brief assembly",
    "checkout (mirror clone or fetch, `.git`-only copy)",
    "sandbox start + upload (`git archive` stream + `.git`)",
    "agent (one edit)",
    "ship (collect, commit, push, PR)",
    "total: webhook accepted → PR created",
];

/// One job's phases (same order as `PHASES`) and its mutating GitHub calls
/// up to the PR, each as (offset from the delivery, method and operation).
struct JobTiming {
    phases: [Duration; 7],
    calls: Vec<(Duration, String)>,
}

const PULLS: &str = "/repos/{owner}/{repo}/pulls";

/// Runs one job and returns its timing.
async fn one_job(e: &TestService, title: &str, edit: &str) -> anyhow::Result<JobTiming> {
    let accepted: DateTime<Utc> = Utc::now();
    let clock = Instant::now();
    let issue = e.label_issue(title, &format!("write {edit} one edit")).await;
    eprintln!("  #{issue} delivered");
    let head = format!("issue-{issue}-");
    while !e.gh.pulls(e.repo).iter().any(|p| p.head.contains(&head)) {
        ensure!(clock.elapsed() < Duration::from_secs(600), "no pull request for #{issue}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // When the fake received the creation request; if the fake's log has
    // none, when polling (every 10 ms) saw the pull request.
    let polled = accepted + chrono::Duration::from_std(clock.elapsed()).unwrap_or_default();
    let created =
        e.gh.requests_to("POST", PULLS).iter().filter(|r| r.at >= accepted).map(|r| r.at).max().unwrap_or(polled);
    let total = span(accepted, created);
    let calls =
        e.gh.requests()
            .iter()
            .filter(|r| r.at >= accepted && r.at <= created && mutating(r))
            .map(|r| (span(accepted, r.at), format!("{} {}", r.method, r.operation.as_deref().unwrap_or(&r.path))))
            .collect();
    let job = e.job_ends(issue).await;
    ensure!(job.state == JobState::Succeeded, "job {} {}: {:?}", job.id, job.state, job.error);

    let events = e.store().job_events(job.id, 0, 100_000).await?;
    let mut started = BTreeMap::new();
    let mut finished = BTreeMap::new();
    for s in &events {
        match &s.event {
            JobEvent::StepStarted { step } => {
                started.entry(step.clone()).or_insert(s.at);
            }
            JobEvent::StepFinished { step, .. } => {
                finished.insert(step.clone(), s.at);
            }
            _ => {}
        }
    }
    let at = |m: &BTreeMap<String, DateTime<Utc>>, step: &str| {
        m.get(step).copied().with_context(|| format!("no {step} event for job {}", job.id))
    };
    let marks = [
        accepted,
        at(&started, "brief")?,
        at(&finished, "brief")?,
        at(&finished, "checkout")?,
        at(&started, "agent")?,
        at(&finished, "agent")?,
        at(&finished, "ship")?,
    ];
    let mut phases = [Duration::ZERO; 7];
    // The first phase runs from acceptance to the brief's start; the rest
    // from one mark to the next, where "brief" is its own start..finish.
    phases[0] = span(marks[0], marks[1]);
    for i in 1..6 {
        phases[i] = span(marks[i], marks[i + 1]);
    }
    phases[6] = total;
    Ok(JobTiming { phases, calls })
}

/// A call GitHub spaces: an API call that is not a read, a token mint or git.
fn mutating(r: &RecordedRequest) -> bool {
    let Some(op) = r.operation.as_deref() else { return false };
    r.method != "GET" && !op.starts_with("git ") && op != "/app/installations/{installation_id}/access_tokens"
}

fn span(from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
    (to - from).to_std().unwrap_or_default()
}

/// A full `git clone` (with checkout) of the repository over the same
/// server, authenticated like Maxion's host git.
async fn fresh_clone(e: &TestService, into: &std::path::Path) -> anyhow::Result<Duration> {
    let config = GitHubConfig::new(e.gh.url(), e.gh.app_id(), SecretString::from(e.gh.private_key_pem().to_owned()));
    let app = GitHubApp::new(config)?;
    let token =
        app.token_for(maxion::github::InstallationId(e.inst.0), "widgets", Permissions::contents_read()).await?;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{}", token.expose_secret()));
    let clock = Instant::now();
    let status = tokio::process::Command::new("git")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.extraHeader")
        .env("GIT_CONFIG_VALUE_0", format!("Authorization: Basic {basic}"))
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(["clone", "--quiet", &e.gh.clone_url(e.repo)])
        .arg(into)
        .status()
        .await?;
    ensure!(status.success(), "git clone failed");
    Ok(clock.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Container start and the upload of the generated tree on their own, in a
/// sandbox with the service's default settings on the test image.
async fn sandbox_parts(files: &[(String, Vec<u8>)]) -> anyhow::Result<(Duration, Duration)> {
    let docker = maxion::sandbox::connect().await?;
    let image = std::env::var("MAXION_TEST_IMAGE").context("MAXION_TEST_IMAGE")?;
    let settings = SandboxSettings { image, instance_id: "pipeline-bench".into(), ..SandboxSettings::default() };
    let mut tar = tar::Builder::new(Vec::new());
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        tar.append_data(&mut header, path, content.as_slice())?;
    }
    let tar = tar.into_inner()?;
    let clock = Instant::now();
    let sandbox = Sandbox::start(&docker, &settings, "bench", CancellationToken::new()).await?;
    let started = clock.elapsed();
    let clock = Instant::now();
    let uploaded = sandbox.upload_tar(WORKSPACE, std::io::Cursor::new(tar)).await;
    let upload = clock.elapsed();
    sandbox.remove().await?;
    uploaded?;
    Ok((started, upload))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(3);
    let files = generate();
    let tiny: Vec<(String, Vec<u8>)> = ["README.txt", "docs/notes.txt", "a.txt"]
        .iter()
        .map(|p| ((*p).to_owned(), format!("// {p}\n").into_bytes()))
        .collect();
    // GitHub's 1 s spacing of mutating requests, and none (the pipeline's
    // own overhead: what a GHES without rate limits would see).
    let intervals = ["1000", "0"];
    let mut first = vec![Vec::new(); intervals.len()];
    let mut second = vec![Vec::new(); intervals.len()];
    let mut tiny_first = Vec::new();
    let mut clones = Vec::new();
    let mut parts = Vec::new();
    let mut timeline = Vec::new();
    let mut tiny_timeline = Vec::new();
    for run in 0..runs {
        for (m, interval) in intervals.iter().enumerate() {
            let e = service(interval).await?;
            let t = Instant::now();
            put(&e, &files);
            eprintln!("run {run}, spacing {interval} ms: repository generated in {:?}", t.elapsed());
            first[m].push(one_job(&e, "First job", "bench-1.txt").await?.phases);
            let warm = one_job(&e, "Second job", "bench-2.txt").await?;
            second[m].push(warm.phases);
            if m == 0 {
                timeline = warm.calls;
                let scratch = tempfile::tempdir()?;
                clones.push(fresh_clone(&e, &scratch.path().join("clone")).await?);
            }
            eprintln!("  first {:?}, second {:?}", first[m][run][6], second[m][run][6]);
            e.stop().await;
        }
        let e = service("1000").await?;
        put(&e, &tiny);
        let job = one_job(&e, "Tiny first job", "bench-1.txt").await?;
        eprintln!("  tiny repository, first job {:?}", job.phases[6]);
        tiny_first.push(job.phases);
        tiny_timeline = job.calls;
        e.stop().await;
        parts.push(sandbox_parts(&files).await?);
    }

    let clone = median(clones);
    for (m, interval) in intervals.iter().enumerate() {
        println!("\nMutating GitHub requests at least {interval} ms apart (medians of {runs}):\n");
        println!("| phase | first job (cold mirror) | second job (warm mirror) |");
        println!("|---|---|---|");
        for (i, phase) in PHASES.iter().enumerate() {
            let a = median(first[m].iter().map(|p| p[i]).collect());
            let b = median(second[m].iter().map(|p| p[i]).collect());
            println!("| {phase} | {} | {} |", secs(a), secs(b));
        }
        let warm = median(second[m].iter().map(|p| p[6]).collect());
        println!(
            "\nSecond job vs a fresh full clone ({}): {:.1}x",
            secs(clone),
            clone.as_secs_f64() / warm.as_secs_f64()
        );
    }
    println!("\nTiny repository (3 files), first job, 1 s spacing (medians of {runs}):\n");
    println!("| phase | first job |");
    println!("|---|---|");
    for (i, phase) in PHASES.iter().enumerate() {
        println!("| {phase} | {} |", secs(median(tiny_first.iter().map(|p| p[i]).collect())));
    }
    let start = median(parts.iter().map(|p| p.0).collect());
    let upload = median(parts.iter().map(|p| p.1).collect());
    println!(
        "\nSandbox on its own (medians of {runs}): container start {}, upload of 10,000 files / 100 MB {}",
        secs(start),
        secs(upload)
    );
    for (name, calls) in [("second job, 10,000 files", &timeline), ("tiny repository, first job", &tiny_timeline)] {
        println!("\nMutating calls up to the PR, {name}, 1 s spacing (last run):\n");
        for (at, call) in calls {
            println!("- {} {call}", secs(*at));
        }
    }
    Ok(())
}

async fn service(interval: &str) -> anyhow::Result<TestService> {
    // No verify commands configured, none detectable in a tree of .txt files.
    TestService::with_docker(|r| {
        r.maxion_verify_commands = None;
        r.maxion_github_mutation_interval_ms = Some(interval.into());
    })
    .await
    .context("needs Docker and the test image")
}

fn put(e: &TestService, files: &[(String, Vec<u8>)]) {
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), c.as_slice())).collect();
    e.gh.put_files(e.repo, "main", &refs);
}
