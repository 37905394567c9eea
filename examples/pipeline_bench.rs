//! Pipeline overhead benchmark (issue 5 §6): from a signed `labeled` webhook
//! accepted to the pull request created, through the real service, a real
//! Docker sandbox, host git over HTTP and the fake GitHub, with the scripted
//! agent making one edit and no setup or verify commands. The repository is
//! generated: 10,000 files / 100 MB. Each run starts a fresh service and data
//! dir, then runs a first job (cold mirror) and a second one (warm mirror),
//! and times a fresh full `git clone` of the same repository as the baseline.
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
use secrecy::{ExposeSecret, SecretString};
use support::service::TestService;

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

/// Runs one job and returns the phase durations (same order as `PHASES`).
async fn one_job(e: &TestService, title: &str, edit: &str) -> anyhow::Result<[Duration; 7]> {
    let accepted: DateTime<Utc> = Utc::now();
    let clock = Instant::now();
    let issue = e.label_issue(title, &format!("write {edit} one edit")).await;
    eprintln!("  #{issue} delivered");
    let head = format!("issue-{issue}-");
    while !e.gh.pulls(e.repo).iter().any(|p| p.head.contains(&head)) {
        ensure!(clock.elapsed() < Duration::from_secs(600), "no pull request for #{issue}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let total = clock.elapsed();
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
    Ok(phases)
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(3);
    let files = generate();
    // GitHub's 1 s spacing of mutating requests, and none (the pipeline's
    // own overhead: what a GHES without rate limits would see).
    let intervals = ["1000", "0"];
    let mut first = vec![Vec::new(); intervals.len()];
    let mut second = vec![Vec::new(); intervals.len()];
    let mut clones = Vec::new();
    for run in 0..runs {
        for (m, interval) in intervals.iter().enumerate() {
            // No verify commands configured, none detectable in a tree of .txt files.
            let e = TestService::with_docker(|r| {
                r.maxion_verify_commands = None;
                r.maxion_github_mutation_interval_ms = Some((*interval).into());
            })
            .await
            .context("needs Docker and the test image")?;
            let t = Instant::now();
            let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), c.as_slice())).collect();
            e.gh.put_files(e.repo, "main", &refs);
            eprintln!("run {run}, spacing {interval} ms: repository generated in {:?}", t.elapsed());
            first[m].push(one_job(&e, "First job", "bench-1.txt").await?);
            second[m].push(one_job(&e, "Second job", "bench-2.txt").await?);
            if m == 0 {
                let scratch = tempfile::tempdir()?;
                clones.push(fresh_clone(&e, &scratch.path().join("clone")).await?);
            }
            eprintln!("  first {:?}, second {:?}", first[m][run][6], second[m][run][6]);
            e.stop().await;
        }
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
    Ok(())
}
