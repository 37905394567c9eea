//! Starting and stopping the whole service: store, ledger, HTTP server (and,
//! as later pieces land, the worker pool). `maxion serve` and the integration
//! tests both go through [`start`], so tests run the real thing.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::jobs::{JobRate, Ledger, Store};
use crate::server::{AppState, router};

/// A running service.
pub struct Running {
    /// The address actually bound (useful when listening on port 0).
    pub addr: SocketAddr,
    pub store: Store,
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
    let app = router(AppState::new(settings, store.clone(), ledger));
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).with_graceful_shutdown(async move { stop.cancelled().await }).await
    });
    tracing::info!(%addr, "maxion listening");
    Ok(Running { addr, store, shutdown, server })
}

impl Running {
    /// Stops accepting connections, lets in-flight requests finish, and returns.
    pub async fn stop(self) -> anyhow::Result<()> {
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
