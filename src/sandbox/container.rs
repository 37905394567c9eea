//! A running sandbox: start (image check, own network, container), the
//! watchdog that kills it on cancellation or at the job deadline, the guard
//! that removes it however the job ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, RemoveContainerOptionsBuilder,
};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::retry::{is_conflict, retrying};
use super::settings::{NetworkMode, SandboxSettings};
use super::spec::container_spec;
use super::{LABEL_INSTANCE, LABEL_JOB, SandboxError, status_of};

/// Connects to the Docker Engine named by `DOCKER_HOST` (or the local socket)
/// and settles on an API version both sides speak.
pub async fn connect() -> Result<Docker, SandboxError> {
    let docker = Docker::connect_with_defaults().map_err(SandboxError::Unavailable)?;
    let docker = docker.negotiate_version().await.map_err(SandboxError::Unavailable)?;
    docker.ping().await.map_err(SandboxError::Unavailable)?;
    Ok(docker)
}

/// Where a sandbox is in its life. Anything but `Alive` is final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxState {
    Alive,
    /// The job's cancellation token fired; the container was killed.
    Cancelled,
    /// The job deadline passed; the container was killed.
    TimedOut,
    /// Killed because an exec could not be stopped any other way.
    Lost(String),
    /// Removed by its owner.
    Removed,
}

/// What the watchdog, the guard and the sandbox share.
pub(crate) struct Shared {
    pub(crate) docker: Docker,
    pub(crate) container: String,
    network: Option<String>,
    /// The id of the network the host firewall guards (root only).
    guarded: Option<String>,
    /// The host's address on the job network (its gateway).
    host_address: Option<std::net::IpAddr>,
    pub(crate) state: watch::Sender<SandboxState>,
    removed: AtomicBool,
    pub(crate) job_deadline: Duration,
    /// OOM kills seen so far (cgroup counter), to attribute new ones to an exec.
    pub(crate) oom_seen: AtomicU64,
}

impl Shared {
    /// Moves to a final state (first one wins) and SIGKILLs the container.
    pub(crate) async fn kill(&self, why: SandboxState) {
        self.state.send_if_modified(|s| {
            if *s == SandboxState::Alive {
                *s = why;
                true
            } else {
                false
            }
        });
        let opts = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        // 404/409: already gone or not running, which is what we want.
        let _ = self.docker.kill_container(&self.container, Some(opts)).await;
    }

    /// The error for a dead sandbox, once its container is surely killed
    /// (the watchdog may still be on its way to the engine).
    pub(crate) async fn dead_error_after_kill(&self) -> SandboxError {
        let opts = KillContainerOptionsBuilder::new().signal("SIGKILL").build();
        let _ = self.docker.kill_container(&self.container, Some(opts)).await;
        self.dead_error().unwrap_or(SandboxError::Gone("killed".to_owned()))
    }

    /// Removes the container and its network; idempotent.
    pub(crate) async fn remove(&self) -> Result<(), SandboxError> {
        if self.removed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.state.send_if_modified(|s| {
            if *s == SandboxState::Alive {
                *s = SandboxState::Removed;
                true
            } else {
                false
            }
        });
        let opts = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        let res = match self.docker.remove_container(&self.container, Some(opts)).await {
            Err(e) if status_of(&e) != Some(404) => Err(SandboxError::docker("remove container")(e)),
            _ => Ok(()),
        };
        if let Some(net) = &self.network
            && let Err(e) = self.docker.remove_network(net).await
            && status_of(&e) != Some(404)
        {
            tracing::warn!(network = %net, error = %e, "could not remove sandbox network");
        }
        if let Some(id) = &self.guarded {
            super::firewall::unguard(id).await;
        }
        res
    }

    /// The error an operation on a dead sandbox returns.
    pub(crate) fn dead_error(&self) -> Option<SandboxError> {
        match &*self.state.borrow() {
            SandboxState::Alive => None,
            SandboxState::Cancelled => Some(SandboxError::Cancelled),
            SandboxState::TimedOut => Some(SandboxError::TimedOut(self.job_deadline)),
            SandboxState::Lost(why) => Some(SandboxError::Gone(why.clone())),
            SandboxState::Removed => Some(SandboxError::Gone("removed".to_owned())),
        }
    }
}

/// One job's container. Dropping it without [`Sandbox::remove`] still removes
/// the container (in the background); a process crash is covered by
/// [`sweep_orphans`] at the next start.
pub struct Sandbox {
    pub(crate) shared: Arc<Shared>,
    pub(crate) settings: Arc<SandboxSettings>,
    job_id: String,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("job", &self.job_id)
            .field("container", &self.shared.container)
            .field("state", &*self.shared.state.borrow())
            .finish()
    }
}

fn name_part(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).take(40).collect()
}

fn unique_suffix() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("{:x}{:x}", std::process::id(), nanos & 0xffff_ffff_ffff)
}

impl Sandbox {
    /// Creates and starts the job's container. The job deadline starts now;
    /// `cancel` kills the container whenever it fires.
    pub async fn start(
        docker: &Docker,
        settings: &SandboxSettings,
        job_id: &str,
        cancel: CancellationToken,
    ) -> Result<Sandbox, SandboxError> {
        if cancel.is_cancelled() {
            return Err(SandboxError::Cancelled);
        }
        match retrying("inspect image", |_| docker.inspect_image(&settings.image)).await {
            Ok(_) => {}
            Err(e) if status_of(&e) == Some(404) => {
                return Err(SandboxError::ImageMissing { image: settings.image.clone() });
            }
            Err(e) => return Err(SandboxError::docker("inspect image")(e)),
        }
        let labels = HashMap::from([
            (LABEL_JOB.to_owned(), job_id.to_owned()),
            (LABEL_INSTANCE.to_owned(), settings.instance_id.clone()),
        ]);
        let name = format!("maxion-{}-{}-{}", name_part(&settings.instance_id), name_part(job_id), unique_suffix());
        let mut host_address = None;
        let mut guarded = None;
        let mut extra_env = Vec::new();
        let network = match settings.network {
            NetworkMode::Filtered => {
                let gateway = super::filtered::create_internal_network(docker, &name, labels.clone()).await?;
                host_address = Some(gateway);
                extra_env = super::filtered::proxy_env(gateway, settings.egress_port);
                if super::firewall::available().await {
                    guarded = Some(guard_network(docker, &name, gateway, settings.egress_port).await?);
                }
                Some(name.clone())
            }
            NetworkMode::Open => {
                let req = NetworkCreateRequest {
                    name: name.clone(),
                    driver: Some("bridge".to_owned()),
                    internal: Some(false),
                    labels: Some(labels.clone()),
                    ..Default::default()
                };
                retrying("create network", |attempt| {
                    let req = req.clone();
                    async move {
                        match docker.create_network(req).await {
                            Err(e) if attempt > 0 && is_conflict(&e) => Ok(()),
                            other => other.map(drop),
                        }
                    }
                })
                .await
                .map_err(SandboxError::docker("create network"))?;
                host_address = super::filtered::network_gateway(docker, &name).await.ok();
                Some(name.clone())
            }
            NetworkMode::None => None,
        };
        let spec = container_spec(settings, job_id, network.as_deref().unwrap_or("none"), &extra_env);
        let opts = CreateContainerOptionsBuilder::new().name(&name).build();
        let created = retrying("create container", |attempt| {
            let (opts, spec, name) = (opts.clone(), spec.clone(), &name);
            async move {
                match docker.create_container(Some(opts), spec).await {
                    Err(e) if attempt > 0 && is_conflict(&e) => {
                        let found = docker.inspect_container(name, None).await?;
                        Ok(found.id.unwrap_or_else(|| name.clone()))
                    }
                    other => other.map(|c| c.id),
                }
            }
        })
        .await;
        let created = match created {
            Ok(id) => id,
            Err(e) => {
                if let Some(net) = &network {
                    let _ = docker.remove_network(net).await;
                }
                if let Some(id) = &guarded {
                    super::firewall::unguard(id).await;
                }
                return Err(SandboxError::docker("create container")(e));
            }
        };
        let (state, _) = watch::channel(SandboxState::Alive);
        let shared = Arc::new(Shared {
            docker: docker.clone(),
            container: created,
            network,
            guarded,
            host_address,
            state,
            removed: AtomicBool::new(false),
            job_deadline: settings.job_deadline,
            oom_seen: AtomicU64::new(0),
        });
        // From here on the guard in `Sandbox` removes the container on any exit.
        let sandbox =
            Sandbox { shared: Arc::clone(&shared), settings: Arc::new(settings.clone()), job_id: job_id.to_owned() };
        retrying("start container", |_| {
            docker.start_container(&shared.container, None::<bollard::query_parameters::StartContainerOptions>)
        })
        .await
        .map_err(SandboxError::docker("start container"))?;
        tokio::spawn(watchdog(shared, cancel, Instant::now() + settings.job_deadline));
        Ok(sandbox)
    }

    /// The container's id.
    pub fn container_id(&self) -> &str {
        &self.shared.container
    }

    /// The job's own network (modes `open` and `filtered`).
    pub fn network_name(&self) -> Option<&str> {
        self.shared.network.as_deref()
    }

    /// The host's address on the job's network (its gateway), where Maxion's
    /// egress listener belongs: modes `filtered` and `open`.
    pub fn host_address(&self) -> Option<std::net::IpAddr> {
        self.shared.host_address
    }

    /// The current state; anything but `Alive` refuses new execs.
    pub fn state(&self) -> SandboxState {
        self.shared.state.borrow().clone()
    }

    /// Waits until the sandbox leaves `Alive` and returns the final state.
    pub async fn wait_dead(&self) -> SandboxState {
        let mut rx = self.shared.state.subscribe();
        match rx.wait_for(|s| *s != SandboxState::Alive).await {
            Ok(s) => s.clone(),
            Err(_) => self.state(),
        }
    }

    /// Kills and removes the container and its network. Always call this
    /// when the job ends; it is idempotent.
    pub async fn remove(&self) -> Result<(), SandboxError> {
        self.shared.remove().await
    }

    pub(crate) fn ensure_alive(&self) -> Result<(), SandboxError> {
        match self.shared.dead_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.shared.removed.load(Ordering::SeqCst) {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let job = self.job_id.clone();
        let removal = async move {
            if let Err(e) = shared.remove().await {
                tracing::warn!(job = %job, error = %e, "sandbox removal from its guard failed");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(removal);
            }
            Err(_) => {
                // Dropped outside a runtime (e.g. during a panic's unwinding
                // after shutdown): a thread of its own does the removal.
                std::thread::spawn(move || {
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() {
                        rt.block_on(removal);
                    }
                });
            }
        }
    }
}

/// Kills the container when the job is cancelled or passes its deadline;
/// ends when the sandbox dies any other way.
async fn watchdog(shared: Arc<Shared>, cancel: CancellationToken, deadline: Instant) {
    let mut rx = shared.state.subscribe();
    tokio::select! {
        _ = cancel.cancelled() => shared.kill(SandboxState::Cancelled).await,
        _ = tokio::time::sleep_until(deadline) => shared.kill(SandboxState::TimedOut).await,
        _ = async { let _ = rx.wait_for(|s| *s != SandboxState::Alive).await; } => {}
    }
}

/// Puts the host firewall's guard on a new `filtered` network; without it
/// the network is removed again and the sandbox does not start (as root the
/// guard is expected, so a failure is not silently skipped).
async fn guard_network(
    docker: &Docker,
    name: &str,
    gateway: std::net::IpAddr,
    port: u16,
) -> Result<String, SandboxError> {
    let guarded = match super::filtered::network_id_and_subnet(docker, name).await {
        Ok((id, subnet)) => super::firewall::guard(&id, &subnet, gateway, port).await.map(|()| id),
        Err(e) => Err(e.to_string()),
    };
    match guarded {
        Ok(id) => Ok(id),
        Err(e) => {
            let _ = docker.remove_network(name).await;
            Err(SandboxError::Gone(format!("the host firewall guard of network {name} could not be set: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cancelled_job_starts_no_sandbox() {
        // Nothing listens there: any Docker call would fail differently.
        let docker = Docker::connect_with_http("http://127.0.0.1:9", 1, bollard::API_DEFAULT_VERSION).unwrap();
        let cancel = CancellationToken::new();
        cancel.cancel();
        let err = Sandbox::start(&docker, &SandboxSettings::default(), "job", cancel).await.unwrap_err();
        assert!(matches!(err, SandboxError::Cancelled), "{err}");
    }
}
