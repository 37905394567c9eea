//! The egress proxy's and LLM gateway's settings: a group of their own
//! (flags, parsing, defaults), folded into [`super::Settings::egress`].

use anyhow::{Context, bail};
use clap::Args;

use super::{Source, parse_http_url, parse_number, secret};

/// Egress and the LLM gateway: flags and variables of their own group.
#[derive(Debug, Default, Clone, Args)]
pub struct RawEgressSettings {
    /// Hosts a `filtered` sandbox may reach through the egress proxy (ports 443 and 80), comma-separated:
    /// exact names or `*.suffix` (subdomains of suffix). [default: the package registries of crates.io,
    /// PyPI, npm, Go modules, Maven Central, RubyGems and the Debian/Ubuntu archives]
    #[arg(long, global = true, env = "MAXION_EGRESS_ALLOW")]
    pub maxion_egress_allow: Option<String>,
    /// The most a repository's `egress:` in .github/maxion.yml may add to MAXION_EGRESS_ALLOW (names or
    /// `*.suffix`, comma-separated); hosts past it are dropped and noted. [default: MAXION_EGRESS_ALLOW]
    #[arg(long, global = true, env = "MAXION_EGRESS_ALLOW_MAX")]
    pub maxion_egress_allow_max: Option<String>,
    /// Pinned addresses, `host=addr[:port]`, comma-separated (e.g. an internal mirror): the proxy dials
    /// the pinned address without resolving, even in a private range.
    #[arg(long, global = true, env = "MAXION_EGRESS_PIN")]
    pub maxion_egress_pin: Option<String>,
    /// Port of the egress proxy and LLM gateway on each filtered job network's gateway address. [default: 3128]
    #[arg(long, global = true, env = "MAXION_EGRESS_PORT")]
    pub maxion_egress_port: Option<String>,
    /// The real Anthropic API key; the LLM gateway injects it, the sandbox never sees it.
    #[arg(long, global = true, env = "ANTHROPIC_API_KEY", hide_env_values = true)]
    pub anthropic_api_key: Option<String>,
    /// Alternative to ANTHROPIC_API_KEY: a file holding the key.
    #[arg(long, global = true, env = "ANTHROPIC_API_KEY_FILE")]
    pub anthropic_api_key_file: Option<String>,
    /// The real OpenAI (or OpenAI-compatible) API key; the LLM gateway injects it.
    #[arg(long, global = true, env = "OPENAI_API_KEY", hide_env_values = true)]
    pub openai_api_key: Option<String>,
    /// Alternative to OPENAI_API_KEY: a file holding the key.
    #[arg(long, global = true, env = "OPENAI_API_KEY_FILE")]
    pub openai_api_key_file: Option<String>,
    /// Anthropic API base URL the gateway forwards to. [default: https://api.anthropic.com]
    #[arg(long, global = true, env = "MAXION_ANTHROPIC_URL")]
    pub maxion_anthropic_url: Option<String>,
    /// OpenAI-compatible API base URL (vLLM, Ollama, LiteLLM, Azure-style) the gateway forwards to.
    /// [default: https://api.openai.com/v1]
    #[arg(long, global = true, env = "MAXION_OPENAI_URL")]
    pub maxion_openai_url: Option<String>,
    /// A TOML price table (`[models.<id>] input = 3.0, cached_input = 0.3, output = 15.0`, USD per million
    /// tokens) replacing the shipped one. [default: the shipped table, dated in its header]
    #[arg(long, global = true, env = "MAXION_LLM_PRICES")]
    pub maxion_llm_prices: Option<String>,
    /// Most model tokens (input + output) one job may use through the gateway; over it requests get 403
    /// budget_exceeded and the job ends so. [default: unlimited]
    #[arg(long, global = true, env = "MAXION_JOB_TOKEN_BUDGET")]
    pub maxion_job_token_budget: Option<String>,
    /// Most USD one job may spend on models (priced by MAXION_LLM_PRICES). [default: unlimited]
    #[arg(long, global = true, env = "MAXION_JOB_COST_BUDGET")]
    pub maxion_job_cost_budget: Option<String>,
    /// Most USD one installation may spend on models per UTC day (all its jobs). [default: unlimited]
    #[arg(long, global = true, env = "MAXION_DAILY_COST_BUDGET")]
    pub maxion_daily_cost_budget: Option<String>,
    /// Seconds the LLM gateway waits for a model provider: for its answer's headers (a non-streamed
    /// answer's headers come when the whole answer is ready) and, in a streamed answer, between two
    /// chunks. Past it the call gets 504 (or its stream ends) and the job's failure names it. [default: 300]
    #[arg(long, global = true, env = "MAXION_LLM_TIMEOUT")]
    pub maxion_llm_timeout: Option<String>,
}

/// The registries a `filtered` sandbox reaches when the operator names none.
pub const DEFAULT_EGRESS_ALLOW: &[&str] = &[
    "crates.io",
    "static.crates.io",
    "index.crates.io",
    "pypi.org",
    "files.pythonhosted.org",
    "registry.npmjs.org",
    "registry.yarnpkg.com",
    "proxy.golang.org",
    "sum.golang.org",
    "repo.maven.apache.org",
    "repo1.maven.org",
    "rubygems.org",
    "index.rubygems.org",
    "deb.debian.org",
    "security.debian.org",
    "archive.ubuntu.com",
    "security.ubuntu.com",
];

/// Egress proxy and LLM gateway settings (typed).
#[derive(Debug, Clone)]
pub struct EgressSettings {
    /// Exact names and `*.suffix` patterns, lower case.
    pub allow: Vec<String>,
    /// What a repository's `egress:` may add (`MAXION_EGRESS_ALLOW_MAX`).
    pub allow_max: Vec<String>,
    /// Pinned `host` → address (and optional port).
    pub pins: Vec<(String, std::net::IpAddr, Option<u16>)>,
    pub port: u16,
    /// `None`: no key configured, the provider is not offered.
    pub anthropic: Option<crate::gateway::Upstream>,
    pub openai: Option<crate::gateway::Upstream>,
    pub prices: crate::gateway::Prices,
    pub budget: crate::gateway::Budget,
    /// `MAXION_DAILY_COST_BUDGET`: USD per installation per UTC day.
    pub daily_usd: Option<f64>,
    /// `MAXION_LLM_TIMEOUT`: the longest wait for a provider's answer to begin, or for its next chunk.
    pub llm_timeout: std::time::Duration,
}

impl EgressSettings {
    pub(super) fn from_raw(raw: RawEgressSettings, src: &Source) -> anyhow::Result<Self> {
        let pick = |value: Option<String>, name: &str| src.pick(&value, name);
        let list = |v: &str| -> Vec<String> {
            v.split([',', ' ', '\n']).map(str::trim).filter(|h| !h.is_empty()).map(str::to_ascii_lowercase).collect()
        };
        let allow = match pick(raw.maxion_egress_allow, "MAXION_EGRESS_ALLOW")? {
            None => DEFAULT_EGRESS_ALLOW.iter().map(|h| (*h).to_owned()).collect(),
            Some(v) => list(&v),
        };
        for host in &allow {
            if !valid_host_pattern(host) {
                bail!("MAXION_EGRESS_ALLOW: {host:?} is not a host name or a *.suffix pattern");
            }
        }
        let allow_max = match pick(raw.maxion_egress_allow_max, "MAXION_EGRESS_ALLOW_MAX")? {
            None => allow.clone(),
            Some(v) => list(&v),
        };
        if let Some(bad) = allow_max.iter().find(|h| !valid_host_pattern(h)) {
            bail!("MAXION_EGRESS_ALLOW_MAX: {bad:?} is not a host name or a *.suffix pattern");
        }
        let mut pins = Vec::new();
        for entry in pick(raw.maxion_egress_pin, "MAXION_EGRESS_PIN")?.map(|v| list(&v)).unwrap_or_default() {
            let Some((host, addr)) = entry.split_once('=') else {
                bail!("MAXION_EGRESS_PIN: {entry:?} is not host=addr[:port]");
            };
            let (ip, port) = match addr.parse::<std::net::SocketAddr>() {
                Ok(sa) => (sa.ip(), Some(sa.port())),
                Err(_) => match addr.parse::<std::net::IpAddr>() {
                    Ok(ip) => (ip, None),
                    Err(_) => bail!("MAXION_EGRESS_PIN: {addr:?} is not an address (addr or addr:port)"),
                },
            };
            if !valid_host_pattern(host) || host.starts_with("*.") {
                bail!("MAXION_EGRESS_PIN: {host:?} is not a host name");
            }
            pins.push((host.to_owned(), ip, port));
        }
        let port = parse_number(
            pick(raw.maxion_egress_port, "MAXION_EGRESS_PORT")?,
            "MAXION_EGRESS_PORT",
            3128u16,
            1..=65535,
        )?;
        let provider = |key: Option<String>,
                        key_name: &str,
                        file: Option<String>,
                        file_name: &str,
                        url: Option<String>,
                        url_name: &str,
                        default_url: &str|
         -> anyhow::Result<Option<crate::gateway::Upstream>> {
            let key = match (pick(key, key_name)?, pick(file, file_name)?) {
                (Some(k), _) => Some(k),
                (None, Some(path)) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("{file_name}: cannot read {path}"))?
                        .trim()
                        .to_owned(),
                ),
                (None, None) => None,
            };
            let url = pick(url, url_name)?.unwrap_or_else(|| default_url.to_owned());
            let url = parse_http_url(&url, url_name)?;
            key.map(|k| Ok(crate::gateway::Upstream { url, key: secret(key_name, k)? })).transpose()
        };
        let anthropic = provider(
            raw.anthropic_api_key,
            "ANTHROPIC_API_KEY",
            raw.anthropic_api_key_file,
            "ANTHROPIC_API_KEY_FILE",
            raw.maxion_anthropic_url,
            "MAXION_ANTHROPIC_URL",
            "https://api.anthropic.com",
        )?;
        let openai = provider(
            raw.openai_api_key,
            "OPENAI_API_KEY",
            raw.openai_api_key_file,
            "OPENAI_API_KEY_FILE",
            raw.maxion_openai_url,
            "MAXION_OPENAI_URL",
            "https://api.openai.com/v1",
        )?;
        let prices = match pick(raw.maxion_llm_prices, "MAXION_LLM_PRICES")? {
            None => crate::gateway::Prices::shipped(),
            Some(path) => {
                let text =
                    std::fs::read_to_string(&path).with_context(|| format!("MAXION_LLM_PRICES: cannot read {path}"))?;
                crate::gateway::Prices::parse(&text).map_err(|e| anyhow::anyhow!("MAXION_LLM_PRICES: {path}: {e}"))?
            }
        };
        let tokens = pick(raw.maxion_job_token_budget, "MAXION_JOB_TOKEN_BUDGET")?
            .map(|v| parse_number(Some(v), "MAXION_JOB_TOKEN_BUDGET", 0u64, 1..=u64::MAX))
            .transpose()?;
        let amount = |v: Option<String>, name: &str| -> anyhow::Result<Option<f64>> {
            match v {
                None => Ok(None),
                Some(v) => match v.trim().parse::<f64>() {
                    Ok(x) if x.is_finite() && x > 0.0 => Ok(Some(x)),
                    _ => bail!("{name}: {v:?} is not a positive amount in USD"),
                },
            }
        };
        let usd = amount(pick(raw.maxion_job_cost_budget, "MAXION_JOB_COST_BUDGET")?, "MAXION_JOB_COST_BUDGET")?;
        let daily_usd =
            amount(pick(raw.maxion_daily_cost_budget, "MAXION_DAILY_COST_BUDGET")?, "MAXION_DAILY_COST_BUDGET")?;
        let budget = crate::gateway::Budget { tokens, usd };
        let llm_timeout = std::time::Duration::from_secs(parse_number(
            pick(raw.maxion_llm_timeout, "MAXION_LLM_TIMEOUT")?,
            "MAXION_LLM_TIMEOUT",
            crate::gateway::DEFAULT_LLM_TIMEOUT.as_secs(),
            1..=3600,
        )?);
        Ok(EgressSettings { allow, allow_max, pins, port, anthropic, openai, prices, budget, daily_usd, llm_timeout })
    }
}

/// A host name (letters, digits, `-`, `.`) or `*.` followed by one.
pub fn valid_host_pattern(p: &str) -> bool {
    let name = p.strip_prefix("*.").unwrap_or(p);
    !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        && name.parse::<std::net::IpAddr>().is_err()
}
