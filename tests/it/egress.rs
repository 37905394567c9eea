//! The egress proxy from inside a real `filtered` sandbox: a pinned,
//! allow-listed name is reached (plain HTTP and CONNECT); names off the list,
//! IP literals and names resolving to loopback, private or metadata
//! addresses are refused with a reason, each a job event; nothing bypasses
//! the proxy (direct TCP, UDP DNS, outside names, IPv6).

use std::net::IpAddr;

use maxion::gateway::Budget;
use maxion::jobs::JobEvent;
use serde_json::Value;

use crate::support::docker::DockerTest;
use crate::support::egress::{FilteredJob, service};
use crate::support::fake_model::FakeModel;

macro_rules! docker_test {
    ($name:expr) => {
        match DockerTest::new($name).await {
            Some(t) => t,
            None => return,
        }
    };
}

const PROBE: &str = r#"
import http.client, json, os, socket, sys, urllib.error, urllib.request

proxy = os.environ["HTTP_PROXY"].removeprefix("http://")
proxy_host, proxy_port = proxy.rsplit(":", 1)

def get(url):
    try:
        with urllib.request.urlopen(url, timeout=20) as r:
            return "%d %s" % (r.status, r.read().decode())
    except urllib.error.HTTPError as e:
        return "%d %s" % (e.code, e.read().decode().strip())
    except Exception as e:
        return "error %s" % type(e).__name__

def tunnel(host, port):
    c = http.client.HTTPConnection(proxy_host, int(proxy_port), timeout=20)
    c.set_tunnel(host, port)
    try:
        c.request("GET", "/through-the-tunnel")
        r = c.getresponse()
        return "%d %s" % (r.status, r.read().decode())
    except OSError as e:
        return "error %s" % e

def tcp(host, port):
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect((host, port))
        return "connected"
    except OSError as e:
        return "failed %s" % type(e).__name__

def udp_dns():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"
    try:
        s.sendto(q, ("8.8.8.8", 53))
        s.recvfrom(512)
        return "answered"
    except OSError as e:
        return "failed %s" % type(e).__name__

def resolves(name):
    try:
        socket.getaddrinfo(name, 443)
        return "resolved"
    except OSError:
        return "unresolved"

def ipv6():
    try:
        lines = open("/proc/net/if_inet6").read().split()
    except OSError:
        return []
    return [l for l in lines[0::6] if l != "00000000000000000000000000000001"]

registry_port = int(sys.argv[1])
gateway = proxy_host
print(json.dumps({
    "pinned_http": get("http://registry.test/simple/"),
    "pinned_connect": tunnel("registry.test", 443),
    "not_listed": get("http://github.com/"),
    "not_listed_connect": tunnel("github.com", 443),
    "ip_literal": get("http://93.184.215.14/"),
    "loopback": get("http://loop.test/"),
    "private": get("http://ten.test/"),
    "metadata": get("http://meta.test/latest/meta-data/"),
    "bad_port": tunnel("registry.test", 22),
    "model_provider": tunnel("api.anthropic.com", 443),
    "tcp_host_registry_port": tcp(gateway, registry_port),
    "tcp_outside": tcp("1.1.1.1", 443),
    "udp_dns": udp_dns(),
    "resolve_outside": resolves("example.com"),
    "ipv6_addresses": ipv6(),
}))
"#;

/// A registry stand-in on the host's loopback (the pin points there).
async fn registry() -> u16 {
    let app = axum::Router::new()
        .fallback(|uri: axum::http::Uri| async move { format!("registry says hi at {}", uri.path()) });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test]
async fn filtered_sandbox_reaches_only_allowed_names_through_the_proxy() {
    let t = docker_test!("egress");
    let port = registry().await;
    let model = FakeModel::start().await;
    let loopback: IpAddr = "127.0.0.1".parse().unwrap();
    let svc = service(
        crate::support::egress::gateway_for(&model),
        &["registry.test", "loop.test", "ten.test", "meta.test", "api.anthropic.com"],
        &[("registry.test", loopback, Some(port))],
        &[("loop.test", "127.0.0.1"), ("ten.test", "10.20.30.40"), ("meta.test", "169.254.169.254")],
        Budget::default(),
    );
    let mut job = FilteredJob::start(&t, &svc, "job-egress").await;
    let (code, out) = job.python(PROBE, &[&port.to_string()]).await;
    assert_eq!(code, 0, "{out}");
    let r: Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap_or_else(|_| panic!("{out}"));
    let s = |k: &str| r[k].as_str().unwrap_or_default().to_owned();

    assert_eq!(s("pinned_http"), "200 registry says hi at /simple/", "{r}");
    assert_eq!(s("pinned_connect"), "200 registry says hi at /through-the-tunnel", "{r}");
    assert!(s("not_listed").starts_with("403 ") && s("not_listed").contains("not on the allow-list"), "{r}");
    assert!(s("not_listed_connect").contains("403"), "{r}");
    assert!(s("ip_literal").contains("403") && s("ip_literal").contains("literal"), "{r}");
    assert!(s("loopback").contains("403") && s("loopback").contains("loopback"), "{r}");
    assert!(s("private").contains("403") && s("private").contains("RFC 1918"), "{r}");
    assert!(s("metadata").contains("403") && s("metadata").contains("169.254.169.254"), "{r}");
    assert!(s("bad_port").contains("403"), "{r}");
    assert!(s("model_provider").contains("403"), "a provider's API is never tunnelled: {r}");
    assert!(s("tcp_host_registry_port").starts_with("failed"), "{r}");
    assert!(s("tcp_outside").starts_with("failed"), "{r}");
    assert!(s("udp_dns").starts_with("failed"), "{r}");
    assert_eq!(s("resolve_outside"), "unresolved", "{r}");
    assert_eq!(r["ipv6_addresses"], Value::Array(vec![]), "{r}");

    // Each decision is a job event; the refused hosts are counted for GitHub.
    let mut seen = Vec::new();
    let allowed = job
        .wait_for(&mut seen, |e| matches!(e, JobEvent::Egress { host, allowed: true, method, .. } if host == "registry.test" && method == "CONNECT"))
        .await;
    let JobEvent::Egress { address, bytes_down, .. } = allowed else { unreachable!() };
    assert_eq!(address, Some(format!("127.0.0.1:{port}")));
    assert!(bytes_down > 0);
    let meta = job.wait_for(&mut seen, |e| matches!(e, JobEvent::Egress { host, .. } if host == "meta.test")).await;
    let JobEvent::Egress { allowed, reason, address, .. } = meta else { unreachable!() };
    assert!(!allowed);
    assert!(reason.unwrap().contains("link-local"));
    assert_eq!(address.as_deref(), Some("169.254.169.254"));
    let refused = job.egress.refused_hosts();
    assert!(refused.iter().any(|(h, n)| h == "github.com" && *n == 2), "{refused:?}");
    // registry.test only for port 22.
    assert!(refused.iter().any(|(h, n)| h == "registry.test" && *n == 1), "{refused:?}");
    // The job's internal network goes with the sandbox.
    let net = job.sandbox.network_name().expect("a filtered sandbox has its own network").to_owned();
    let info = t.docker.inspect_network(&net, None::<bollard::query_parameters::InspectNetworkOptions>).await.unwrap();
    assert_eq!(info.internal, Some(true));
    assert_eq!(info.enable_ipv6, Some(false));
    job.stop().await;
    assert!(t.docker.inspect_network(&net, None::<bollard::query_parameters::InspectNetworkOptions>).await.is_err());
}

#[tokio::test]
async fn this_engine_does_not_resolve_outside_names_on_internal_networks() {
    let t = docker_test!("dnscheck");
    let check = maxion::sandbox::check_internal_dns(&t.docker, &t.image, &t.instance).await.unwrap();
    assert_eq!(check, maxion::sandbox::DnsCheck::Isolated);
    // The probe leaves nothing behind.
    let filters =
        std::collections::HashMap::from([("label".to_owned(), vec![format!("maxion.instance={}", t.instance)])]);
    let opts = bollard::query_parameters::ListNetworksOptionsBuilder::new().filters(&filters).build();
    assert!(t.docker.list_networks(Some(opts)).await.unwrap().is_empty());
    let opts = bollard::query_parameters::ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    assert!(t.docker.list_containers(Some(opts)).await.unwrap().is_empty());
}
