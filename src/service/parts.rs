//! The parts of the service that need the GitHub App: the worker pool, the
//! control loop and missed-delivery recovery. They start with the service
//! when the App is configured, or later, when the first-run setup puts an App
//! into the [`AppSlot`] (no restart); [`Waiting`] watches for that.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::control::{Control, ControlSettings};
use crate::github::GitHubApp;
use crate::jobs::{Ledger, Store};
use crate::pipeline::git::{GitRetry, MirrorCache};
use crate::pipeline::run::{PipelineContext, run_job};
use crate::report::ReportConfig;
use crate::sandbox::SandboxSettings;
use crate::server::live::AppSlot;
use crate::worker::{Pool, WorkerSettings};

/// A background task and the token that stops it.
type Task = (CancellationToken, JoinHandle<()>);

/// What runs once the App is there.
#[derive(Default)]
pub(super) struct AppParts {
    /// `None` when `MAXION_WORKERS=0`.
    pool: Option<Pool>,
    control: Option<Task>,
    /// `None` when missed-delivery checks are off.
    redelivery: Option<Task>,
}

impl AppParts {
    /// Starts the pool (sweeping what a crash left in Docker first), the
    /// control loop and the missed-delivery checks for `app`.
    pub(super) async fn start(
        settings: &Settings,
        store: &Store,
        ledger: &Ledger,
        app: GitHubApp,
    ) -> anyhow::Result<AppParts> {
        let report = ReportConfig {
            public_url: settings.public_url.clone(),
            update_interval: crate::report::UPDATE_INTERVAL,
            progress_after: crate::report::PROGRESS_AFTER,
        };
        let wake = Arc::clone(&ledger.jobs_available);
        let pool = match settings.workers {
            0 => None,
            _ => Some(start_pool(settings, store.clone(), app.clone(), report.clone(), Arc::clone(&wake)).await?),
        };
        let instance_id = crate::worker::instance_id(&settings.data_dir)?;
        let cs = ControlSettings::new(settings, report, instance_id.clone());
        let control = Control::new(app.clone(), store.clone(), cs, pool.as_ref().map(Pool::canceller), wake);
        let stop = CancellationToken::new();
        let control = Some((stop.clone(), control.spawn(Arc::clone(&ledger.control_available), stop)));
        // Started once the listener serves: what GitHub redelivers comes straight back.
        let redelivery = settings.resilience.redelivery_interval.map(|interval| {
            let holder = format!("{instance_id}:{}", std::process::id());
            let stop = CancellationToken::new();
            let task = crate::redelivery::Redelivery::new(app, store.clone(), holder).spawn(interval, stop.clone());
            (stop, task)
        });
        Ok(AppParts { pool, control, redelivery })
    }

    /// Control first (no admission while stopping), jobs next (they get the grace period).
    pub(super) async fn stop(self) {
        if let Some((stop, task)) = self.redelivery {
            // A check cut short asked for nothing twice: its claims are stored.
            stop.cancel();
            let _ = task.await;
        }
        if let Some((stop, mut task)) = self.control {
            stop.cancel();
            // A request cut short is leased, not lost: it is handled again later.
            if tokio::time::timeout(Duration::from_secs(5), &mut task).await.is_err() {
                task.abort();
            }
        }
        if let Some(pool) = self.pool {
            pool.shutdown().await;
        }
    }
}

/// Waits for the first-run setup to configure the App, then starts its parts.
pub(super) struct Waiting {
    stop: CancellationToken,
    task: JoinHandle<()>,
    parts: Arc<Mutex<Option<AppParts>>>,
}

impl Waiting {
    pub(super) fn spawn(settings: Arc<Settings>, store: Store, ledger: Ledger, slot: &AppSlot) -> Waiting {
        let mut changes = slot.subscribe();
        let stop = CancellationToken::new();
        let parts = Arc::new(Mutex::new(None));
        let (cancelled, held) = (stop.clone(), Arc::clone(&parts));
        let task = tokio::spawn(async move {
            let app = tokio::select! {
                () = cancelled.cancelled() => return,
                app = changes.wait_for(Option::is_some) => match app {
                    Ok(app) => app.as_ref().map(|a| a.github.clone()),
                    Err(_) => return,
                },
            };
            let Some(app) = app else { return };
            // Held while starting, so a stop waits for a start under way.
            let mut slot = held.lock().await;
            if cancelled.is_cancelled() {
                return;
            }
            match AppParts::start(&settings, &store, &ledger, app).await {
                Ok(parts) => {
                    tracing::info!("{}", crate::report::text::setup::PARTS_STARTED);
                    *slot = Some(parts);
                }
                Err(e) => tracing::error!("{}", crate::report::text::setup::parts_failed(&format!("{e:#}"))),
            }
        });
        Waiting { stop, task, parts }
    }

    /// Stops waiting, and stops what the App started meanwhile.
    pub(super) async fn stop(self) {
        self.stop.cancel();
        let parts = self.parts.lock().await.take();
        let _ = self.task.await;
        if let Some(parts) = parts {
            parts.stop().await;
        }
    }
}

/// Sweeps what a crashed predecessor left in Docker, then starts the pool.
async fn start_pool(
    settings: &Settings,
    store: Store,
    app: GitHubApp,
    report: ReportConfig,
    wake: Arc<tokio::sync::Notify>,
) -> anyhow::Result<Pool> {
    let p = &settings.pipeline;
    let instance_id = crate::worker::instance_id(&settings.data_dir)?;
    let docker = crate::sandbox::connect().await.context("the worker pool needs a Docker Engine")?;
    match crate::sandbox::sweep_orphans(&docker, &instance_id).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(removed = n, "removed sandboxes left behind by a previous run"),
        Err(e) => tracing::warn!(error = %e, "sweeping orphaned sandboxes failed"),
    }
    let mut agent_secrets = Vec::new();
    for name in &p.agent_secrets {
        let Ok(value) = std::env::var(name) else {
            anyhow::bail!("MAXION_AGENT_SECRETS: the environment variable {name} is not set");
        };
        let value = secrecy::SecretString::from(value);
        let _ = crate::masker::global().add(&value);
        agent_secrets.push((name.clone(), value));
    }
    let filtered_in_use = p.sandbox_network == crate::sandbox::NetworkMode::Filtered
        || p.allowed_network_modes.contains(&crate::sandbox::NetworkMode::Filtered);
    if filtered_in_use {
        check_dns_isolation(&docker, &p.sandbox_image, &instance_id).await?;
    }
    let egress = crate::egress::EgressService::new(
        &settings.egress,
        crate::gateway::Gateway::new(
            settings.egress.anthropic.clone(),
            settings.egress.openai.clone(),
            settings.egress.prices.clone(),
        )
        .with_llm_timeout(settings.egress.llm_timeout),
        crate::sandbox::docker_subnets(&docker).await.unwrap_or_default(),
        settings.egress.budget,
    );
    let sandbox = SandboxSettings {
        image: p.sandbox_image.clone(),
        network: p.sandbox_network,
        egress_port: settings.egress.port,
        job_deadline: p.job_timeout,
        exec_timeout: p.job_timeout,
        instance_id: instance_id.clone(),
        ..SandboxSettings::default()
    };
    let ctx = Arc::new(PipelineContext {
        app,
        store: store.clone(),
        docker,
        mirrors: MirrorCache::new(&settings.data_dir)
            .context("MAXION_DATA_DIR: cannot set up the mirror cache")?
            .with_retry(GitRetry::with_retries(settings.resilience.git_retries)),
        report,
        sandbox,
        agent_secrets,
        bounds: crate::repoconfig::Bounds::from_settings(p).with_egress(&settings.egress),
        verify_commands: p.verify_commands.clone(),
        data_dir: settings.data_dir.clone(),
        egress: Some(egress),
    });
    let mut workers = WorkerSettings::new(settings.workers, instance_id);
    workers.grace = p.shutdown_grace;
    let recovered: crate::worker::Recovered = {
        let ctx = Arc::clone(&ctx);
        Arc::new(move |id| Box::pin(crate::pipeline::run::report_recovered_end(Arc::clone(&ctx), id)))
    };
    let runner = move |job, cancel| run_job(Arc::clone(&ctx), job, cancel);
    let pool = Pool::start(store, workers, wake, runner, Some(recovered)).await?;
    Ok(pool)
}

/// Refuses mode `filtered` on an engine whose embedded DNS resolves outside
/// names on internal networks (CVE-2024-29018): judged by trying, never by
/// the version string.
async fn check_dns_isolation(docker: &bollard::Docker, image: &str, instance_id: &str) -> anyhow::Result<()> {
    match crate::sandbox::check_internal_dns(docker, image, instance_id).await {
        Ok(crate::sandbox::DnsCheck::Isolated) => Ok(()),
        Ok(crate::sandbox::DnsCheck::Leaks { engine_version }) => {
            anyhow::bail!(crate::report::text::doctor::filtered_refused_at_start(&engine_version))
        }
        Err(e) => anyhow::bail!(crate::report::text::doctor::filtered_unchecked_at_start(&e.to_string())),
    }
}
