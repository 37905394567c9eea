//! Starting and stopping the whole service: store, ledger, HTTP server and,
//! when the GitHub App is configured, the control loop (admission and
//! commands), the sandbox sweep and the worker pool running the pipeline. `maxion serve` and the integration tests both go
//! through [`start`], so tests run the real thing.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::control::{Control, ControlSettings};
use crate::github::{GitHubApp, GitHubConfig};
use crate::jobs::{JobRate, Ledger, Store};
use crate::pipeline::git::{GitRetry, MirrorCache};
use crate::pipeline::run::{PipelineContext, run_job};
use crate::report::ReportConfig;
use crate::sandbox::SandboxSettings;
use crate::server::{AppState, router};
use crate::worker::{Pool, WorkerSettings};

/// A running service.
pub struct Running {
    /// The address actually bound (useful when listening on port 0).
    pub addr: SocketAddr,
    pub store: Store,
    /// The worker pool; `None` when the App is not configured or `MAXION_WORKERS=0`.
    pub pool: Option<Pool>,
    /// The control loop; `None` when the App is not configured.
    control: Option<(CancellationToken, JoinHandle<()>)>,
    /// Missed-delivery recovery; `None` when off or the App is not configured.
    redelivery: Option<(CancellationToken, JoinHandle<()>)>,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

/// Opens the store (migrating it), binds the listener and starts serving.
pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    if settings.app.is_none() {
        tracing::warn!(
            "GitHub App not configured (missing: {}); serving /healthz only, webhooks answer 503",
            settings.missing.join(", ")
        );
    }
    let store = Store::open(&settings.database_url).await?;
    let ledger =
        Ledger::start(store.clone(), JobRate { per_minute: settings.jobs_per_minute, burst: settings.jobs_burst });
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("MAXION_LISTEN: cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let wake = Arc::clone(&ledger.jobs_available);
    let app = match &settings.app {
        Some(creds) => {
            let mut config = GitHubConfig::new(&settings.github_api_url, creds.app_id, creds.private_key.clone());
            config.quota.min_interval = settings.github_mutation_interval;
            Some(GitHubApp::new(config).context("building the GitHub client")?)
        }
        None => None,
    };
    let report = ReportConfig {
        public_url: settings.public_url.clone(),
        update_interval: crate::report::UPDATE_INTERVAL,
        progress_after: crate::report::PROGRESS_AFTER,
    };
    let pool = match &app {
        Some(app) if settings.workers > 0 => {
            Some(start_pool(&settings, store.clone(), app.clone(), report.clone(), Arc::clone(&wake)).await?)
        }
        _ => None,
    };
    let github = app.clone();
    let redelivery_app = app.clone();
    let control = match app {
        Some(app) => {
            let instance_id = crate::worker::instance_id(&settings.data_dir)?;
            let cs = ControlSettings::new(&settings, report, instance_id);
            let control = Control::new(app, store.clone(), cs, pool.as_ref().map(Pool::canceller), wake);
            let stop = CancellationToken::new();
            Some((stop.clone(), control.spawn(Arc::clone(&ledger.control_available), stop)))
        }
        None => None,
    };
    let redelivery = match (redelivery_app, settings.resilience.redelivery_interval) {
        (Some(app), Some(interval)) => {
            let holder = format!("{}:{}", crate::worker::instance_id(&settings.data_dir)?, std::process::id());
            Some((app, interval, holder))
        }
        _ => None,
    };
    let redelivery_store = store.clone();
    let state = AppState::new(settings, store.clone(), ledger).with_github(github);
    let app = router(state.clone()).merge(crate::web::routes(state));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await
    });
    tracing::info!(%addr, "maxion listening");
    // After the listener is serving: what GitHub redelivers comes straight back here.
    let redelivery = redelivery.map(|(app, interval, holder)| {
        let stop = CancellationToken::new();
        let task = crate::redelivery::Redelivery::new(app, redelivery_store, holder).spawn(interval, stop.clone());
        (stop, task)
    });
    Ok(Running { addr, store, pool, control, redelivery, shutdown, server })
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
        ),
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
    let pool = Pool::start(store, workers, wake, move |job, cancel| run_job(Arc::clone(&ctx), job, cancel)).await?;
    Ok(pool)
}

/// Refuses mode `filtered` on an engine whose embedded DNS resolves outside
/// names on internal networks (CVE-2024-29018): judged by trying, never by
/// the version string.
async fn check_dns_isolation(docker: &bollard::Docker, image: &str, instance_id: &str) -> anyhow::Result<()> {
    match crate::sandbox::check_internal_dns(docker, image, instance_id).await {
        Ok(crate::sandbox::DnsCheck::Isolated) => Ok(()),
        Ok(crate::sandbox::DnsCheck::Leaks { engine_version }) => anyhow::bail!(
            "MAXION_SANDBOX_NETWORK: network mode `filtered` is refused: this Docker Engine ({engine_version}) \
             resolves outside names on internal networks (CVE-2024-29018; fixed in 26.0.0, 25.0.4 and 23.0.11), \
             so a sandbox could leak data through DNS. Upgrade the engine or use `none`/`open`."
        ),
        Err(e) => anyhow::bail!("MAXION_SANDBOX_NETWORK: the DNS isolation check for `filtered` could not run: {e}"),
    }
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, and returns.
    pub async fn stop(self) -> anyhow::Result<()> {
        // Control first (no admission while stopping), jobs next (they get
        // the grace period), then the server.
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
        self.shutdown.cancel();
        self.server.await.context("the server task panicked")?.context("the server failed")?;
        Ok(())
    }

    /// Waits for SIGTERM or SIGINT, then stops.
    pub async fn run_until_signal(self) -> anyhow::Result<()> {
        wait_for_signal().await;
        tracing::info!("shutting down");
        self.stop().await
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
