//! The chaos soak (see `tests/support/soak/`): `maxion serve` instances on
//! one PostgreSQL database, the fake GitHub failing calls at random, jobs
//! from signed webhooks in real Docker sandboxes, one instance SIGKILLed and
//! restarted every few seconds, then a quiet period and the checks.
//!
//! ```sh
//! export MAXION_TEST_IMAGE=$(bash docker/build-test-image.sh | tail -n1)
//! export MAXION_TEST_POSTGRES_URL=postgres://USER:PASSWORD@127.0.0.1:5432/postgres
//! cargo build --release && cargo run --release --example soak -- [--jobs 200 --kills 20 --instances 3 ...]
//! ```
//! Options: `--jobs`, `--kills`, `--instances`, `--kill-every SECS`,
//! `--label-every MS`, `--workers`, `--installations`, `--chaos PER_MILLE`,
//! `--seed`, `--quiet-limit SECS`, `--bin PATH` (default: `maxion` next to
//! this example's directory, i.e. `target/release/maxion`). Exits 1 on any
//! finding.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Duration;

use anyhow::{Context, bail};
use support::soak::{self, Config};

fn parse(args: &[String]) -> anyhow::Result<Config> {
    let exe = std::env::current_exe()?;
    let mut c = Config {
        bin: exe.parent().and_then(|d| d.parent()).context("no target dir")?.join("maxion"),
        jobs: 200,
        kills: 20,
        instances: 3,
        kill_every: Duration::from_secs(10),
        label_every: Duration::from_millis(500),
        workers: 2,
        installations: 8,
        chaos_per_mille: 50,
        seed: 0x5EED,
        quiet_limit: Duration::from_secs(1800),
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        let n = || value.parse::<u64>().with_context(|| format!("{flag}: not a number: {value}"));
        match flag.as_str() {
            "--jobs" => c.jobs = n()? as usize,
            "--kills" => c.kills = n()? as usize,
            "--instances" => c.instances = n()?.max(1) as usize,
            "--kill-every" => c.kill_every = Duration::from_secs(n()?),
            "--label-every" => c.label_every = Duration::from_millis(n()?),
            "--workers" => c.workers = n()? as usize,
            "--installations" => c.installations = n()?.max(1) as usize,
            "--chaos" => c.chaos_per_mille = u32::try_from(n()?)?.min(1000),
            "--seed" => c.seed = n()?,
            "--quiet-limit" => c.quiet_limit = Duration::from_secs(n()?),
            "--bin" => c.bin = value.into(),
            other => bail!("unknown option {other}"),
        }
    }
    if !c.bin.exists() {
        bail!("{} does not exist: run `cargo build --release` first (or give --bin)", c.bin.display());
    }
    Ok(c)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = parse(&args)?;
    eprintln!("soak: {config:?}");
    let Some(report) = soak::run(config).await? else { bail!("the soak could not run (see above)") };
    println!("{report}");
    for line in &report.log_problems {
        println!("log: {line}");
    }
    if !report.findings.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
