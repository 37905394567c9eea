//! The chaos soak: several `maxion serve` processes on one PostgreSQL
//! database behind a load balancer, the fake GitHub failing a share of
//! calls at random (5xx, lost answers, secondary rate limits), jobs from
//! signed webhooks running the scripted agent in real Docker sandboxes,
//! one instance SIGKILLed and restarted at a steady pace, then a quiet
//! period and the checks (`check.rs`). Used by `examples/soak.rs` (the full
//! run) and the short CI form in `tests/it/soak.rs`.

mod check;
mod cluster;
mod world;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::SecretString;

use crate::support::fake_github::FakeGitHub;
use crate::support::service::{AGENT_COMMAND, WEBHOOK_SECRET};

use cluster::{Backends, Instance};

/// The shape of one soak.
#[derive(Clone, Debug)]
pub struct Config {
    /// The `maxion` binary the instances run.
    pub bin: PathBuf,
    pub jobs: usize,
    pub kills: usize,
    pub instances: usize,
    pub kill_every: Duration,
    /// Pause between two labelled issues.
    pub label_every: Duration,
    /// Jobs at once per instance (`MAXION_WORKERS`).
    pub workers: usize,
    /// Installations the jobs are spread over (GitHub limits each one).
    pub installations: usize,
    /// Calls in 1000 the fake GitHub fails.
    pub chaos_per_mille: u32,
    pub seed: u64,
    /// The longest the quiet period after the last kill may last.
    pub quiet_limit: Duration,
}

/// What a soak measured and found.
#[derive(Debug, Default)]
pub struct Report {
    pub jobs: usize,
    pub by_state: std::collections::BTreeMap<String, usize>,
    /// Why the jobs that did not succeed ended as they did.
    pub reasons: std::collections::BTreeMap<String, usize>,
    pub kills: usize,
    pub wall: Duration,
    pub injected: std::collections::BTreeMap<&'static str, u64>,
    pub redeliveries: usize,
    pub failed_attempts: usize,
    /// Label sent → job finished, sorted.
    pub latencies: Vec<Duration>,
    /// Every loss, duplicate or leftover, one line each.
    pub findings: Vec<String>,
    /// Warnings and errors the instances logged (a sample).
    pub log_problems: Vec<String>,
    /// Where the instances' logs are (kept when there are findings).
    pub dir: Option<PathBuf>,
}

impl Report {
    pub fn jobs_per_minute(&self) -> f64 {
        self.jobs as f64 / (self.wall.as_secs_f64() / 60.0).max(f64::EPSILON)
    }
    pub fn percentile(&self, p: f64) -> Duration {
        let n = self.latencies.len();
        if n == 0 {
            return Duration::ZERO;
        }
        self.latencies[((n as f64 * p).ceil() as usize).clamp(1, n) - 1]
    }
    pub fn retries(&self) -> u64 {
        self.injected.values().sum()
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "jobs: {} ({:?})", self.jobs, self.by_state)?;
        if !self.reasons.is_empty() {
            writeln!(f, "reasons of the jobs that did not succeed: {:?}", self.reasons)?;
        }
        writeln!(f, "wall time (first label → last job end): {:.1} s", self.wall.as_secs_f64())?;
        writeln!(f, "jobs/min: {:.1}", self.jobs_per_minute())?;
        writeln!(f, "kills survived: {}", self.kills)?;
        writeln!(f, "GitHub calls failed by the fake, so retried: {} ({:?})", self.retries(), self.injected)?;
        writeln!(
            f,
            "webhook deliveries failed: {}, redelivered on Maxion's request: {}",
            self.failed_attempts, self.redeliveries
        )?;
        writeln!(
            f,
            "latency label → job end: p50 {:.1} s, p99 {:.1} s",
            self.percentile(0.5).as_secs_f64(),
            self.percentile(0.99).as_secs_f64()
        )?;
        writeln!(f, "findings: {}", self.findings.len())?;
        for line in &self.findings {
            writeln!(f, "- {line}")?;
        }
        if let Some(dir) = &self.dir {
            writeln!(f, "instance logs: {}", dir.display())?;
        }
        Ok(())
    }
}

/// The settings every instance runs with (listen address and data dir are its own).
fn env(c: &Config, gh: &FakeGitHub, database: &str, image: &str) -> Vec<(String, String)> {
    [
        ("GITHUB_APP_ID", gh.app_id().to_string()),
        ("GITHUB_APP_PRIVATE_KEY", gh.private_key_pem().to_owned()),
        ("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET.to_owned()),
        ("GITHUB_API_URL", gh.url().to_owned()),
        ("DATABASE_URL", database.to_owned()),
        ("MAXION_PUBLIC_URL", "https://maxion.example".to_owned()),
        ("MAXION_WORKERS", c.workers.to_string()),
        ("MAXION_SANDBOX_IMAGE", image.to_owned()),
        ("MAXION_SANDBOX_NETWORK", "filtered".to_owned()),
        ("MAXION_AGENT", "custom".to_owned()),
        ("MAXION_AGENT_COMMAND", AGENT_COMMAND.to_owned()),
        ("MAXION_VERIFY_COMMANDS", "test -f ok.txt".to_owned()),
        // The soak's load is the point: no job is turned away for its rate.
        ("MAXION_JOBS_PER_MINUTE", "100000".to_owned()),
        ("MAXION_JOBS_BURST", "100000".to_owned()),
        ("MAXION_REDELIVERY_INTERVAL", "10".to_owned()),
        ("MAXION_SHUTDOWN_GRACE", "10".to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Runs one soak; `None` (after saying why) without Docker, the test image
/// or PostgreSQL, which under `CI=true` is a failure instead.
pub async fn run(c: Config) -> anyhow::Result<Option<Report>> {
    let Some((docker, image)) = crate::support::docker::engine_and_image("the soak").await else { return Ok(None) };
    let Ok(admin) = std::env::var("MAXION_TEST_POSTGRES_URL") else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but MAXION_TEST_POSTGRES_URL is not set");
        eprintln!("SKIPPED (the soak needs PostgreSQL): MAXION_TEST_POSTGRES_URL is not set");
        return Ok(None);
    };
    let root = tempfile::tempdir()?;
    let gh = Arc::new(FakeGitHub::start().await);
    let repos = Arc::new(world::repos(&gh, c.installations));
    let db = world::Database::create(&admin).await?;
    let store = maxion::jobs::Store::open(&SecretString::from(db.url.clone())).await?;
    let env = env(&c, &gh, &db.url, &image);

    let mut instances = (0..c.instances).map(|i| Instance::new(root.path(), i)).collect::<anyhow::Result<Vec<_>>>()?;
    for i in &mut instances {
        i.spawn(&c.bin, &env)?;
    }
    for i in &mut instances {
        i.healthy(Duration::from_secs(60)).await?;
    }
    let ids = instances.iter().map(Instance::id).collect::<anyhow::Result<Vec<_>>>()?;
    let backends = Backends::default();
    backends.set(instances.iter().map(|i| i.port).collect());
    gh.set_webhook(&cluster::balancer(backends.clone()).await?, WEBHOOK_SECRET);
    gh.chaos(c.chaos_per_mille, c.seed);

    let start = Instant::now();
    let labelling = tokio::spawn({
        let (gh, repos, every, jobs) = (Arc::clone(&gh), Arc::clone(&repos), c.label_every, c.jobs);
        async move {
            let mut labelled = Vec::with_capacity(jobs);
            for n in 0..jobs {
                labelled.push(world::label(&gh, &repos, n).await);
                tokio::time::sleep(every).await;
            }
            labelled
        }
    });
    // A kill every `kill_every`, round robin; the victim restarts at once and
    // rejoins the balancer when it answers, while the next kill goes ahead.
    let mut kills = 0;
    let mut next = tokio::time::Instant::now() + c.kill_every;
    while kills < c.kills {
        tokio::time::sleep_until(next).await;
        next += c.kill_every;
        let victim = &mut instances[kills % c.instances];
        victim.healthy(Duration::from_secs(120)).await.with_context(|| format!("restart before kill {}", kills + 1))?;
        victim.kill()?;
        backends.remove(victim.port);
        kills += 1;
        victim.spawn(&c.bin, &env)?;
        tokio::spawn(cluster::rejoin(victim.port, backends.clone()));
        eprintln!("soak: kill {kills}/{} ({:.0} s)", c.kills, start.elapsed().as_secs_f64());
    }
    for i in &mut instances {
        i.healthy(Duration::from_secs(120)).await.context("restart after the last kill")?;
    }
    let labelled = labelling.await?;

    // The quiet period: no more kills; every job must end and show it on GitHub.
    // Once every job has ended, GitHub gets a minute to show it; what is
    // still wrong then stays wrong (a duplicate does not go away).
    let deadline = Instant::now() + c.quiet_limit;
    let mut settled: Option<Instant> = None;
    let mut findings = loop {
        let jobs = check::jobs_by_issue(&store, &repos).await?;
        let findings: Vec<String> =
            labelled.iter().flat_map(|l| check::issue_findings(&gh, &repos, l, jobs.get(&(l.repo, l.issue)))).collect();
        let running = findings.iter().any(|f| f.contains(" still ") || f.contains("no job"));
        if !running && settled.is_none() {
            settled = Some(Instant::now() + Duration::from_secs(60));
        }
        if findings.is_empty() || Instant::now() > deadline || settled.is_some_and(|s| Instant::now() > s) {
            break findings;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    gh.calm();
    let jobs = check::jobs_by_issue(&store, &repos).await?;
    let wall = jobs.values().flatten().filter_map(|j| j.finished_at).max().map(|end| {
        let first = labelled.first().map(|l| l.sent_at).unwrap_or(end);
        (end - first).to_std().unwrap_or_default()
    });
    findings.extend(check::delivery_findings(&gh, &store).await?);
    // Sandboxes go when their job's end is recorded; give removal a moment.
    let until = Instant::now() + Duration::from_secs(30);
    let leftovers = loop {
        let left = check::docker_leftovers(&docker, &ids).await?;
        if left.is_empty() || Instant::now() > until {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    findings.extend(leftovers);
    for i in &mut instances {
        if let Err(e) = i.stop().await {
            findings.push(format!("{e:#}"));
        }
    }
    findings.extend(gh.take_violations().into_iter().map(|v| format!("fake GitHub: {v}")));

    let mut report =
        Report { jobs: labelled.len(), kills, wall: wall.unwrap_or_default(), findings, ..Default::default() };
    for l in &labelled {
        if let Some(job) = jobs.get(&(l.repo, l.issue)).and_then(|j| j.first()) {
            *report.by_state.entry(job.state.to_string()).or_default() += 1;
            if let Some(reason) = &job.error {
                *report.reasons.entry(reason.clone()).or_default() += 1;
            }
            if let Some(end) = job.finished_at {
                report.latencies.push((end - l.sent_at).to_std().unwrap_or_default());
            }
        }
    }
    report.latencies.sort();
    report.injected = gh.chaos_injected();
    let attempts = gh.hook_attempts();
    report.failed_attempts = attempts.iter().filter(|a| !a.succeeded()).count();
    report.redeliveries = attempts.iter().filter(|a| a.redelivery).count();
    report.log_problems = instances.iter().flat_map(Instance::log_problems).take(40).collect();
    drop(instances);
    store.pool_close().await;
    db.drop_it().await?;
    if !report.findings.is_empty() {
        let dir = root.keep();
        std::fs::write(dir.join("report.txt"), report.to_string())?;
        report.dir = Some(dir);
    }
    Ok(Some(report))
}
