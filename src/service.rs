//! Starting and stopping the whole service: store, ledger, HTTP server and,
//! when the GitHub App is configured, the control loop (admission and
//! commands), the sandbox sweep and the worker pool running the pipeline
//! (`parts.rs`). Without an App the service serves the first-run setup and
//! starts those parts when the setup configures one. `maxion serve` and the
//! integration tests both go through [`start`], so tests run the real thing.

mod parts;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::jobs::{JobRate, Ledger, Store};
use crate::server::live::{AppSlot, LiveApp};
use crate::server::{AppState, router};
use parts::{AppParts, Waiting};

/// A running service.
pub struct Running {
    /// The address actually bound (useful when listening on port 0).
    pub addr: SocketAddr,
    pub store: Store,
    /// What needs the App: started with the service, or once the setup configures it.
    app: AppRun,
    shutdown: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
}

enum AppRun {
    Started(AppParts),
    Waiting(Waiting),
}

/// Opens the store (migrating it), binds the listener and starts serving.
pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    let live = match &settings.app {
        Some(creds) => Some(LiveApp::build(&settings, creds, settings.web.oauth.as_ref())?),
        None => {
            tracing::warn!("{}", crate::report::text::setup::not_configured_log(&settings.missing));
            None
        }
    };
    let store = Store::open(&settings.database_url).await?;
    let ledger =
        Ledger::start(store.clone(), JobRate { per_minute: settings.jobs_per_minute, burst: settings.jobs_burst });
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("MAXION_LISTEN: cannot listen on {}", settings.listen))?;
    let addr = listener.local_addr()?;
    let slot = AppSlot::new(live);
    let state = AppState::new(settings, store.clone(), ledger.clone(), slot.clone());
    let settings = Arc::clone(&state.settings);
    let app = router(state.clone()).merge(crate::web::routes(state));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        // The peer's address tells the setup pages whether a request comes from this machine.
        let service = app.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, service).with_graceful_shutdown(async move { stop.cancelled().await }).await
    });
    tracing::info!(%addr, "maxion listening");
    let app = match slot.current() {
        Some(live) => match AppParts::start(&settings, &store, &ledger, live.github.clone()).await {
            Ok(parts) => AppRun::Started(parts),
            Err(e) => {
                shutdown.cancel();
                let _ = server.await;
                return Err(e);
            }
        },
        None => AppRun::Waiting(Waiting::spawn(Arc::clone(&settings), store.clone(), ledger, &slot)),
    };
    Ok(Running { addr, store, app, shutdown, server })
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, and returns.
    pub async fn stop(self) -> anyhow::Result<()> {
        // The App's parts first (control, then jobs with their grace period), then the server.
        match self.app {
            AppRun::Started(parts) => parts.stop().await,
            AppRun::Waiting(waiting) => waiting.stop().await,
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
