//! The short form of the chaos soak (`examples/soak.rs` runs the full one):
//! three `maxion serve` processes on one PostgreSQL database, the fake
//! GitHub failing 5% of calls, 30 jobs, three SIGKILLs with restarts. Any
//! lost job, duplicate (job, PR, status comment, reply, check run), job not
//! shown as ended on GitHub, unstored delivery or leftover sandbox fails it.

use std::time::Duration;

use crate::support::soak::{self, Config};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_jobs_through_three_sigkills_and_flaky_github_lose_and_duplicate_nothing() {
    let config = Config {
        bin: env!("CARGO_BIN_EXE_maxion").into(),
        jobs: 30,
        kills: 3,
        instances: 3,
        kill_every: Duration::from_secs(10),
        label_every: Duration::from_millis(500),
        workers: 2,
        installations: 6,
        chaos_per_mille: 50,
        seed: 0x5EED,
        quiet_limit: Duration::from_secs(240),
    };
    let Some(report) = soak::run(config).await.expect("the soak runs") else { return };
    eprintln!("{report}");
    assert!(report.findings.is_empty(), "the soak found problems:\n{report}");
    assert_eq!(report.kills, 3);
    assert_eq!(report.latencies.len(), 30, "every job ended: {report}");
    assert!(report.retries() > 0, "the fake GitHub failed no call: the soak tested nothing");
}
