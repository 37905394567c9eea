//! Harness for the egress proxy and LLM gateway tests: a `filtered` sandbox
//! on the real engine with the job's egress listener on its network's
//! gateway address, and the job events that listener produced.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use maxion::egress::{EgressService, JobEgress, Policy, Resolver};
use maxion::gateway::{Budget, Gateway, Prices, Upstream};
use maxion::jobs::JobEvent;
use maxion::sandbox::{ExecRequest, NetworkMode, Sandbox};
use secrecy::SecretString;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::docker::DockerTest;
use super::fake_model::{ANTHROPIC_KEY, FakeModel, OPENAI_KEY};

/// The listener's port in these tests (every job network has its own
/// gateway address, so tests running at once do not collide).
pub const TEST_EGRESS_PORT: u16 = 3128;

/// A gateway in front of the fake model, with its real keys.
pub fn gateway_for(model: &FakeModel) -> Gateway {
    Gateway::new(
        Some(Upstream { url: model.anthropic_url(), key: SecretString::from(ANTHROPIC_KEY) }),
        Some(Upstream { url: model.openai_url(), key: SecretString::from(OPENAI_KEY) }),
        Prices::shipped(),
    )
}

/// A service with `allow`, `pins` and a fixed name table (no outside DNS).
pub fn service(
    gateway: Gateway,
    allow: &[&str],
    pins: &[(&str, IpAddr, Option<u16>)],
    names: &[(&str, &str)],
    budget: Budget,
) -> EgressService {
    let mut table: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for (n, a) in names {
        table.entry((*n).to_owned()).or_default().push(a.parse().expect("address"));
    }
    let mut provider_hosts = gateway.upstream_hosts();
    provider_hosts.extend(["api.anthropic.com".to_owned(), "api.openai.com".to_owned()]);
    let policy = Policy {
        allow: allow.iter().map(|s| (*s).to_owned()).collect(),
        pins: pins.iter().map(|(h, ip, p)| ((*h).to_owned(), (*ip, *p))).collect(),
        provider_hosts,
        docker_subnets: Vec::new(),
        resolver: Resolver::Fixed(Arc::new(table)),
    };
    EgressService { policy, gateway, port: TEST_EGRESS_PORT, budget, daily_usd: None, daily: Default::default() }
}

/// A `filtered` sandbox with its egress listener, and the listener's events.
pub struct FilteredJob {
    pub sandbox: Sandbox,
    pub egress: Arc<JobEgress>,
    pub events: mpsc::Receiver<JobEvent>,
}

impl FilteredJob {
    pub async fn start(t: &DockerTest, service: &EgressService, job: &str) -> FilteredJob {
        let settings = maxion::sandbox::SandboxSettings {
            network: NetworkMode::Filtered,
            egress_port: service.port,
            ..t.settings()
        };
        let sandbox =
            Sandbox::start(&t.docker, &settings, job, CancellationToken::new()).await.expect("filtered sandbox");
        let host = sandbox.host_address().expect("a filtered sandbox has a gateway address");
        let (tx, events) = mpsc::channel(1024);
        let egress = JobEgress::start(service, host, tx).await.expect("egress listener");
        FilteredJob { sandbox, egress, events }
    }

    /// Runs a Python script (as a file in $HOME) with the agent's environment.
    pub async fn python(&self, script: &str, args: &[&str]) -> (i64, String) {
        self.sandbox.upload_file("/home/sandbox/probe.py", script.as_bytes(), 0o644).await.expect("upload");
        let mut argv = vec!["python3", "/home/sandbox/probe.py"];
        argv.extend_from_slice(args);
        let mut req = ExecRequest::new(argv);
        for (k, v) in self.egress.agent_env() {
            req = req.env(k, v);
        }
        let (r, out) = super::docker::sh_with(&self.sandbox, req).await;
        let code = match r.expect("exec").outcome {
            maxion::sandbox::ExecOutcome::Exited { code } => code,
            other => panic!("probe did not exit normally: {other:?}\n{out}"),
        };
        (code, out)
    }

    /// Every event so far.
    pub fn drain(&mut self) -> Vec<JobEvent> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }

    /// Waits (at most 20 s) for the next event `pick` accepts; others are kept.
    pub async fn wait_for(&mut self, seen: &mut Vec<JobEvent>, pick: impl Fn(&JobEvent) -> bool) -> JobEvent {
        if let Some(i) = seen.iter().position(&pick) {
            return seen.remove(i);
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let ev = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .expect("the expected job event did not arrive within 20 s")
                .expect("event channel open");
            if pick(&ev) {
                return ev;
            }
            seen.push(ev);
        }
    }

    pub async fn stop(self) {
        self.egress.close();
        self.sandbox.remove().await.expect("remove sandbox");
    }
}
