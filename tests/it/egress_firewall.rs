//! As root, the host firewall guard of a `filtered` job network: from inside
//! the sandbox a host service listening on `0.0.0.0` is unreachable at the
//! network's gateway address while the egress listener still answers there;
//! the guard goes with the network, and the orphan sweep removes a guard
//! whose network is gone. Without root (or iptables) there is no guard and
//! the test says it skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use maxion::gateway::Budget;
use tokio::process::Command;

use crate::support::docker::DockerTest;
use crate::support::egress::{FilteredJob, gateway_for, service};
use crate::support::fake_model::FakeModel;

const PROBE: &str = r#"
import json, socket, sys
gateway = sys.argv[1]
def tcp(port):
    try:
        socket.create_connection((gateway, int(port)), timeout=3).close()
        return "connected"
    except Exception as e:
        return "failed " + type(e).__name__
print(json.dumps({"other": tcp(sys.argv[2]), "egress": tcp(sys.argv[3])}))
"#;

async fn chains() -> String {
    let out = Command::new("iptables").args(["-w", "-S"]).output().await.expect("iptables");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn a_host_service_on_all_addresses_is_unreachable_from_a_filtered_sandbox() {
    let Some(t) = DockerTest::new("firewall").await else { return };
    if !maxion::sandbox::firewall::available().await {
        eprintln!("SKIPPED the host firewall guard test: not root, or no iptables");
        return;
    }
    // A second host service, on every address (as many are by default).
    let other = tokio::net::TcpListener::bind("0.0.0.0:0").await.expect("bind");
    let other_port = other.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let acceptor = tokio::spawn(async move {
        while other.accept().await.is_ok() {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    let model = FakeModel::start().await;
    let svc = service(gateway_for(&model), &[], &[], &[], Budget::default());
    let job = FilteredJob::start(&t, &svc, "job-firewall").await;
    let gateway = job.sandbox.host_address().expect("gateway address").to_string();
    let net = t.docker.inspect_network(job.sandbox.network_name().expect("network"), None).await.expect("inspect");
    let chain = format!("MAXION-{}", &net.id.expect("network id")[..12]);
    assert!(chains().await.contains(&format!("-N {chain}")), "{}", chains().await);

    let (code, out) = job.python(PROBE, &[&gateway, &other_port.to_string(), &svc.port.to_string()]).await;
    assert_eq!(code, 0, "{out}");
    let line = out.lines().find(|l| l.starts_with('{')).expect("probe result");
    let r: serde_json::Value = serde_json::from_str(line).expect("json");
    assert_eq!(r["egress"], "connected", "the egress listener stays reachable: {r}");
    assert!(r["other"].as_str().unwrap_or_default().starts_with("failed"), "{r}");
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "the host service saw no connection");

    // The guard goes with the network.
    job.stop().await;
    assert!(!chains().await.contains(&chain), "{}", chains().await);

    // A guard left by a crash (its network is gone) goes with the orphan sweep.
    let orphan = "MAXION-0rphan0rphan";
    let made = Command::new("iptables").args(["-w", "-N", orphan]).status().await.expect("iptables");
    assert!(made.success());
    maxion::sandbox::sweep_orphans(&t.docker, &t.instance).await.expect("sweep");
    assert!(!chains().await.contains(orphan), "{}", chains().await);
    acceptor.abort();
}
