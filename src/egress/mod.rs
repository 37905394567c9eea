//! The egress listener of mode `filtered`: one per job, on the host's
//! address on the job's internal network (the only peer the sandbox can
//! reach). It serves two things on one port:
//! - the egress proxy ([`proxy`]): `CONNECT` tunnels and plain-HTTP
//!   forwarding to allow-listed hosts only, by the rules of [`policy`];
//! - the LLM gateway ([`crate::gateway`]): the model APIs, with the job's
//!   capability token standing in for the real key.
//!
//! Every decision is a job event; refused hosts are counted for the status
//! comment. [`EgressService`] is built once at start-up; [`JobEgress::start`]
//! is the pipeline's one call per job.
//! Touches: the network (listens, resolves, dials), the job's event channel.

mod listener;
pub mod policy;
mod proxy;

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use policy::{Policy, Refusal, Resolver};

use crate::config::EgressSettings;
use crate::gateway::{Budget, DailyLedger, DailyShare, Gateway, JobGateway, Totals};
use crate::jobs::JobEvent;

/// What every job's listener shares: the allow-list, pins, the gateway.
#[derive(Debug, Clone)]
pub struct EgressService {
    pub policy: Policy,
    pub gateway: Gateway,
    /// The listener's port on each job network's gateway address.
    pub port: u16,
    pub budget: Budget,
    /// `MAXION_DAILY_COST_BUDGET`: USD per installation per UTC day.
    pub daily_usd: Option<f64>,
    /// Each installation's spend today, which its jobs reserve against together.
    pub daily: Arc<DailyLedger>,
}

impl EgressService {
    /// From the operator's settings; `docker_subnets` are refused as targets.
    pub fn new(settings: &EgressSettings, gateway: Gateway, docker_subnets: Vec<(IpAddr, u8)>, budget: Budget) -> Self {
        let mut provider_hosts = gateway.upstream_hosts();
        provider_hosts.extend(["api.anthropic.com".to_owned(), "api.openai.com".to_owned()]);
        provider_hosts.sort();
        provider_hosts.dedup();
        let pins: HashMap<String, (IpAddr, Option<u16>)> =
            settings.pins.iter().map(|(h, ip, port)| (h.clone(), (*ip, *port))).collect();
        let policy =
            Policy { allow: settings.allow.clone(), pins, provider_hosts, docker_subnets, resolver: Resolver::System };
        EgressService {
            policy,
            gateway,
            port: settings.port,
            budget,
            daily_usd: settings.daily_usd,
            daily: Arc::default(),
        }
    }
}

/// What a repository's configuration changed for one job.
#[derive(Debug, Clone, Default)]
pub struct JobLimits {
    /// Replaces the operator's allow-list; `None`: keep it.
    pub allow: Option<Vec<String>>,
    pub budget: Budget,
    /// Whose daily budget the job's calls count against.
    pub installation_id: i64,
}

/// One job's egress listener, its gateway token, and what it saw.
pub struct JobEgress {
    pub(crate) policy: Policy,
    pub(crate) gateway: Arc<JobGateway>,
    pub(crate) events: mpsc::Sender<JobEvent>,
    /// Where the sandbox reaches the listener.
    addr: SocketAddr,
    refused: Mutex<BTreeMap<String, u32>>,
    stop: CancellationToken,
}

impl JobEgress {
    /// Binds the job's listener on `host:port` (the job network's gateway
    /// address) and serves until [`JobEgress::close`]. Events go to `events`.
    pub async fn start(
        service: &EgressService,
        host: IpAddr,
        events: mpsc::Sender<JobEvent>,
    ) -> anyhow::Result<Arc<JobEgress>> {
        Self::start_on(service, SocketAddr::new(host, service.port), events).await
    }

    /// As [`JobEgress::start`], on any address (port 0: any free port).
    pub async fn start_on(
        service: &EgressService,
        addr: SocketAddr,
        events: mpsc::Sender<JobEvent>,
    ) -> anyhow::Result<Arc<JobEgress>> {
        Self::start_with(service, addr, events, &JobLimits { allow: None, budget: service.budget, installation_id: 0 })
            .await
    }

    /// As [`JobEgress::start_on`], with a repository's narrower limits.
    pub async fn start_with(
        service: &EgressService,
        addr: SocketAddr,
        events: mpsc::Sender<JobEvent>,
        limits: &JobLimits,
    ) -> anyhow::Result<Arc<JobEgress>> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("the egress listener cannot listen on {addr} (MAXION_EGRESS_PORT): {e}"))?;
        let addr = listener.local_addr()?;
        let daily = service.daily_usd.map(|budget| DailyShare {
            ledger: Arc::clone(&service.daily),
            installation: limits.installation_id,
            budget,
        });
        let gateway = JobGateway::new(service.gateway.clone(), limits.budget, daily, events.clone())?;
        let mut policy = service.policy.clone();
        if let Some(allow) = &limits.allow {
            policy.allow = allow.clone();
        }
        let job = Arc::new(JobEgress {
            policy,
            gateway,
            events,
            addr,
            refused: Mutex::new(BTreeMap::new()),
            stop: CancellationToken::new(),
        });
        tokio::spawn(listener::serve(listener, Arc::clone(&job), job.stop.clone()));
        Ok(job)
    }

    /// The listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL of the gateway as the sandbox reaches it.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// THE agent's environment: for each configured provider its base URL
    /// (`ANTHROPIC_BASE_URL`, `OPENAI_BASE_URL`) on this listener and the
    /// job's capability token as its key (`ANTHROPIC_API_KEY`, `OPENAI_API_KEY`).
    pub fn agent_env(&self) -> Vec<(String, String)> {
        self.gateway.agent_env(&self.base_url())
    }

    /// The job's model usage so far.
    pub fn totals(&self) -> Totals {
        self.gateway.totals()
    }

    /// How the job's latest model calls failed; `None` when the latest succeeded.
    pub fn failing(&self) -> Option<crate::gateway::Failing> {
        self.gateway.failing()
    }

    /// Refused hosts with how often, for the status comment.
    pub fn refused_hosts(&self) -> Vec<(String, u32)> {
        self.refused.lock().map(|m| m.iter().map(|(h, n)| (h.clone(), *n)).collect()).unwrap_or_default()
    }

    pub(crate) fn note_refused(&self, host: &str) {
        if let Ok(mut m) = self.refused.lock() {
            *m.entry(host.to_owned()).or_default() += 1;
        }
    }

    /// Revokes the token and stops listening; open connections are dropped.
    pub fn close(&self) {
        self.gateway.revoke();
        self.stop.cancel();
    }
}

impl Drop for JobEgress {
    fn drop(&mut self) {
        self.close();
    }
}

/// The pipeline's one call per job: when the sandbox sits on a network of
/// its own (`filtered`, or `open`), starts the job's listener on the host's
/// address there and stores its events with the job. `None`: mode `none`, or
/// no egress service. In `filtered` a listener that cannot start fails the
/// job (nothing else could reach anything); in `open` it is only a warning.
pub async fn for_job(
    service: Option<&EgressService>,
    store: &crate::jobs::Store,
    job: crate::jobs::JobId,
    sandbox: &crate::sandbox::Sandbox,
    mode: &crate::sandbox::NetworkMode,
    limits: &JobLimits,
) -> anyhow::Result<Option<Arc<JobEgress>>> {
    let (Some(service), Some(host)) = (service, sandbox.host_address()) else {
        if *mode == crate::sandbox::NetworkMode::Filtered {
            anyhow::bail!("network mode `filtered` needs the egress listener, which is not running on this instance");
        }
        return Ok(None);
    };
    if service.daily_usd.is_some() {
        // Calls this instance did not settle itself (before it started, or on
        // another instance) count too; its own are in the ledger already.
        let (_, day_start) = crate::gateway::daily::utc_day(chrono::Utc::now().timestamp_millis());
        let stored = store.llm_cost_since(limits.installation_id, day_start).await?;
        service.daily.refresh(limits.installation_id, stored);
    }
    let installation_id = limits.installation_id;
    let (tx, rx) = mpsc::channel::<JobEvent>(1024);
    let started = match JobEgress::start_with(service, SocketAddr::new(host, service.port), tx, limits).await {
        Ok(e) => e,
        Err(e) if *mode != crate::sandbox::NetworkMode::Filtered => {
            tracing::warn!(job = %job, error = format!("{e:#}"), "no LLM gateway for this open-network job");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    store_events(store.clone(), job, installation_id, rx);
    Ok(Some(started))
}

/// Stores a job listener's events as they come (model calls also in
/// `llm_calls`), off the request path: an answer never waits for a write.
pub fn store_events(
    store: crate::jobs::Store,
    job: crate::jobs::JobId,
    installation_id: i64,
    mut rx: mpsc::Receiver<JobEvent>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            if let JobEvent::LlmCall { .. } = ev
                && let Err(e) = store.record_llm_call(job, installation_id, &ev).await
            {
                tracing::warn!(job = %job, error = format!("{e:#}"), "recording a model call failed");
            }
            if let Err(e) = store.append_event(job, &ev).await {
                tracing::warn!(job = %job, error = format!("{e:#}"), "storing an egress event failed");
            }
        }
    })
}
