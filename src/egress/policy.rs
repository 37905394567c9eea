//! Who may be reached through the egress proxy. Pure but for name
//! resolution: the allow-list (exact names and `*.suffix`), the operator's
//! pins, and the address rules. A name is resolved once, every address is
//! checked, and the proxy dials the checked address (never the name again),
//! so a DNS answer that changes between check and dial gains nothing.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Ports the proxy connects to.
pub const ALLOWED_PORTS: [u16; 2] = [443, 80];

/// Why a request was refused (shown in the job's events and on GitHub).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    IpLiteral,
    Port(u16),
    NotAllowed,
    /// A model provider's API: only through the gateway, never tunnelled.
    ModelProvider,
    Unresolvable(String),
    /// An address in a range nobody outside the machine should reach.
    Address {
        addr: IpAddr,
        range: &'static str,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::IpLiteral => f.write_str("IP address literals are refused; use a host name"),
            Refusal::Port(p) => write!(f, "port {p} is refused; only 443 and 80 are allowed"),
            Refusal::NotAllowed => f.write_str("not on the allow-list (MAXION_EGRESS_ALLOW)"),
            Refusal::ModelProvider => f.write_str(
                "a model provider's API is reached only through the gateway (ANTHROPIC_BASE_URL / OPENAI_BASE_URL)",
            ),
            Refusal::Unresolvable(e) => write!(f, "the name does not resolve: {e}"),
            Refusal::Address { addr, range } => write!(f, "resolves to {addr}, a {range} address"),
        }
    }
}

/// An allowed destination: the address to dial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    pub pinned: bool,
}

/// How names are resolved: the system resolver, or a fixed table (tests,
/// which must not depend on outside DNS).
#[derive(Debug, Clone, Default)]
pub enum Resolver {
    #[default]
    System,
    Fixed(Arc<HashMap<String, Vec<IpAddr>>>),
}

impl Resolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<IpAddr>, String> {
        match self {
            Resolver::System => match tokio::net::lookup_host((host, port)).await {
                Ok(addrs) => Ok(addrs.map(|a| a.ip()).collect()),
                Err(e) => Err(e.to_string()),
            },
            Resolver::Fixed(table) => table.get(host).cloned().ok_or_else(|| "no such name".to_owned()),
        }
    }
}

/// The allow-list and address rules of one job.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Exact names and `*.suffix` patterns, lower case.
    pub allow: Vec<String>,
    /// Pinned name → address and optional port (dialled as is, any range).
    pub pins: HashMap<String, (IpAddr, Option<u16>)>,
    /// The model providers' hosts: refused here (the gateway serves them).
    pub provider_hosts: Vec<String>,
    /// Docker networks' subnets (address, prefix length).
    pub docker_subnets: Vec<(IpAddr, u8)>,
    pub resolver: Resolver,
}

/// Lower case, without a trailing dot or IPv6 brackets.
pub fn normalize_host(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `host` is an address rather than a name, including the numeric
/// shorthands some resolvers accept (`127.1`, `0x7f.1`, `2130706433`).
pub fn is_ip_literal(host: &str) -> bool {
    host.parse::<IpAddr>().is_ok()
        || host.contains(':')
        || host.split('.').all(|l| {
            !l.is_empty()
                && (l.chars().all(|c| c.is_ascii_digit())
                    || l.strip_prefix("0x").is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit())))
        })
}

/// Whether `host` matches one pattern: an exact name, or `*.suffix`
/// (any name below the suffix, not the suffix itself).
pub fn matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => {
            host.len() > suffix.len() + 1 && host.ends_with(suffix) && host[..host.len() - suffix.len()].ends_with('.')
        }
        None => pattern == host,
    }
}

impl Policy {
    /// Whether the name is on the allow-list (or pinned).
    pub fn allows(&self, host: &str) -> bool {
        self.pins.contains_key(host) || self.allow.iter().any(|p| matches(p, host))
    }

    /// Decides about `host:port`; on success the address to dial. The
    /// refusal comes with the address that caused it, when there is one.
    pub async fn check(&self, host: &str, port: u16) -> Result<Target, Refusal> {
        let host = normalize_host(host);
        if is_ip_literal(&host) {
            return Err(Refusal::IpLiteral);
        }
        if !ALLOWED_PORTS.contains(&port) {
            return Err(Refusal::Port(port));
        }
        if self.provider_hosts.contains(&host) {
            return Err(Refusal::ModelProvider);
        }
        if let Some((ip, pin_port)) = self.pins.get(&host) {
            return Ok(Target { addr: SocketAddr::new(*ip, pin_port.unwrap_or(port)), pinned: true });
        }
        if !self.allows(&host) {
            return Err(Refusal::NotAllowed);
        }
        let addrs = self.resolver.resolve(&host, port).await.map_err(Refusal::Unresolvable)?;
        if addrs.is_empty() {
            return Err(Refusal::Unresolvable("no address".into()));
        }
        for addr in &addrs {
            if let Some(range) = self.forbidden(*addr) {
                return Err(Refusal::Address { addr: *addr, range });
            }
        }
        // Every address passed; the first one is dialled, and only it.
        Ok(Target { addr: SocketAddr::new(addrs[0], port), pinned: false })
    }

    /// The forbidden range an address is in, if any.
    pub fn forbidden(&self, addr: IpAddr) -> Option<&'static str> {
        if let Some(r) = forbidden_range(addr) {
            return Some(r);
        }
        self.docker_subnets.iter().any(|(net, len)| in_subnet(addr, *net, *len)).then_some("Docker network")
    }
}

/// The special-purpose range an address belongs to (not globally reachable).
pub fn forbidden_range(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => v4_range(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_range(v4);
            }
            v6_range(v6)
        }
    }
}

fn v4_range(a: Ipv4Addr) -> Option<&'static str> {
    let o = a.octets();
    if a.is_loopback() {
        Some("loopback")
    } else if a.is_private() {
        Some("private (RFC 1918)")
    } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
        Some("carrier-grade NAT")
    } else if a.is_link_local() {
        Some("link-local (incl. the cloud metadata address)")
    } else if a.is_multicast() {
        Some("multicast")
    } else if a.is_unspecified() || o[0] == 0 {
        Some("unspecified")
    } else if a.is_broadcast() || o[0] >= 240 {
        Some("reserved")
    } else {
        None
    }
}

fn v6_range(a: Ipv6Addr) -> Option<&'static str> {
    let s = a.segments();
    if a.is_loopback() {
        Some("loopback")
    } else if a.is_unspecified() {
        Some("unspecified")
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Some("unique local (ULA)")
    } else if (s[0] & 0xffc0) == 0xfe80 {
        Some("link-local")
    } else if a.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

fn in_subnet(addr: IpAddr, net: IpAddr, len: u8) -> bool {
    match (addr, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let len = u32::from(len.min(32));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            (u32::from(a) & mask) == (u32::from(n) & mask)
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let len = u32::from(len.min(128));
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
            (u128::from(a) & mask) == (u128::from(n) & mask)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(table: &[(&str, &str)]) -> Policy {
        let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (h, a) in table {
            map.entry((*h).to_owned()).or_default().push(a.parse().unwrap());
        }
        Policy {
            allow: vec!["pypi.org".into(), "*.example.com".into()],
            pins: HashMap::from([("mirror.internal".to_owned(), ("10.1.2.3".parse().unwrap(), Some(8080)))]),
            provider_hosts: vec!["api.anthropic.com".into()],
            docker_subnets: vec![("198.18.0.0".parse().unwrap(), 15)],
            resolver: Resolver::Fixed(Arc::new(map)),
        }
    }

    #[test]
    fn patterns_match_names_and_subdomains_only() {
        assert!(matches("pypi.org", "pypi.org"));
        assert!(!matches("pypi.org", "evil-pypi.org"));
        assert!(matches("*.example.com", "a.example.com"));
        assert!(matches("*.example.com", "a.b.example.com"));
        assert!(!matches("*.example.com", "example.com"));
        assert!(!matches("*.example.com", "badexample.com"));
    }

    #[test]
    fn address_ranges() {
        for (a, bad) in [
            ("127.0.0.1", true),
            ("10.0.0.1", true),
            ("172.16.5.4", true),
            ("192.168.1.1", true),
            ("100.64.0.1", true),
            ("169.254.169.254", true),
            ("224.0.0.1", true),
            ("0.0.0.0", true),
            ("::1", true),
            ("fd00::1", true),
            ("fe80::1", true),
            ("::ffff:127.0.0.1", true),
            ("151.101.0.223", false),
            ("2a04:4e42::223", false),
        ] {
            assert_eq!(forbidden_range(a.parse().unwrap()).is_some(), bad, "{a}");
        }
    }

    #[tokio::test]
    async fn decisions() {
        let p = policy(&[
            ("pypi.org", "151.101.0.223"),
            ("a.example.com", "151.101.0.1"),
            ("a.example.com", "10.0.0.7"),
            ("meta.example.com", "169.254.169.254"),
            ("dock.example.com", "198.18.0.5"),
        ]);
        assert_eq!(p.check("pypi.org", 443).await.unwrap().addr, "151.101.0.223:443".parse().unwrap());
        assert_eq!(p.check("PyPI.org.", 80).await.unwrap().addr.port(), 80);
        assert_eq!(p.check("pypi.org", 22).await, Err(Refusal::Port(22)));
        assert_eq!(p.check("10.0.0.1", 443).await, Err(Refusal::IpLiteral));
        assert_eq!(p.check("[::1]", 443).await, Err(Refusal::IpLiteral));
        assert_eq!(p.check("2130706433", 443).await, Err(Refusal::IpLiteral));
        assert_eq!(p.check("github.com", 443).await, Err(Refusal::NotAllowed));
        assert_eq!(p.check("api.anthropic.com", 443).await, Err(Refusal::ModelProvider));
        // One bad address among good ones refuses the name.
        assert!(matches!(
            p.check("a.example.com", 443).await,
            Err(Refusal::Address { range: "private (RFC 1918)", .. })
        ));
        assert!(matches!(p.check("meta.example.com", 443).await, Err(Refusal::Address { .. })));
        assert!(matches!(
            p.check("dock.example.com", 443).await,
            Err(Refusal::Address { range: "Docker network", .. })
        ));
        assert!(matches!(p.check("b.example.com", 443).await, Err(Refusal::Unresolvable(_))));
        // A pin is the operator's word, private range or not.
        let t = p.check("mirror.internal", 443).await.unwrap();
        assert_eq!((t.addr, t.pinned), ("10.1.2.3:8080".parse().unwrap(), true));
    }
}
