//! Network mode `filtered`: the job's own *internal* Docker network (no route
//! out, IPv6 off), whose only reachable peer is Maxion's egress listener on
//! the network's gateway address, plus the proxy variables every tool needs
//! to find it. Also the behavioural check that the engine's embedded DNS
//! does not resolve outside names on internal networks (CVE-2024-29018).

use std::collections::HashMap;
use std::net::IpAddr;

use bollard::Docker;
use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::InspectNetworkOptions;

use super::{LABEL_INSTANCE, SandboxError};

/// The conventional proxy port of the egress listener on a job network.
pub const DEFAULT_EGRESS_PORT: u16 = 3128;

/// Creates an internal bridge network (no outside route, no IPv6) and
/// returns the gateway address the host holds on it.
pub(crate) async fn create_internal_network(
    docker: &Docker,
    name: &str,
    labels: HashMap<String, String>,
) -> Result<IpAddr, SandboxError> {
    let req = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some("bridge".to_owned()),
        internal: Some(true),
        enable_ipv6: Some(false),
        labels: Some(labels),
        ..Default::default()
    };
    docker.create_network(req).await.map_err(SandboxError::docker("create internal network"))?;
    match network_gateway(docker, name).await {
        Ok(ip) => Ok(ip),
        Err(e) => {
            let _ = docker.remove_network(name).await;
            Err(e)
        }
    }
}

/// The gateway address of a network (the host's address on it).
pub async fn network_gateway(docker: &Docker, name: &str) -> Result<IpAddr, SandboxError> {
    let net = docker
        .inspect_network(name, None::<InspectNetworkOptions>)
        .await
        .map_err(SandboxError::docker("inspect network"))?;
    net.ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.gateway)
        .filter_map(|g| g.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv4)
        .ok_or_else(|| SandboxError::Gone(format!("network {name} has no IPv4 gateway address")))
}

/// A network's id and its IPv4 subnet (`172.18.0.0/16`).
pub(crate) async fn network_id_and_subnet(docker: &Docker, name: &str) -> Result<(String, String), SandboxError> {
    let net = docker
        .inspect_network(name, None::<InspectNetworkOptions>)
        .await
        .map_err(SandboxError::docker("inspect network"))?;
    let subnet = net
        .ipam
        .and_then(|i| i.config)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|c| c.subnet)
        .find(|s| s.split_once('/').and_then(|(a, _)| a.parse::<std::net::Ipv4Addr>().ok()).is_some());
    match (net.id, subnet) {
        (Some(id), Some(subnet)) => Ok((id, subnet)),
        _ => Err(SandboxError::Gone(format!("network {name} has no id or no IPv4 subnet"))),
    }
}

/// Every IPv4/IPv6 subnet of the engine's networks, as (address, prefix):
/// the egress proxy refuses names that resolve into any of them.
pub async fn docker_subnets(docker: &Docker) -> Result<Vec<(IpAddr, u8)>, SandboxError> {
    let nets = docker
        .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
        .await
        .map_err(SandboxError::docker("list networks"))?;
    let mut out = Vec::new();
    for n in nets {
        for c in n.ipam.and_then(|i| i.config).unwrap_or_default() {
            if let Some((addr, len)) = c.subnet.as_deref().and_then(|s| s.split_once('/'))
                && let (Ok(a), Ok(l)) = (addr.parse::<IpAddr>(), len.parse::<u8>())
            {
                out.push((a, l));
            }
        }
    }
    Ok(out)
}

/// The environment that points every common tool at the proxy. Not secret:
/// it goes into the container's own environment.
pub fn proxy_env(gateway: IpAddr, port: u16) -> Vec<(String, String)> {
    let proxy = format!("http://{gateway}:{port}");
    let no_proxy = format!("localhost,127.0.0.1,::1,{gateway}");
    let mut env = Vec::new();
    for name in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"] {
        env.push((name.to_owned(), proxy.clone()));
    }
    for name in ["NO_PROXY", "no_proxy"] {
        env.push((name.to_owned(), no_proxy.clone()));
    }
    let more = [
        // Node 24+ honours HTTP(S)_PROXY for fetch and http only when asked.
        ("NODE_USE_ENV_PROXY", "1".to_owned()),
        ("npm_config_proxy", proxy.clone()),
        ("npm_config_https_proxy", proxy.clone()),
        ("npm_config_noproxy", no_proxy.clone()),
        ("YARN_HTTP_PROXY", proxy.clone()),
        ("YARN_HTTPS_PROXY", proxy.clone()),
        ("PIP_PROXY", proxy.clone()),
        ("CARGO_HTTP_PROXY", proxy.clone()),
        // git reads http_proxy itself; this also covers `git -c` free setups.
        ("GIT_HTTP_PROXY", proxy.clone()),
        (
            "JAVA_TOOL_OPTIONS",
            format!(
                "-Dhttp.proxyHost={gateway} -Dhttp.proxyPort={port} -Dhttps.proxyHost={gateway} \
                 -Dhttps.proxyPort={port} -Dhttp.nonProxyHosts=localhost|127.0.0.1|{gateway}"
            ),
        ),
    ];
    env.extend(more.into_iter().map(|(n, v)| (n.to_owned(), v)));
    env
}

/// What the DNS check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsCheck {
    /// Outside names do not resolve on an internal network: `filtered` is safe.
    Isolated,
    /// They do (CVE-2024-29018): `filtered` must be refused on this engine.
    Leaks { engine_version: String },
}

/// The outside name the check tries to resolve.
const PROBE_NAME: &str = "example.com";

/// Runs a throwaway container of `image` on a fresh internal network and
/// tries to resolve an outside name there. Judges the behaviour, never the
/// engine's version string. Everything it creates carries `instance`'s
/// label (the orphan sweep removes it after a crash) and is removed here.
pub async fn check_internal_dns(docker: &Docker, image: &str, instance: &str) -> Result<DnsCheck, SandboxError> {
    let name = format!(
        "maxion-dnscheck-{}-{:x}",
        instance.chars().filter(char::is_ascii_alphanumeric).take(30).collect::<String>(),
        std::process::id()
    );
    let labels = HashMap::from([(LABEL_INSTANCE.to_owned(), instance.to_owned())]);
    create_internal_network(docker, &name, labels.clone()).await?;
    let result = probe(docker, image, &name, labels).await;
    let _ = docker.remove_network(&name).await;
    let resolved = result?;
    if !resolved {
        return Ok(DnsCheck::Isolated);
    }
    let engine_version = docker.version().await.ok().and_then(|v| v.version).unwrap_or_else(|| "unknown".to_owned());
    Ok(DnsCheck::Leaks { engine_version })
}

/// Whether the probe container resolved the outside name (exit 0).
async fn probe(
    docker: &Docker,
    image: &str,
    network: &str,
    labels: HashMap<String, String>,
) -> Result<bool, SandboxError> {
    let argv = ["timeout", "10", "getent", "hosts", PROBE_NAME];
    Ok(super::probe::exit_code(docker, image, network, network, &argv, labels).await? == 0)
}

/// The proxy's address as seen from inside a sandbox on `gateway`.
pub fn proxy_addr(gateway: IpAddr, port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::new(gateway, port)
}
