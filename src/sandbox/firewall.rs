//! When Maxion runs as root: a firewall guard per `filtered` job network, so
//! the sandbox reaches nothing on the host but the egress listener. Without
//! it, a host service listening on `0.0.0.0` answers at the network's gateway
//! address too (the internal network stops only traffic that would leave the
//! host). One iptables chain per network, `MAXION-<network id>`: TCP to the
//! gateway address on the egress port returns, everything else from the
//! network's subnet is dropped; `INPUT` jumps to it for that subnet. The
//! chain goes with the network, and the orphan sweep removes every chain
//! whose network no longer exists (a crash). Not root, or no iptables: no
//! guard, and the README says what to do instead.

use std::net::IpAddr;

use tokio::process::Command;
use tokio::sync::OnceCell;

const PREFIX: &str = "MAXION-";

/// The chain of a network (iptables allows 28 characters).
fn chain(network_id: &str) -> String {
    format!("{PREFIX}{}", network_id.chars().take(12).collect::<String>())
}

async fn iptables(args: &[&str]) -> Result<String, String> {
    let out = Command::new("iptables").arg("-w").args(args).output().await.map_err(|e| format!("iptables: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!("iptables {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// Whether this process may change the host's firewall: tried once (listing
/// needs the same privilege as changing), never guessed from the user id.
pub async fn available() -> bool {
    static AVAILABLE: OnceCell<bool> = OnceCell::const_new();
    *AVAILABLE.get_or_init(|| async { iptables(&["-S", "INPUT"]).await.is_ok() }).await
}

/// Guards the network `network_id` (subnet `subnet`, e.g. `172.18.0.0/16`):
/// only `gateway:port` over TCP stays reachable on the host.
pub(crate) async fn guard(network_id: &str, subnet: &str, gateway: IpAddr, port: u16) -> Result<(), String> {
    let c = chain(network_id);
    let port = port.to_string();
    let gateway = gateway.to_string();
    let steps: [&[&str]; 4] = [
        &["-N", &c],
        &["-A", &c, "-p", "tcp", "-d", &gateway, "--dport", &port, "-j", "RETURN"],
        &["-A", &c, "-j", "DROP"],
        &["-I", "INPUT", "-s", subnet, "-j", &c],
    ];
    for step in steps {
        if let Err(e) = iptables(step).await {
            unguard(network_id).await;
            return Err(e);
        }
    }
    Ok(())
}

/// Removes the guard of `network_id`, if any (idempotent).
pub(crate) async fn unguard(network_id: &str) {
    remove_chain(&chain(network_id)).await;
}

async fn remove_chain(c: &str) {
    if let Ok(rules) = iptables(&["-S", "INPUT"]).await {
        for rule in rules.lines().filter(|r| r.split_whitespace().last() == Some(c)) {
            let mut args: Vec<&str> = rule.split_whitespace().collect();
            if args.first() == Some(&"-A") {
                args[0] = "-D";
                let _ = iptables(&args).await;
            }
        }
    }
    let _ = iptables(&["-F", c]).await;
    let _ = iptables(&["-X", c]).await;
}

/// Removes the guard chains of networks that no longer exist (of any
/// instance: a live network keeps its chain). Returns how many went.
pub(crate) async fn sweep(live_network_ids: &[String]) -> usize {
    let Ok(all) = iptables(&["-S"]).await else { return 0 };
    let mut removed = 0;
    for c in all.lines().filter_map(|l| l.strip_prefix("-N ")).filter(|c| c.starts_with(PREFIX)) {
        let id = &c[PREFIX.len()..];
        if !live_network_ids.iter().any(|live| live.starts_with(id)) {
            remove_chain(c).await;
            removed += 1;
        }
    }
    removed
}
