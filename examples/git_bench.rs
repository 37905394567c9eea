//! Host git benchmark: on a generated repository of 10,000 files / 100 MB
//! served over loopback smart HTTP (`git http-backend`, the test server),
//! the first job's mirror clone + working copy, the second job's fetch +
//! working copy on the warm mirror, a fresh full `git clone` of the same
//! repository, commit + push of a one-file change, and what the pipeline does
//! instead of a checkout (a `.git`-only copy plus a `git archive` stream).
//!
//! ```sh
//! cargo run --release --example git_bench -- [RUNS]
//! ```
//! Prints a Markdown table (medians over RUNS, default 3) for docs/BENCHMARKS.md:
//! wall time, and the CPU time (user + system) of the git processes of the
//! step, client and server side, which a busy machine inflates far less.

#[path = "../tests/support/git_http.rs"]
#[allow(dead_code)]
mod git_http;

use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use base64::Engine as _;
use maxion::pipeline::git::{Identity, MirrorCache, SyncKind};
use secrecy::SecretString;

const REPO: &str = "bench/big";
const TOKEN: &str = "ghs_benchToken0123456789abcdefghijklmnopq";
const FILES: usize = 10_000;
const FILE_BYTES: usize = 10_000;

/// Pseudo-random text lines: about as compressible as source code with long
/// identifiers, so the pack is not trivially small.
fn generate() -> Vec<(String, Vec<u8>)> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _(){};=";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..FILES)
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

/// User + system CPU time of all reaped child processes so far.
fn children_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    assert_eq!(rc, 0, "getrusage");
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Wall and child-CPU time of one step.
#[derive(Clone, Copy, Default)]
struct Sample {
    wall: Duration,
    cpu: Duration,
}

struct Timer(Instant, Duration);

fn start() -> Timer {
    Timer(Instant::now(), children_cpu())
}

impl Timer {
    fn stop(self) -> Sample {
        Sample { wall: self.0.elapsed(), cpu: children_cpu().saturating_sub(self.1) }
    }
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
    let server = git_http::GitHttp::start().await;
    let files = generate();
    let refs: Vec<(&str, &[u8])> = files.iter().map(|(p, c)| (p.as_str(), c.as_slice())).collect();
    let t = Instant::now();
    server.create_repo(REPO, &refs).await;
    eprintln!("generated {FILES} files ({} MB) in {:?}", FILES * FILE_BYTES / 1_000_000, t.elapsed());
    drop(refs);
    drop(files);
    server.allow_token(REPO, TOKEN);
    let url = server.clone_url(REPO);
    let token = SecretString::from(TOKEN.to_owned());
    let bot = Identity { name: "maxion[bot]".into(), email: "1+maxion[bot]@users.noreply.github.com".into() };

    let mut samples: Vec<[Sample; 7]> = Vec::new();
    for run in 0..runs {
        let mut row = [Sample::default(); 7];
        let data = tempfile::tempdir()?;
        let cache = MirrorCache::new(data.path())?;

        let t = start();
        let mirror = cache.sync(REPO, &url, &token).await?;
        ensure!(mirror.kind() == SyncKind::Cloned);
        row[0] = t.stop();
        let t = start();
        let wc = mirror.new_branch(&cache.workspace_path("job-1"), "main", &format!("maxion/issue-{run}-a")).await?;
        row[1] = t.stop();
        drop(mirror);
        wc.remove().await?;

        // Upstream moves on between the jobs.
        let name = format!("dir000/upstream-{run}.txt");
        server.commit_files(REPO, "main", &[(name.as_str(), b"upstream change\n")], "upstream").await;

        let t = start();
        let mirror = cache.sync(REPO, &url, &token).await?;
        ensure!(mirror.kind() == SyncKind::Fetched);
        row[2] = t.stop();
        let t = start();
        let branch = format!("maxion/issue-{run}-b");
        let wc = mirror.new_branch(&cache.workspace_path("job-2"), "main", &branch).await?;
        row[3] = t.stop();
        drop(mirror);
        ensure!(wc.dir().join(&name).exists(), "the fetch brought the upstream change");

        std::fs::write(wc.dir().join("dir001/file00100.txt"), "edited by the agent\n")?;
        let t = start();
        let sha = wc.commit_all("feat: bench edit", &bot, None).await?.context("a change to commit")?;
        wc.push(&sha, &url, &token).await?;
        row[4] = t.stop();

        let header = format!(
            "Authorization: Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{TOKEN}"))
        );
        let t = start();
        let status = tokio::process::Command::new("git")
            .args(["clone", "--quiet", &url])
            .arg(data.path().join("fresh"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_CONFIG_COUNT", "1")
            .env("GIT_CONFIG_KEY_0", "http.extraHeader")
            .env("GIT_CONFIG_VALUE_0", header)
            .status()
            .await?;
        ensure!(status.success(), "fresh clone failed");
        row[5] = t.stop();

        // What the pipeline does instead of a checkout: a `.git`-only copy
        // and the base commit as a `git archive` stream (read to the end here,
        // into the sandbox in a job).
        let t = start();
        let mirror = cache.sync(REPO, &url, &token).await?;
        let head = mirror.branch_head("main").await?.context("main exists")?;
        let branch = format!("maxion/issue-{run}-c");
        let wc = mirror.prepare_new_branch_at(&cache.workspace_path("job-3"), "main", &head, &branch).await?;
        drop(mirror);
        let (archive, mut stdout) = wc.archive()?;
        let streamed = tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await?;
        archive.finish().await?;
        ensure!(streamed > (FILES * FILE_BYTES) as u64, "the archive holds the whole tree");
        row[6] = t.stop();
        samples.push(row);
    }

    let med = |i: usize| Sample {
        wall: median(samples.iter().map(|r| r[i].wall).collect()),
        cpu: median(samples.iter().map(|r| r[i].cpu).collect()),
    };
    let sum = |a: Sample, b: Sample| Sample { wall: a.wall + b.wall, cpu: a.cpu + b.cpu };
    let line = |label: &str, s: Sample| println!("| {label} | {} | {} |", secs(s.wall), secs(s.cpu));
    println!("| step | wall, median of {runs} | git CPU (user+sys), median |");
    println!("|---|---|---|");
    line("first job: mirror clone", med(0));
    line("first job: working copy (local clone + checkout)", med(1));
    line("first job: total", sum(med(0), med(1)));
    line("second job: mirror fetch", med(2));
    line("second job: working copy (local clone + checkout)", med(3));
    line("second job: total", sum(med(2), med(3)));
    line("second job, as the pipeline does it: fetch + `.git`-only copy + `git archive` stream", med(6));
    line("fresh full `git clone`", med(5));
    line("commit + push of a one-file change", med(4));
    let second = sum(med(2), med(3));
    println!(
        "\nsecond job vs. fresh full clone: {:.1}x (wall), {:.1}x (CPU)",
        med(5).wall.as_secs_f64() / second.wall.as_secs_f64(),
        med(5).cpu.as_secs_f64() / second.cpu.as_secs_f64()
    );
    println!(
        "streamed second job vs. fresh full clone: {:.1}x (wall), {:.1}x (CPU)",
        med(5).wall.as_secs_f64() / med(6).wall.as_secs_f64(),
        med(5).cpu.as_secs_f64() / med(6).cpu.as_secs_f64()
    );
    Ok(())
}
