//! The instances of a soak: `maxion serve` as separate processes on one
//! PostgreSQL database, each with its own data dir (so its own instance id)
//! and port, SIGKILLed and restarted on the same settings; and the load
//! balancer in front of them that GitHub's webhook URL points at.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// One `maxion serve` process, restarted on the same data dir and port.
pub struct Instance {
    pub port: u16,
    pub data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Instance {
    pub fn new(root: &Path, index: usize) -> anyhow::Result<Instance> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        Ok(Instance {
            port,
            data_dir: root.join(format!("instance-{index}")),
            log: root.join(format!("instance-{index}.log")),
            child: None,
        })
    }

    /// The id the instance leases jobs and labels sandboxes with.
    pub fn id(&self) -> anyhow::Result<String> {
        maxion::worker::instance_id(&self.data_dir)
    }

    /// Starts the process with `env` (its log appended to `instance-N.log`).
    pub fn spawn(&mut self, bin: &Path, env: &[(String, String)]) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = Command::new(bin)
            .arg("serve")
            .current_dir(self.data_dir.parent().unwrap_or(Path::new("/")))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("MAXION_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("MAXION_DATA_DIR", &self.data_dir)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawning {}", bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL, reaped.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGTERM and wait for a clean exit (running jobs get the grace period).
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        let pid = i32::try_from(child.id()).context("pid")?;
        // SAFETY: signalling a child process this struct spawned and has not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let status = tokio::task::spawn_blocking(move || child.wait()).await??;
        if !status.success() {
            bail!("instance on port {} exited {status} after SIGTERM", self.port);
        }
        Ok(())
    }

    /// Waits until `/healthz` answers; fails if the process exited.
    pub async fn healthy(&mut self, limit: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!("instance on port {} exited at start ({status}); see {}", self.port, self.log.display());
            }
            if reqwest::get(format!("http://127.0.0.1:{}/healthz", self.port)).await.is_ok() {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("instance on port {} never answered /healthz; see {}", self.port, self.log.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Log lines at WARN or ERROR level (for the report).
    pub fn log_problems(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().filter(|l| l.contains(" ERROR ") || l.contains(" WARN ")).map(str::to_owned).collect()
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Which instance ports take traffic (a killed one is out until restarted).
#[derive(Clone, Default)]
pub struct Backends(Arc<Mutex<(Vec<u16>, usize)>>);

impl Backends {
    pub fn set(&self, ports: Vec<u16>) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).0 = ports;
    }
    pub fn remove(&self, port: u16) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).0.retain(|p| *p != port);
    }
    pub fn add(&self, port: u16) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).0.push(port);
    }
    fn next(&self) -> Option<u16> {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (ports, turn) = &mut *g;
        if ports.is_empty() {
            return None;
        }
        *turn = turn.wrapping_add(1);
        Some(ports[*turn % ports.len()])
    }
}

/// Puts a restarted instance back into the balancer once it answers.
pub async fn rejoin(port: u16, backends: Backends) {
    while reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    backends.add(port);
}

/// A round-robin reverse proxy for `POST /webhook`, as in front of any
/// multi-instance deployment: an instance that dies mid-request gives a 502,
/// which GitHub records as a failed delivery. Returns its webhook URL.
pub async fn balancer(backends: Backends) -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhook", listener.local_addr()?);
    let app = axum::Router::new().route("/webhook", axum::routing::post(forward)).with_state(backends);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

async fn forward(State(backends): State<Backends>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(port) = backends.next() else {
        return (StatusCode::BAD_GATEWAY, "no instance up").into_response();
    };
    let mut request = reqwest::Client::new().post(format!("http://127.0.0.1:{port}/webhook")).body(body);
    for name in ["content-type", "user-agent", "x-github-event", "x-github-delivery", "x-hub-signature-256"] {
        if let Some(value) = headers.get(name) {
            request = request.header(name, value.clone());
        }
    }
    match request.timeout(Duration::from_secs(10)).send().await {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            (status, answer.bytes().await.unwrap_or_default()).into_response()
        }
        Err(_) => (StatusCode::BAD_GATEWAY, "instance did not answer").into_response(),
    }
}
