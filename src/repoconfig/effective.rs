//! RESOLVE: what a repository asks for, within what the operator allows.
//! Pure. Every request past a bound is clamped to the bound and recorded
//! as a [`Clamp`], which the job reports on GitHub.

use std::time::Duration;

use super::agent::{AgentBounds, AgentEffective};
use super::egress::{EgressBounds, EgressEffective};
use super::{ConfiguredCommand, FailurePolicy, PathGuard, RepoConfig};
use crate::config::PipelineSettings;
use crate::sandbox::NetworkMode;

/// The operator's defaults and limits (from [`PipelineSettings`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    /// `MAXION_SANDBOX_NETWORK`.
    pub default_network: NetworkMode,
    /// `MAXION_ALLOWED_NETWORK_MODES`; always holds `default_network`.
    pub allowed_networks: Vec<NetworkMode>,
    /// `MAXION_JOB_TIMEOUT`.
    pub default_job_timeout: Duration,
    /// `MAXION_MAX_JOB_TIMEOUT`.
    pub max_job_timeout: Duration,
    /// Per setup/verify command when the repository sets none.
    pub default_step_timeout: Duration,
    /// `MAXION_MAX_FIX_ROUNDS`: the default and the most a repository gets.
    pub max_fix_rounds: u32,
    /// `MAXION_DRAFT_ON_FAILURE`.
    pub draft_on_failure: bool,
    /// Egress allow-list and budget bounds; `None`: a repository's `egress:`
    /// and `budget:` are not applied (no gateway on this instance).
    pub egress: Option<EgressBounds>,
    /// `MAXION_AGENT`, `MAXION_AGENT_MODEL`, `MAXION_ALLOWED_AGENTS`.
    pub agent: AgentBounds,
}

/// Commands run without a timeout of their own get at most this long.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(15 * 60);

impl Bounds {
    pub fn from_settings(p: &PipelineSettings) -> Self {
        let default_network = p.sandbox_network;
        let mut allowed_networks = p.allowed_network_modes.clone();
        if !allowed_networks.contains(&default_network) {
            allowed_networks.push(default_network);
        }
        allowed_networks.sort();
        Bounds {
            default_network,
            allowed_networks,
            default_job_timeout: p.job_timeout,
            max_job_timeout: p.max_job_timeout.max(p.job_timeout),
            default_step_timeout: p.job_timeout.min(DEFAULT_STEP_TIMEOUT),
            max_fix_rounds: p.max_fix_rounds,
            draft_on_failure: p.draft_on_failure,
            egress: None,
            agent: AgentBounds {
                default: p.agent.clone(),
                model: p.agent_model.clone(),
                allowed: p.allowed_agents.clone(),
            },
        }
    }

    /// With the operator's egress and budget bounds.
    pub fn with_egress(mut self, e: &crate::config::EgressSettings) -> Self {
        self.egress = Some(EgressBounds {
            allow: e.allow.clone(),
            allow_max: e.allow_max.clone(),
            tokens: e.budget.tokens,
            usd_micros: e.budget.usd.map(|u| (u * super::egress::MICROS_PER_USD).round() as u64),
        });
        self
    }
}

/// One request the instance did not grant in full (`report` words it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clamp {
    /// The field, as written in the file (e.g. `verify[2].timeout`).
    pub field: String,
    pub asked: ClampValue,
    pub applied: ClampValue,
    /// What bounds it: a setting name, or another field.
    pub limit: String,
}

/// A value asked for or applied, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClampValue {
    Duration(Duration),
    Number(u64),
    Text(String),
}

/// What a job runs with.
#[derive(Debug, Clone)]
pub struct Effective {
    /// The file was there (and valid); `false`: instance defaults only.
    pub from_file: bool,
    /// Configured setup commands, timeouts resolved; `None`: detected.
    pub setup: Option<Vec<ConfiguredCommand>>,
    /// Configured verification commands, timeouts resolved; `None`: detected.
    pub verify: Option<Vec<ConfiguredCommand>>,
    pub network: NetworkMode,
    pub fix_rounds: u32,
    pub job_timeout: Duration,
    /// For commands without a timeout of their own.
    pub step_timeout: Duration,
    pub on_verify_failure: FailurePolicy,
    pub branch_prefix: String,
    pub instructions: Option<String>,
    pub protected: PathGuard,
    /// The job's allow-list and budget (mode `filtered`, the gateway).
    pub egress: EgressEffective,
    /// The agent profile and model the job runs.
    pub agent: AgentEffective,
    pub clamps: Vec<Clamp>,
}

impl Effective {
    /// The timeout a command gets.
    pub fn timeout_of(&self, c: &ConfiguredCommand) -> Duration {
        c.timeout.unwrap_or(self.step_timeout)
    }
}

/// Applies `bounds` to what `config` asks for (`None`: no file).
pub fn resolve(config: Option<&RepoConfig>, bounds: &Bounds) -> Effective {
    let from_file = config.is_some();
    let default = RepoConfig::default();
    let c = config.unwrap_or(&default);
    let mut clamps = Vec::new();
    let mut clamp = |field: String, asked: ClampValue, applied: ClampValue, limit: &str| {
        clamps.push(Clamp { field, asked, applied, limit: limit.to_owned() });
    };

    let mut job_timeout = c.job_timeout.unwrap_or(bounds.default_job_timeout);
    if job_timeout > bounds.max_job_timeout {
        clamp(
            "timeouts.job".into(),
            ClampValue::Duration(job_timeout),
            ClampValue::Duration(bounds.max_job_timeout),
            "MAXION_MAX_JOB_TIMEOUT",
        );
        job_timeout = bounds.max_job_timeout;
    }
    let mut step_timeout = c.step_timeout.unwrap_or(bounds.default_step_timeout.min(job_timeout));
    if step_timeout > job_timeout {
        if c.step_timeout.is_some() {
            clamp(
                "timeouts.step".into(),
                ClampValue::Duration(step_timeout),
                ClampValue::Duration(job_timeout),
                "the job timeout",
            );
        }
        step_timeout = job_timeout;
    }
    let mut commands = |list: &Option<Vec<ConfiguredCommand>>, name: &str| {
        list.as_ref().map(|list| {
            list.iter()
                .enumerate()
                .map(|(i, cmd)| {
                    let mut cmd = cmd.clone();
                    if let Some(t) = cmd.timeout.filter(|t| *t > job_timeout) {
                        clamp(
                            format!("{name}[{}].timeout", i + 1),
                            ClampValue::Duration(t),
                            ClampValue::Duration(job_timeout),
                            "the job timeout",
                        );
                        cmd.timeout = Some(job_timeout);
                    }
                    cmd
                })
                .collect::<Vec<_>>()
        })
    };
    let setup = commands(&c.setup, "setup");
    let verify = commands(&c.verify, "verify");

    let mut network = c.network.unwrap_or(bounds.default_network);
    if !bounds.allowed_networks.contains(&network) {
        clamp(
            "network".into(),
            ClampValue::Text(network.as_str().into()),
            ClampValue::Text(bounds.default_network.as_str().into()),
            "MAXION_ALLOWED_NETWORK_MODES",
        );
        network = bounds.default_network;
    }
    let mut fix_rounds = c.fix_rounds.unwrap_or(bounds.max_fix_rounds);
    if fix_rounds > bounds.max_fix_rounds {
        clamp(
            "fix_rounds".into(),
            ClampValue::Number(fix_rounds.into()),
            ClampValue::Number(bounds.max_fix_rounds.into()),
            "MAXION_MAX_FIX_ROUNDS",
        );
        fix_rounds = bounds.max_fix_rounds;
    }
    let on_verify_failure = c.on_verify_failure.unwrap_or(if bounds.draft_on_failure {
        FailurePolicy::Draft
    } else {
        FailurePolicy::Ready
    });
    let protected = match &c.protected_paths {
        Some(p) => PathGuard::new(p),
        None => PathGuard::defaults(),
    };
    let egress = match &bounds.egress {
        Some(b) => super::egress::resolve(c.egress.as_deref(), c.budget, b, &mut clamps),
        None => EgressEffective::default(),
    };
    let agent = super::agent::resolve(c.agent.as_ref(), &bounds.agent, &mut clamps);
    Effective {
        from_file,
        setup,
        verify,
        network,
        fix_rounds,
        job_timeout,
        step_timeout,
        on_verify_failure,
        branch_prefix: c.branch_prefix.clone().unwrap_or_else(|| "maxion".into()),
        instructions: c.instructions.clone(),
        protected,
        egress,
        agent,
        clamps,
    }
}
