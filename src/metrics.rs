//! `/metrics` in Prometheus' text format (the `prometheus-client` crate, not
//! hand-formatted text). Two kinds of figures:
//! - counted in this process as things happen: step durations, GitHub API
//!   calls by operation and status, rate-limit waits;
//! - read from the store at scrape time, so every instance sharing one
//!   database reports the same totals: jobs by state, queue depth, the
//!   oldest queued job's wait, webhook deliveries by event and outcome
//!   (the server reads them and passes [`StoreFigures`] in).
//!
//! This module depends on nothing else in the crate, so the GitHub client
//! and the pipeline can count into it without an import cycle.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

struct Live {
    registry: Registry,
    step_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    github_calls: Family<Labels, Counter>,
    rate_limit_waits: Counter,
    rate_limit_wait_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
}

fn step_histogram() -> Histogram {
    // 0.5 s … ~4.5 h: a step is a git fetch or a whole agent run.
    Histogram::new(exponential_buckets(0.5, 2.5, 12))
}

fn live() -> &'static Live {
    static LIVE: OnceLock<Live> = OnceLock::new();
    LIVE.get_or_init(|| {
        let mut registry = Registry::with_prefix("maxion");
        let step_seconds: Family<Labels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(step_histogram as fn() -> Histogram);
        let github_calls = Family::<Labels, Counter>::default();
        let rate_limit_waits = Counter::default();
        let rate_limit_wait_seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register("step_duration_seconds", "Duration of job steps, by step and result", step_seconds.clone());
        registry.register("github_requests", "GitHub API requests, by operation and HTTP status", github_calls.clone());
        registry.register("github_rate_limit_waits", "Waits for GitHub's rate limits", rate_limit_waits.clone());
        registry.register(
            "github_rate_limit_wait_seconds",
            "Time spent waiting for GitHub's rate limits",
            rate_limit_wait_seconds.clone(),
        );
        Live { registry, step_seconds, github_calls, rate_limit_waits, rate_limit_wait_seconds }
    })
}

/// A job step ended. `fix 2` counts as `fix`: labels stay few.
pub fn step_finished(step: &str, ok: bool, duration: Duration) {
    let step = step.split_whitespace().next().unwrap_or("unknown").to_owned();
    let result = if ok { "passed" } else { "failed" };
    live()
        .step_seconds
        .get_or_create(&vec![("step", step), ("result", result.to_owned())])
        .observe(duration.as_secs_f64());
}

/// A GitHub API call answered (`status` 0: no answer, e.g. a refused connection).
pub fn github_request(operation: &str, status: u16) {
    live().github_calls.get_or_create(&vec![("operation", operation.to_owned()), ("status", status.to_string())]).inc();
}

/// Maxion waited `waited` before a GitHub call because of a rate limit.
pub fn rate_limit_wait(waited: Duration) {
    live().rate_limit_waits.inc();
    live().rate_limit_wait_seconds.inc_by(waited.as_secs_f64());
}

/// What the store holds, read at scrape time.
#[derive(Debug, Default)]
pub struct StoreFigures {
    /// `(state, count)` for every job state.
    pub jobs_by_state: Vec<(&'static str, i64)>,
    pub queued: i64,
    pub oldest_queued_wait: Duration,
    /// `(event, outcome, count)`.
    pub deliveries: Vec<(String, String, i64)>,
}

/// The whole exposition: this process's figures, then the store's.
pub fn render(figures: StoreFigures) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("maxion");
    let jobs = Family::<Labels, Gauge>::default();
    for (state, n) in figures.jobs_by_state {
        jobs.get_or_create(&vec![("state", state.to_owned())]).set(n);
    }
    registry.register("jobs", "Jobs in the store, by state", jobs);
    let depth = Gauge::<i64>::default();
    depth.set(figures.queued);
    registry.register("queue_depth", "Jobs waiting for a worker", depth);
    let wait = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    wait.set(figures.oldest_queued_wait.as_secs_f64());
    registry.register("queue_oldest_wait_seconds", "How long the oldest queued job has waited", wait);
    let deliveries = Family::<Labels, Counter>::default();
    for (event, outcome, n) in figures.deliveries {
        deliveries.get_or_create(&vec![("event", event), ("outcome", outcome)]).inc_by(n.max(0) as u64);
    }
    registry.register("webhook_deliveries", "Webhook deliveries recorded, by event and outcome", deliveries);

    let mut out = String::new();
    encode_registry(&mut out, &live().registry)?;
    encode_registry(&mut out, &registry)?;
    encode_eof(&mut out)?;
    Ok(out)
}
