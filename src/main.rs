//! The `maxion` command: `serve` runs the service, `migrate` applies migrations,
//! `doctor` checks what jobs need.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use maxion::config::{RawSettings, Settings};

/// Maxion: a self-hosted GitHub App that turns issues into verified pull
/// requests written by a coding agent in a locked-down Docker sandbox.
///
/// Settings come from flags, environment variables (a .env file in the
/// working directory is read if present), and a TOML file given with
/// --config whose keys are the variable names in lower case. Flags and the
/// environment win over the file.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    /// A TOML file with settings (e.g. `database_url = "postgres://…"`).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: RawSettings,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: webhook intake, JSON API, and job workers.
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Check what jobs need, one line per check (✔, or ✘ with the fix); exit 0 only if all pass.
    Doctor,
}

fn main() -> ExitCode {
    // A missing .env is normal; a broken one is worth saying.
    if let Err(e) = dotenvy::dotenv()
        && !e.not_found()
    {
        eprintln!("error: .env: {e}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    maxion::telemetry::init();
    let doctor = matches!(cli.command, Command::Doctor);
    let settings = match Settings::load(cli.settings, cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) if doctor => {
            let error = maxion::masker::global().mask(&format!("{e:#}"));
            println!("{}", maxion::doctor::settings_failed(&error).line);
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("error: {}", maxion::masker::global().mask(&format!("{e:#}")));
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve => maxion::service::start(settings).await?.run_until_signal().await,
            Command::Doctor => {
                let checks = maxion::doctor::run(&settings).await;
                for check in &checks {
                    println!("{}", maxion::masker::global().mask(&check.line));
                }
                if checks.iter().all(|c| c.ok) {
                    Ok(())
                } else {
                    Err(anyhow::anyhow!("{}", maxion::report::text::doctor::FAILED))
                }
            }
            Command::Migrate => {
                maxion::jobs::Store::open(&settings.database_url).await?;
                println!("migrations applied");
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", maxion::masker::global().mask(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}
