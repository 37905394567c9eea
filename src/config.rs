//! Typed settings. Sources, strongest first: command-line flags, environment
//! variables (a `.env` file in the working directory is loaded into the
//! environment first, never overriding what is already set), the `.env` file
//! in the data directory (where the first-run setup stores the App it
//! created, `env_file.rs`), a TOML file given with `--config` (keys are the
//! variable names in lower case, e.g. `database_url = "postgres://…"`), then
//! the defaults below.
//!
//! Secrets become `SecretString`s here and are registered with the global
//! masker, so nothing after this point can log them by accident.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use secrecy::{ExposeSecret, SecretString};

use crate::github::RepoPermission;
use crate::jobs::JobId;
use crate::sandbox::NetworkMode;

mod agent;
mod egress;
pub mod env_file;
pub use agent::{AgentKind, valid_model_name};
pub use egress::{DEFAULT_EGRESS_ALLOW, EgressSettings, RawEgressSettings, valid_host_pattern};

/// Every setting, as flags and environment variables. All are optional at
/// this level so that the TOML file can fill what the environment leaves out.
#[derive(Debug, Default, Clone, Args)]
pub struct RawSettings {
    /// The GitHub App's id.
    #[arg(long, global = true, env = "GITHUB_APP_ID", hide_env_values = true)]
    pub github_app_id: Option<String>,
    /// The App's private key as PEM text (literal `\n` sequences are accepted).
    #[arg(long, global = true, env = "GITHUB_APP_PRIVATE_KEY", hide_env_values = true)]
    pub github_app_private_key: Option<String>,
    /// Alternative to GITHUB_APP_PRIVATE_KEY: a file holding the PEM.
    #[arg(long, global = true, env = "GITHUB_APP_PRIVATE_KEY_PATH")]
    pub github_app_private_key_path: Option<String>,
    /// The webhook secret configured on the App.
    #[arg(long, global = true, env = "GITHUB_WEBHOOK_SECRET", hide_env_values = true)]
    pub github_webhook_secret: Option<String>,
    /// REST API base URL (GitHub Enterprise Server: https://HOST/api/v3). [default: https://api.github.com]
    #[arg(long, global = true, env = "GITHUB_API_URL")]
    pub github_api_url: Option<String>,
    /// `sqlite://FILE` (created if missing) or `postgres://…`. [default: sqlite://maxion.db]
    #[arg(long, global = true, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Address to listen on. [default: 127.0.0.1:3000]
    #[arg(long, global = true, env = "MAXION_LISTEN")]
    pub maxion_listen: Option<String>,
    /// The URL users reach Maxion at, for links in comments and check runs. [default: http://localhost:3000]
    #[arg(long, global = true, env = "MAXION_PUBLIC_URL")]
    pub maxion_public_url: Option<String>,
    /// Bearer token for the JSON API; unset: the API answers 401 to everyone.
    #[arg(long, global = true, env = "MAXION_API_TOKEN", hide_env_values = true)]
    pub maxion_api_token: Option<String>,
    /// The issue label that starts a job (case-insensitive). [default: maxion]
    #[arg(long, global = true, env = "MAXION_TRIGGER_LABEL")]
    pub maxion_trigger_label: Option<String>,
    /// The comment command word. [default: /maxion]
    #[arg(long, global = true, env = "MAXION_COMMAND")]
    pub maxion_command: Option<String>,
    /// Repository permission needed to start, retry or cancel a job: triage | write | maintain | admin. [default: write]
    #[arg(long, global = true, env = "MAXION_REQUIRED_PERMISSION")]
    pub maxion_required_permission: Option<String>,
    /// Jobs run at once on this instance; 0 records jobs but runs none (intake only). [default: 3]
    #[arg(long, global = true, env = "MAXION_WORKERS")]
    pub maxion_workers: Option<String>,
    /// New jobs allowed per installation per minute; over it deliveries are recorded as rate_limited. [default: 30]
    #[arg(long, global = true, env = "MAXION_JOBS_PER_MINUTE")]
    pub maxion_jobs_per_minute: Option<String>,
    /// Burst of new jobs allowed per installation above the steady rate. [default: 10]
    #[arg(long, global = true, env = "MAXION_JOBS_BURST")]
    pub maxion_jobs_burst: Option<String>,
    /// Where mirrors and working copies live. [default: ./maxion-data]
    #[arg(long, global = true, env = "MAXION_DATA_DIR")]
    pub maxion_data_dir: Option<String>,
    /// Docker image every job's sandbox runs (never pulled). [default: maxion-sandbox:latest]
    #[arg(long, global = true, env = "MAXION_SANDBOX_IMAGE")]
    pub maxion_sandbox_image: Option<String>,
    /// Sandbox network: `none`, `open` (a bridge network of the job's own) or `filtered` (an internal
    /// network whose only peer is Maxion's egress proxy and LLM gateway). [default: filtered when
    /// MAXION_AGENT is a built-in agent (pi, claude-code, codex, mini-swe-agent), none for custom]
    #[arg(long, global = true, env = "MAXION_SANDBOX_NETWORK")]
    pub maxion_sandbox_network: Option<String>,
    /// The coding agent profile every job runs (a repository may pick another of MAXION_ALLOWED_AGENTS).
    /// Each reaches its model only through Maxion's LLM gateway; the sandbox image (MAXION_SANDBOX_IMAGE)
    /// must hold its program: build the named stage of docker/sandbox.Dockerfile (stage `all` has every
    /// agent). [default: pi]
    ///
    /// - `claude-code`: Claude Code, `claude -p --output-format stream-json`; Anthropic Messages
    ///   (ANTHROPIC_API_KEY); model: `--model MAXION_AGENT_MODEL`; image stage `claude-code`.
    ///
    /// - `codex`: Codex CLI, `codex exec --json`, its config.toml written at run time; OpenAI Responses
    ///   (OPENAI_API_KEY); model: `model =` in that config; image stage `codex`.
    ///
    /// - `mini-swe-agent`: `mini -y`; OpenAI Chat Completions (OPENAI_API_KEY); model: `openai/` +
    ///   MAXION_AGENT_MODEL, required; image stage `mini-swe-agent`.
    ///
    /// - `pi`: `pi --print`; model: `--model MAXION_AGENT_MODEL`; image stage `pi` (Node.js >= 22.19).
    ///
    /// - `custom`: MAXION_AGENT_COMMAND with `sh -c`; model: $MAXION_AGENT_MODEL; image stage `base`.
    #[arg(long, global = true, env = "MAXION_AGENT")]
    pub maxion_agent: Option<String>,
    /// The model the agent uses (passed as --model or written to its config; in $MAXION_AGENT_MODEL for
    /// custom; per profile: MAXION_AGENT). Letters, digits and . - _ : / @ only. Applies to MAXION_AGENT's
    /// profile only; a repository's `agent.model` replaces it. [default: the agent's own default]
    #[arg(long, global = true, env = "MAXION_AGENT_MODEL")]
    pub maxion_agent_model: Option<String>,
    /// Agent profiles a repository's .github/maxion.yml `agent.profile` may pick instead of MAXION_AGENT,
    /// comma-separated (others fall back to MAXION_AGENT, noted on the status comment); the sandbox image
    /// must hold each one's program (stage `all`). `custom` runs MAXION_AGENT_COMMAND.
    /// [default: MAXION_AGENT's value]
    #[arg(long, global = true, env = "MAXION_ALLOWED_AGENTS")]
    pub maxion_allowed_agents: Option<String>,
    /// The agent command for the `custom` profile, run with `sh -c`; the prompt file is in $MAXION_PROMPT_FILE.
    #[arg(long, global = true, env = "MAXION_AGENT_COMMAND")]
    pub maxion_agent_command: Option<String>,
    /// Comma-separated names of host environment variables handed to the agent exec only (masked everywhere).
    #[arg(long, global = true, env = "MAXION_AGENT_SECRETS")]
    pub maxion_agent_secrets: Option<String>,
    /// Hard deadline per job, in seconds, from sandbox start. [default: 1800]
    #[arg(long, global = true, env = "MAXION_JOB_TIMEOUT")]
    pub maxion_job_timeout: Option<String>,
    /// Least milliseconds between two mutating GitHub requests per installation (GitHub asks for 1000;
    /// a GitHub Enterprise Server without rate limits may use 0). [default: 1000]
    #[arg(long, global = true, env = "MAXION_GITHUB_MUTATION_INTERVAL_MS")]
    pub maxion_github_mutation_interval_ms: Option<String>,
    /// Seconds running jobs may go on after SIGTERM before they are handed back. [default: 60]
    #[arg(long, global = true, env = "MAXION_SHUTDOWN_GRACE")]
    pub maxion_shutdown_grace: Option<String>,
    /// Fix rounds after failed verification, 0-2; also the most a repository's .github/maxion.yml gets. [default: 2]
    #[arg(long, global = true, env = "MAXION_MAX_FIX_ROUNDS")]
    pub maxion_max_fix_rounds: Option<String>,
    /// Open a draft PR (stating the failures) when verification still fails: true | false. [default: true]
    #[arg(long, global = true, env = "MAXION_DRAFT_ON_FAILURE")]
    pub maxion_draft_on_failure: Option<String>,
    /// Verification commands, one per line or `;;`-separated, overriding detection (a repository's .github/maxion.yml overrides both).
    #[arg(long, global = true, env = "MAXION_VERIFY_COMMANDS")]
    pub maxion_verify_commands: Option<String>,
    /// Longest job deadline, in seconds, a repository's .github/maxion.yml may ask for (longer is clamped). [default: 3600, at least MAXION_JOB_TIMEOUT]
    #[arg(long, global = true, env = "MAXION_MAX_JOB_TIMEOUT")]
    pub maxion_max_job_timeout: Option<String>,
    /// Sandbox network modes (none, open, filtered) a repository's .github/maxion.yml may choose, comma-separated (others fall back to MAXION_SANDBOX_NETWORK). [default: MAXION_SANDBOX_NETWORK's value]
    #[arg(long, global = true, env = "MAXION_ALLOWED_NETWORK_MODES")]
    pub maxion_allowed_network_modes: Option<String>,
    /// Serve /metrics to anyone: true | false. False: it needs the API token like the JSON API. [default: false]
    #[arg(long, global = true, env = "MAXION_METRICS_PUBLIC")]
    pub maxion_metrics_public: Option<String>,
    /// The App's OAuth client id, for "Sign in with GitHub" on the pages (with GITHUB_APP_CLIENT_SECRET).
    #[arg(long, global = true, env = "GITHUB_APP_CLIENT_ID")]
    pub github_app_client_id: Option<String>,
    /// The App's OAuth client secret.
    #[arg(long, global = true, env = "GITHUB_APP_CLIENT_SECRET", hide_env_values = true)]
    pub github_app_client_secret: Option<String>,
    /// GitHub's web address, where users sign in (GitHub Enterprise Server: https://HOST). [default: from GITHUB_API_URL]
    #[arg(long, global = true, env = "MAXION_GITHUB_URL")]
    pub maxion_github_url: Option<String>,
    /// Retries of a git fetch, clone or push over HTTP after a transient failure (5xx, 429, reset, timeout), 0-10. [default: 4]
    #[arg(long, global = true, env = "MAXION_GIT_RETRIES")]
    pub maxion_git_retries: Option<String>,
    /// Seconds between looks for webhook deliveries GitHub failed to hand over (also once at start-up); 0 turns it off. [default: 300]
    #[arg(long, global = true, env = "MAXION_REDELIVERY_INTERVAL")]
    pub maxion_redelivery_interval: Option<String>,
    #[command(flatten)]
    pub egress: RawEgressSettings,
}

/// The GitHub App's identity. Present only when all three parts are set.
#[derive(Clone)]
pub struct AppCredentials {
    pub app_id: u64,
    pub private_key: SecretString,
    pub webhook_secret: SecretString,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials").field("app_id", &self.app_id).finish_non_exhaustive()
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `None` when the App is not (fully) configured: the service still starts,
    /// serves `/healthz`, and answers webhooks with 503.
    pub app: Option<AppCredentials>,
    /// Names of the App settings that are missing (for the start-up line and the 503).
    pub missing: Vec<&'static str>,
    pub github_api_url: String,
    pub database_url: SecretString,
    pub listen: SocketAddr,
    pub public_url: String,
    pub api_token: Option<SecretString>,
    pub trigger_label: String,
    pub command: String,
    /// Needed to start, retry or cancel a job (triage, write, maintain or admin).
    pub required_permission: RepoPermission,
    pub workers: usize,
    pub jobs_per_minute: u32,
    pub jobs_burst: u32,
    pub data_dir: PathBuf,
    /// Least spacing between mutating GitHub requests per installation.
    pub github_mutation_interval: Duration,
    pub pipeline: PipelineSettings,
    pub resilience: ResilienceSettings,
    /// The egress proxy and LLM gateway (network mode `filtered`).
    pub egress: EgressSettings,
    pub web: WebSettings,
}

/// The pages and `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// `/metrics` without the API token.
    pub metrics_public: bool,
    /// GitHub's web address (`https://github.com`): sign-in and links.
    pub github_url: String,
    /// "Sign in with GitHub": the App's OAuth client; `None` when not configured.
    pub oauth: Option<OAuthCredentials>,
}

/// The App's OAuth client id and secret.
#[derive(Clone)]
pub struct OAuthCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

impl std::fmt::Debug for OAuthCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthCredentials").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// How Maxion rides out a misbehaving GitHub.
#[derive(Debug, Clone)]
pub struct ResilienceSettings {
    /// Retries of a git network operation after a transient failure.
    pub git_retries: usize,
    /// Between looks for missed webhook deliveries; `None`: never.
    pub redelivery_interval: Option<Duration>,
}

impl ResilienceSettings {
    fn from_raw(raw: &RawSettings, src: &Source) -> anyhow::Result<Self> {
        let git_retries = src.pick(&raw.maxion_git_retries, "MAXION_GIT_RETRIES")?;
        let git_retries = parse_number(git_retries, "MAXION_GIT_RETRIES", 4, 0..=10)?;
        let interval = src.pick(&raw.maxion_redelivery_interval, "MAXION_REDELIVERY_INTERVAL")?;
        let secs = parse_number(interval, "MAXION_REDELIVERY_INTERVAL", 300u64, 0..=86_400)?;
        let redelivery_interval = (secs > 0).then(|| Duration::from_secs(secs));
        Ok(Self { git_retries, redelivery_interval })
    }
}

/// What the pipeline runs jobs with.
#[derive(Debug, Clone)]
pub struct PipelineSettings {
    pub sandbox_image: String,
    pub sandbox_network: NetworkMode,
    /// The coding agent every job runs (the profile; `pipeline::agent` knows how to start it).
    pub agent: AgentKind,
    /// `MAXION_AGENT_MODEL`; `None`: the agent's default.
    pub agent_model: Option<String>,
    /// Profiles a repository may pick (`agent.profile`); holds `agent`.
    pub allowed_agents: Vec<AgentKind>,
    /// Names of host environment variables passed to the agent exec only.
    pub agent_secrets: Vec<String>,
    pub job_timeout: Duration,
    pub shutdown_grace: Duration,
    pub max_fix_rounds: u32,
    pub draft_on_failure: bool,
    /// Configured verification commands; empty: detected.
    pub verify_commands: Vec<String>,
    /// Bounds on `.github/maxion.yml`: the longest job deadline a repository gets.
    pub max_job_timeout: Duration,
    /// Network modes a repository may choose; holds `sandbox_network`.
    pub allowed_network_modes: Vec<NetworkMode>,
}

impl Settings {
    /// Settings with every default and no App, for tests and tools.
    pub fn defaults() -> Self {
        match Self::from_raw(RawSettings::default(), None) {
            Ok(s) => s,
            // The defaults are constants validated by a unit test.
            Err(e) => unreachable!("default settings are invalid: {e}"),
        }
    }

    /// Validates raw settings, filling gaps from the TOML table. Errors name the setting.
    pub fn from_raw(raw: RawSettings, toml: Option<&BTreeMap<String, toml::Value>>) -> anyhow::Result<Self> {
        Self::from_sources(raw, toml, None)
    }

    fn from_sources(
        raw: RawSettings,
        toml: Option<&BTreeMap<String, toml::Value>>,
        stored: Option<&BTreeMap<String, String>>,
    ) -> anyhow::Result<Self> {
        let src = Source { toml, stored };
        let (app, missing) = app_credentials(&raw, &src)?;
        let server = server_settings(&raw, &src)?;
        let conversation = conversation_settings(&raw, &src)?;
        let capacity = capacity_settings(&raw, &src)?;
        let web = web_settings(&raw, &src, &server.github_api_url)?;
        Ok(Settings {
            web,
            resilience: ResilienceSettings::from_raw(&raw, &src)?,
            pipeline: pipeline_settings(&raw, &src)?,
            egress: EgressSettings::from_raw(raw.egress.clone(), &src)?,
            app,
            missing,
            github_api_url: server.github_api_url,
            database_url: server.database_url,
            listen: server.listen,
            public_url: server.public_url,
            api_token: server.api_token,
            trigger_label: conversation.trigger_label,
            command: conversation.command,
            required_permission: conversation.required_permission,
            workers: capacity.workers,
            github_mutation_interval: capacity.github_mutation_interval,
            jobs_per_minute: capacity.jobs_per_minute,
            jobs_burst: capacity.jobs_burst,
            data_dir: capacity.data_dir,
        })
    }

    /// Parses the given raw flags/env with the data directory's `.env` (if
    /// present) and the optional TOML file.
    pub fn load(raw: RawSettings, config_file: Option<&Path>) -> anyhow::Result<Self> {
        let table = match config_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("--config: cannot read {}", path.display()))?;
                let table: BTreeMap<String, toml::Value> =
                    toml::from_str(&text).with_context(|| format!("--config: {} is not valid TOML", path.display()))?;
                let known = RawSettings::names();
                if let Some(unknown) = table.keys().find(|k| !known.iter().any(|n| n.eq_ignore_ascii_case(k))) {
                    bail!("--config: unknown setting {unknown:?} in {}", path.display());
                }
                Some(table)
            }
        };
        let data_dir = Source { toml: table.as_ref(), stored: None }
            .pick(&raw.maxion_data_dir, "MAXION_DATA_DIR")?
            .unwrap_or_else(|| DEFAULT_DATA_DIR.into());
        let stored = env_file::read(Path::new(&data_dir))?;
        let known = RawSettings::names();
        let file = env_file::path(Path::new(&data_dir));
        if let Some(unknown) = stored.keys().find(|k| !known.contains(&k.as_str()) || *k == "MAXION_DATA_DIR") {
            bail!("MAXION_DATA_DIR: {unknown:?} in {} is not a setting it may hold", file.display());
        }
        Self::from_sources(raw, table.as_ref(), Some(&stored))
    }

    /// The URL of a job's page, for links in comments and check runs.
    pub fn job_url(&self, job: JobId) -> String {
        format!("{}/jobs/{job}", self.public_url)
    }
}

impl RawSettings {
    /// The variable names, which are also the TOML keys (lower-cased).
    pub fn names() -> &'static [&'static str] {
        &[
            "GITHUB_APP_ID",
            "GITHUB_APP_PRIVATE_KEY",
            "GITHUB_APP_PRIVATE_KEY_PATH",
            "GITHUB_WEBHOOK_SECRET",
            "GITHUB_API_URL",
            "DATABASE_URL",
            "MAXION_LISTEN",
            "MAXION_PUBLIC_URL",
            "MAXION_API_TOKEN",
            "MAXION_TRIGGER_LABEL",
            "MAXION_COMMAND",
            "MAXION_REQUIRED_PERMISSION",
            "MAXION_WORKERS",
            "MAXION_JOBS_PER_MINUTE",
            "MAXION_JOBS_BURST",
            "MAXION_DATA_DIR",
            "MAXION_SANDBOX_IMAGE",
            "MAXION_SANDBOX_NETWORK",
            "MAXION_AGENT",
            "MAXION_AGENT_COMMAND",
            "MAXION_AGENT_MODEL",
            "MAXION_ALLOWED_AGENTS",
            "MAXION_AGENT_SECRETS",
            "MAXION_JOB_TIMEOUT",
            "MAXION_SHUTDOWN_GRACE",
            "MAXION_GITHUB_MUTATION_INTERVAL_MS",
            "MAXION_MAX_FIX_ROUNDS",
            "MAXION_DRAFT_ON_FAILURE",
            "MAXION_VERIFY_COMMANDS",
            "MAXION_MAX_JOB_TIMEOUT",
            "MAXION_ALLOWED_NETWORK_MODES",
            "MAXION_METRICS_PUBLIC",
            "GITHUB_APP_CLIENT_ID",
            "GITHUB_APP_CLIENT_SECRET",
            "MAXION_GITHUB_URL",
            "MAXION_GIT_RETRIES",
            "MAXION_REDELIVERY_INTERVAL",
            "MAXION_EGRESS_ALLOW",
            "MAXION_EGRESS_ALLOW_MAX",
            "MAXION_EGRESS_PIN",
            "MAXION_EGRESS_PORT",
            "ANTHROPIC_API_KEY",
            "ANTHROPIC_API_KEY_FILE",
            "OPENAI_API_KEY",
            "OPENAI_API_KEY_FILE",
            "MAXION_ANTHROPIC_URL",
            "MAXION_OPENAI_URL",
            "MAXION_LLM_PRICES",
            "MAXION_JOB_TOKEN_BUDGET",
            "MAXION_JOB_COST_BUDGET",
            "MAXION_DAILY_COST_BUDGET",
            "MAXION_LLM_TIMEOUT",
        ]
    }
}

/// Where a value comes from when the flag and the environment leave it out.
struct Source<'a> {
    toml: Option<&'a BTreeMap<String, toml::Value>>,
    /// The data directory's `.env`.
    stored: Option<&'a BTreeMap<String, String>>,
}

impl Source<'_> {
    /// The flag's or environment's value, else the data directory's `.env`'s,
    /// else the TOML file's (by the variable's name in lower case).
    fn pick(&self, value: &Option<String>, name: &str) -> anyhow::Result<Option<String>> {
        if let Some(v) = value {
            return Ok(Some(v.clone()));
        }
        if let Some(v) = self.stored.and_then(|s| s.get(name)) {
            return Ok(Some(v.clone()));
        }
        match self.toml.and_then(|t| t.get(&name.to_ascii_lowercase())) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(toml::Value::Integer(i)) => Ok(Some(i.to_string())),
            Some(toml::Value::Boolean(b)) => Ok(Some(b.to_string())),
            Some(_) => bail!("{name}: expected a string or a number in the config file"),
        }
    }
}

/// The App's id, key and webhook secret: all three, or the names of those missing.
fn app_credentials(raw: &RawSettings, src: &Source) -> anyhow::Result<(Option<AppCredentials>, Vec<&'static str>)> {
    let app_id = src
        .pick(&raw.github_app_id, "GITHUB_APP_ID")?
        .map(|v| v.trim().parse::<u64>().with_context(|| format!("GITHUB_APP_ID: {v:?} is not a number")))
        .transpose()?;
    let key_text = src.pick(&raw.github_app_private_key, "GITHUB_APP_PRIVATE_KEY")?;
    let key_path = src.pick(&raw.github_app_private_key_path, "GITHUB_APP_PRIVATE_KEY_PATH")?;
    let private_key = match (key_text, key_path) {
        (Some(text), _) => Some(parse_private_key(&text.replace("\\n", "\n"), "GITHUB_APP_PRIVATE_KEY")?),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("GITHUB_APP_PRIVATE_KEY_PATH: cannot read {path}"))?;
            Some(parse_private_key(&text, "GITHUB_APP_PRIVATE_KEY_PATH")?)
        }
        (None, None) => None,
    };
    let webhook_secret = src
        .pick(&raw.github_webhook_secret, "GITHUB_WEBHOOK_SECRET")?
        .map(|s| secret("GITHUB_WEBHOOK_SECRET", s))
        .transpose()?;

    let mut missing = Vec::new();
    if app_id.is_none() {
        missing.push("GITHUB_APP_ID");
    }
    if private_key.is_none() {
        missing.push("GITHUB_APP_PRIVATE_KEY (or GITHUB_APP_PRIVATE_KEY_PATH)");
    }
    if webhook_secret.is_none() {
        missing.push("GITHUB_WEBHOOK_SECRET");
    }
    let app = match (app_id, private_key, webhook_secret) {
        (Some(app_id), Some(private_key), Some(webhook_secret)) => {
            Some(AppCredentials { app_id, private_key, webhook_secret })
        }
        _ => None,
    };
    Ok((app, missing))
}

struct ServerGroup {
    github_api_url: String,
    database_url: SecretString,
    listen: SocketAddr,
    public_url: String,
    api_token: Option<SecretString>,
}

/// Where Maxion listens, is reached, keeps its data and finds GitHub.
fn server_settings(raw: &RawSettings, src: &Source) -> anyhow::Result<ServerGroup> {
    let github_api_url =
        src.pick(&raw.github_api_url, "GITHUB_API_URL")?.unwrap_or_else(|| "https://api.github.com".into());
    let github_api_url = parse_http_url(&github_api_url, "GITHUB_API_URL")?;
    let database_url = src.pick(&raw.database_url, "DATABASE_URL")?.unwrap_or_else(|| "sqlite://maxion.db".into());
    if !(database_url.starts_with("sqlite:")
        || database_url.starts_with("postgres://")
        || database_url.starts_with("postgresql://"))
    {
        bail!("DATABASE_URL: expected sqlite://FILE or postgres://…");
    }
    let listen = src.pick(&raw.maxion_listen, "MAXION_LISTEN")?.unwrap_or_else(|| "127.0.0.1:3000".into());
    let listen: SocketAddr =
        listen.parse().with_context(|| format!("MAXION_LISTEN: {listen:?} is not an address like 127.0.0.1:3000"))?;
    let public_url =
        src.pick(&raw.maxion_public_url, "MAXION_PUBLIC_URL")?.unwrap_or_else(|| "http://localhost:3000".into());
    let public_url = parse_http_url(&public_url, "MAXION_PUBLIC_URL")?;
    let api_token =
        src.pick(&raw.maxion_api_token, "MAXION_API_TOKEN")?.map(|s| secret("MAXION_API_TOKEN", s)).transpose()?;
    Ok(ServerGroup { github_api_url, database_url: SecretString::from(database_url), listen, public_url, api_token })
}

/// The pages and `/metrics`: who may read the metrics, and the App's OAuth
/// credentials for signing in with GitHub on the pages.
fn web_settings(raw: &RawSettings, src: &Source, github_api_url: &str) -> anyhow::Result<WebSettings> {
    let metrics_public = match src.pick(&raw.maxion_metrics_public, "MAXION_METRICS_PUBLIC")?.as_deref() {
        None | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(v) => bail!("MAXION_METRICS_PUBLIC: expected true or false, got {v:?}"),
    };
    let github_url = match src.pick(&raw.maxion_github_url, "MAXION_GITHUB_URL")? {
        Some(url) => parse_http_url(&url, "MAXION_GITHUB_URL")?,
        None => github_web_url(github_api_url),
    };
    let client_id = src.pick(&raw.github_app_client_id, "GITHUB_APP_CLIENT_ID")?.filter(|c| !c.trim().is_empty());
    let client_secret = src
        .pick(&raw.github_app_client_secret, "GITHUB_APP_CLIENT_SECRET")?
        .map(|s| secret("GITHUB_APP_CLIENT_SECRET", s))
        .transpose()?;
    let oauth = match (client_id, client_secret) {
        (Some(client_id), Some(client_secret)) => Some(OAuthCredentials { client_id, client_secret }),
        (None, None) => None,
        _ => bail!("GITHUB_APP_CLIENT_ID and GITHUB_APP_CLIENT_SECRET: set both, or neither"),
    };
    Ok(WebSettings { metrics_public, github_url, oauth })
}

struct ConversationGroup {
    trigger_label: String,
    command: String,
    required_permission: RepoPermission,
}

/// How maintainers talk to Maxion on GitHub, and who may.
fn conversation_settings(raw: &RawSettings, src: &Source) -> anyhow::Result<ConversationGroup> {
    let trigger_label = src.pick(&raw.maxion_trigger_label, "MAXION_TRIGGER_LABEL")?.unwrap_or_else(|| "maxion".into());
    if trigger_label.trim().is_empty() {
        bail!("MAXION_TRIGGER_LABEL: must not be empty");
    }
    let command = src.pick(&raw.maxion_command, "MAXION_COMMAND")?.unwrap_or_else(|| "/maxion".into());
    if command.is_empty() || command.chars().any(char::is_whitespace) {
        bail!("MAXION_COMMAND: must be one word without spaces, like /maxion");
    }
    let required = src.pick(&raw.maxion_required_permission, "MAXION_REQUIRED_PERMISSION")?;
    let required_permission = match required.as_deref().unwrap_or("write") {
        "triage" => RepoPermission::Triage,
        "write" => RepoPermission::Write,
        "maintain" => RepoPermission::Maintain,
        "admin" => RepoPermission::Admin,
        other => bail!("MAXION_REQUIRED_PERMISSION: expected triage, write, maintain or admin, got {other:?}"),
    };
    Ok(ConversationGroup { trigger_label, command, required_permission })
}

struct CapacityGroup {
    workers: usize,
    github_mutation_interval: Duration,
    jobs_per_minute: u32,
    jobs_burst: u32,
    data_dir: PathBuf,
}

/// How much work this instance takes on, and how fast it writes to GitHub.
fn capacity_settings(raw: &RawSettings, src: &Source) -> anyhow::Result<CapacityGroup> {
    let workers = parse_number(src.pick(&raw.maxion_workers, "MAXION_WORKERS")?, "MAXION_WORKERS", 3, 0..=256)?;
    let github_mutation_interval = Duration::from_millis(parse_number(
        src.pick(&raw.maxion_github_mutation_interval_ms, "MAXION_GITHUB_MUTATION_INTERVAL_MS")?,
        "MAXION_GITHUB_MUTATION_INTERVAL_MS",
        1000u64,
        0..=10_000,
    )?);
    let jobs_per_minute = parse_number(
        src.pick(&raw.maxion_jobs_per_minute, "MAXION_JOBS_PER_MINUTE")?,
        "MAXION_JOBS_PER_MINUTE",
        30,
        1..=100_000,
    )?;
    let jobs_burst =
        parse_number(src.pick(&raw.maxion_jobs_burst, "MAXION_JOBS_BURST")?, "MAXION_JOBS_BURST", 10, 1..=100_000)?;
    let data_dir =
        PathBuf::from(src.pick(&raw.maxion_data_dir, "MAXION_DATA_DIR")?.unwrap_or_else(|| DEFAULT_DATA_DIR.into()));
    Ok(CapacityGroup { workers, github_mutation_interval, jobs_per_minute, jobs_burst, data_dir })
}

/// The sandbox, the agent and what a job may do, with the bounds a
/// repository's `.github/maxion.yml` is held to.
fn pipeline_settings(raw: &RawSettings, src: &Source) -> anyhow::Result<PipelineSettings> {
    let sandbox_image =
        src.pick(&raw.maxion_sandbox_image, "MAXION_SANDBOX_IMAGE")?.unwrap_or_else(|| "maxion-sandbox:latest".into());
    let agents = agent::agent_settings(raw, src)?;
    let agent = agents.agent;
    let network = src.pick(&raw.maxion_sandbox_network, "MAXION_SANDBOX_NETWORK")?;
    let sandbox_network = match network.as_deref() {
        // A built-in agent needs its model and nothing else: filtered. A
        // custom command may need anything, so it keeps `none`.
        None if matches!(agent, AgentKind::Custom { .. }) => NetworkMode::None,
        None => NetworkMode::Filtered,
        Some(v) => NetworkMode::parse(v)
            .with_context(|| format!("MAXION_SANDBOX_NETWORK: expected {}, got {v:?}", NetworkMode::CHOICES))?,
    };
    let agent_secrets = src
        .pick(&raw.maxion_agent_secrets, "MAXION_AGENT_SECRETS")?
        .map(|v| v.split([',', ' ']).map(str::trim).filter(|n| !n.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let job_timeout = Duration::from_secs(parse_number(
        src.pick(&raw.maxion_job_timeout, "MAXION_JOB_TIMEOUT")?,
        "MAXION_JOB_TIMEOUT",
        1800u64,
        1..=86_400,
    )?);
    let shutdown_grace = Duration::from_secs(parse_number(
        src.pick(&raw.maxion_shutdown_grace, "MAXION_SHUTDOWN_GRACE")?,
        "MAXION_SHUTDOWN_GRACE",
        60u64,
        0..=3_600,
    )?);
    let max_fix_rounds = parse_number(
        src.pick(&raw.maxion_max_fix_rounds, "MAXION_MAX_FIX_ROUNDS")?,
        "MAXION_MAX_FIX_ROUNDS",
        2u32,
        0..=2,
    )?;
    let draft_on_failure = match src.pick(&raw.maxion_draft_on_failure, "MAXION_DRAFT_ON_FAILURE")?.as_deref() {
        None | Some("true") | Some("1") => true,
        Some("false") | Some("0") => false,
        Some(v) => bail!("MAXION_DRAFT_ON_FAILURE: expected true or false, got {v:?}"),
    };
    let verify_commands = src
        .pick(&raw.maxion_verify_commands, "MAXION_VERIFY_COMMANDS")?
        .map(|v| v.replace(";;", "\n").lines().map(str::trim).filter(|c| !c.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    let max_job_timeout = match src.pick(&raw.maxion_max_job_timeout, "MAXION_MAX_JOB_TIMEOUT")? {
        None => job_timeout.max(Duration::from_secs(3600)),
        v => {
            let max = Duration::from_secs(parse_number(v, "MAXION_MAX_JOB_TIMEOUT", 3600u64, 1..=86_400)?);
            if max < job_timeout {
                bail!("MAXION_MAX_JOB_TIMEOUT: must be at least MAXION_JOB_TIMEOUT ({} s)", job_timeout.as_secs());
            }
            max
        }
    };
    let allowed_network_modes = match src.pick(&raw.maxion_allowed_network_modes, "MAXION_ALLOWED_NETWORK_MODES")? {
        None => vec![sandbox_network],
        Some(v) => {
            let mut modes = Vec::new();
            for m in v.split([',', ' ']).map(str::trim).filter(|m| !m.is_empty()) {
                let mode = NetworkMode::parse(m).with_context(|| {
                    format!("MAXION_ALLOWED_NETWORK_MODES: expected {}, got {m:?}", NetworkMode::CHOICES)
                })?;
                if !modes.contains(&mode) {
                    modes.push(mode);
                }
            }
            if !modes.contains(&sandbox_network) {
                bail!("MAXION_ALLOWED_NETWORK_MODES: must include MAXION_SANDBOX_NETWORK ({sandbox_network})");
            }
            modes
        }
    };
    Ok(PipelineSettings {
        sandbox_image,
        sandbox_network,
        agent,
        agent_model: agents.model,
        allowed_agents: agents.allowed,
        agent_secrets,
        job_timeout,
        shutdown_grace,
        max_fix_rounds,
        draft_on_failure,
        verify_commands,
        max_job_timeout,
        allowed_network_modes,
    })
}

/// Turns a configured value into a secret and registers it with the masker.
fn secret(name: &str, value: String) -> anyhow::Result<SecretString> {
    let value = SecretString::from(value);
    if value.expose_secret().is_empty() {
        bail!("{name}: must not be empty");
    }
    // Short values cannot be masked without masking ordinary words; they are
    // still accepted (an operator's choice), just not masked.
    let _ = crate::masker::global().add(&value);
    Ok(value)
}

const DEFAULT_DATA_DIR: &str = "./maxion-data";

/// Whether GitHub could never reach `public_url`: `localhost` (and names
/// under `.localhost` or mDNS's `.local`), or an address that is loopback,
/// private (RFC 1918, IPv6 unique-local), link-local, shared (CGNAT) or
/// unspecified. Names are not resolved: one that resolves privately passes.
pub fn is_unreachable_from_github(public_url: &str) -> bool {
    let Ok(url) = url::Url::parse(public_url) else { return true };
    match url.host() {
        None => true,
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost") || name.ends_with(".local")
        }
        Some(url::Host::Ipv4(ip)) => {
            let [a, b, ..] = ip.octets();
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || (a == 100 && (64..128).contains(&b))
        }
        Some(url::Host::Ipv6(ip)) => {
            let first = ip.segments()[0];
            ip.is_loopback()
                || ip.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(|v4| is_unreachable_from_github(&format!("http://{v4}/")))
        }
    }
}

/// Checks an RSA private key in PEM form (as `GITHUB_APP_PRIVATE_KEY` takes it).
pub fn valid_private_key(pem: &str) -> bool {
    jsonwebtoken::EncodingKey::from_rsa_pem(pem.as_bytes()).is_ok()
}

fn parse_private_key(pem: &str, name: &str) -> anyhow::Result<SecretString> {
    if !valid_private_key(pem) {
        bail!("{name}: not an RSA private key in PEM form (BEGIN RSA PRIVATE KEY or BEGIN PRIVATE KEY)");
    }
    let key = SecretString::from(pem.to_owned());
    let _ = crate::masker::global().add(&key);
    // The PEM body lines are what would appear if the key leaked in pieces.
    for line in pem.lines().filter(|l| !l.starts_with("-----") && l.len() >= 16) {
        let _ = crate::masker::global().add(&SecretString::from(line.to_owned()));
    }
    Ok(key)
}

fn parse_http_url(value: &str, name: &str) -> anyhow::Result<String> {
    let url = url::Url::parse(value).with_context(|| format!("{name}: {value:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        bail!("{name}: {value:?} must be an http:// or https:// URL");
    }
    Ok(value.trim_end_matches('/').to_owned())
}

/// GitHub's web address for an API base URL: `https://api.github.com` →
/// `https://github.com`; a GitHub Enterprise Server's `https://HOST/api/v3` → `https://HOST`.
pub fn github_web_url(api_url: &str) -> String {
    if let Some(rest) = api_url.strip_prefix("https://api.") {
        return format!("https://{rest}");
    }
    api_url.strip_suffix("/api/v3").unwrap_or(api_url).to_owned()
}

fn parse_number<T>(
    value: Option<String>,
    name: &str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> anyhow::Result<T>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(v) = value else { return Ok(default) };
    let n: T = v.trim().parse().map_err(|_| anyhow::anyhow!("{name}: {v:?} is not a number"))?;
    if !range.contains(&n) {
        bail!("{name}: {n} is outside {}..={}", range.start(), range.end());
    }
    Ok(n)
}

/// How long a request to answer a webhook may take before we consider the
/// intake overloaded (used by the server's timeout layer).
pub const WEBHOOK_DEADLINE: Duration = Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let s = Settings::defaults();
        assert!(s.app.is_none());
        assert_eq!(s.missing.len(), 3);
        assert_eq!(s.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(s.github_api_url, "https://api.github.com");
        assert_eq!(s.workers, 3);
        assert_eq!(s.command, "/maxion");
        assert_eq!(s.required_permission, RepoPermission::Write);
        // A built-in agent gets the filtered network by default; custom keeps none.
        assert_eq!(s.pipeline.sandbox_network, NetworkMode::Filtered);
        assert_eq!(s.pipeline.agent, AgentKind::Pi);
        let custom = RawSettings {
            maxion_agent: Some("custom".into()),
            maxion_agent_command: Some("run".into()),
            ..Default::default()
        };
        assert_eq!(Settings::from_raw(custom, None).unwrap().pipeline.sandbox_network, NetworkMode::None);
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases: Vec<(RawSettings, &str)> = vec![
            (RawSettings { github_app_id: Some("abc".into()), ..Default::default() }, "GITHUB_APP_ID"),
            (
                RawSettings { github_app_private_key: Some("not a pem".into()), ..Default::default() },
                "GITHUB_APP_PRIVATE_KEY",
            ),
            (RawSettings { github_api_url: Some("ftp://x".into()), ..Default::default() }, "GITHUB_API_URL"),
            (RawSettings { maxion_listen: Some("nowhere".into()), ..Default::default() }, "MAXION_LISTEN"),
            (RawSettings { database_url: Some("mysql://x".into()), ..Default::default() }, "DATABASE_URL"),
            (RawSettings { maxion_workers: Some("257".into()), ..Default::default() }, "MAXION_WORKERS"),
            (
                RawSettings { maxion_required_permission: Some("read".into()), ..Default::default() },
                "MAXION_REQUIRED_PERMISSION",
            ),
            (RawSettings { maxion_agent: Some("gpt".into()), ..Default::default() }, "MAXION_AGENT"),
            (
                RawSettings { maxion_sandbox_network: Some("wide".into()), ..Default::default() },
                "MAXION_SANDBOX_NETWORK",
            ),
            (RawSettings { maxion_max_fix_rounds: Some("3".into()), ..Default::default() }, "MAXION_MAX_FIX_ROUNDS"),
            (
                RawSettings { maxion_draft_on_failure: Some("maybe".into()), ..Default::default() },
                "MAXION_DRAFT_ON_FAILURE",
            ),
            (RawSettings { maxion_max_job_timeout: Some("60".into()), ..Default::default() }, "MAXION_MAX_JOB_TIMEOUT"),
            (
                RawSettings { maxion_allowed_network_modes: Some("open,wide".into()), ..Default::default() },
                "MAXION_ALLOWED_NETWORK_MODES",
            ),
            (
                RawSettings { maxion_allowed_network_modes: Some("open".into()), ..Default::default() },
                "MAXION_ALLOWED_NETWORK_MODES",
            ),
        ];
        for (raw, name) in cases {
            let err = Settings::from_raw(raw, None).expect_err(name).to_string();
            assert!(err.starts_with(name), "{err}");
        }
        for bad in ["0", "2m", "3601"] {
            let raw = RawSettings {
                egress: RawEgressSettings { maxion_llm_timeout: Some(bad.into()), ..Default::default() },
                ..Default::default()
            };
            let err = Settings::from_raw(raw, None).expect_err(bad).to_string();
            assert!(err.starts_with("MAXION_LLM_TIMEOUT"), "{err}");
        }
    }

    #[test]
    fn the_llm_timeout_is_seconds() {
        assert_eq!(Settings::defaults().egress.llm_timeout, Duration::from_secs(300));
        let raw = RawSettings {
            egress: RawEgressSettings { maxion_llm_timeout: Some("2".into()), ..Default::default() },
            ..Default::default()
        };
        assert_eq!(Settings::from_raw(raw, None).unwrap().egress.llm_timeout, Duration::from_secs(2));
    }

    #[test]
    fn githubs_web_address_follows_the_api_url() {
        assert_eq!(github_web_url("https://api.github.com"), "https://github.com");
        assert_eq!(github_web_url("https://ghe.example/api/v3"), "https://ghe.example");
        let half = RawSettings { github_app_client_id: Some("Iv1".into()), ..Default::default() };
        assert!(Settings::from_raw(half, None).expect_err("half").to_string().starts_with("GITHUB_APP_CLIENT_ID"));
    }

    #[test]
    fn addresses_github_cannot_reach() {
        for url in [
            "http://localhost:3000",
            "http://app.localhost",
            "http://nas.local",
            "http://127.0.0.1:3000",
            "http://10.1.2.3",
            "http://192.168.1.5",
            "http://172.16.0.1",
            "http://169.254.169.254",
            "http://100.64.0.1",
            "http://0.0.0.0",
            "http://[::1]:3000",
            "http://[fd00::1]",
            "http://[fe80::1]",
            "http://[::ffff:127.0.0.1]",
        ] {
            assert!(is_unreachable_from_github(url), "{url}");
        }
        for url in ["https://maxion.example", "https://203.0.113.7", "https://[2001:db8::1]", "http://172.32.0.1"] {
            assert!(!is_unreachable_from_github(url), "{url}");
        }
    }

    #[test]
    fn the_data_dirs_env_is_below_the_environment_and_above_the_file() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join(".env"), "MAXION_WORKERS=5\nMAXION_TRIGGER_LABEL='stored'\n").expect("env");
        let config = dir.path().join("maxion.toml");
        std::fs::write(&config, "maxion_workers = 7\nmaxion_command = \"/bot\"").expect("toml");
        let raw = RawSettings {
            maxion_data_dir: Some(dir.path().display().to_string()),
            maxion_trigger_label: Some("env".into()),
            ..Default::default()
        };
        let s = Settings::load(raw.clone(), Some(&config)).expect("valid");
        assert_eq!((s.workers, s.trigger_label.as_str(), s.command.as_str()), (5, "env", "/bot"));
        std::fs::write(dir.path().join(".env"), "MAXION_DATA_DIR=/elsewhere\n").expect("env");
        let err = Settings::load(raw, None).expect_err("refused").to_string();
        assert!(err.starts_with("MAXION_DATA_DIR"), "{err}");
    }

    #[test]
    fn toml_fills_gaps_and_flags_win() {
        let table: BTreeMap<String, toml::Value> =
            toml::from_str("maxion_workers = 7\nmaxion_trigger_label = \"bot\"").expect("toml");
        let raw = RawSettings { maxion_trigger_label: Some("env-label".into()), ..Default::default() };
        let s = Settings::from_raw(raw, Some(&table)).expect("valid");
        assert_eq!(s.workers, 7);
        assert_eq!(s.trigger_label, "env-label");
    }
}
