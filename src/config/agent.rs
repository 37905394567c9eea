//! The agent settings: `MAXION_AGENT` (the profile every job runs unless a
//! repository picks another), `MAXION_AGENT_MODEL`, and `MAXION_ALLOWED_AGENTS`
//! (the profiles a repository's `.github/maxion.yml` `agent.profile` may pick).

use anyhow::{Context, bail};

use super::{RawSettings, Source};

/// `MAXION_AGENT`: which coding agent profile runs the jobs. The setting's
/// type lives here so settings are parsed once; `pipeline::agent` turns it
/// into the command that starts the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentKind {
    Pi,
    ClaudeCode,
    Codex,
    MiniSweAgent,
    /// The operator's own agent: `MAXION_AGENT_COMMAND`, run with `sh -c`.
    Custom {
        command: String,
    },
}

/// Whether `model` may be used as a model name. Names end up in the agents'
/// own configuration files (TOML, YAML) and on their command lines: only the
/// characters model names use.
pub fn valid_model_name(model: &str) -> bool {
    !model.is_empty()
        && model.len() <= 128
        && model.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/' | '@'))
}

impl AgentKind {
    /// The profile's name, as `MAXION_AGENT` spells it (shown in the PR body).
    pub fn name(&self) -> &'static str {
        match self {
            AgentKind::Pi => "pi",
            AgentKind::ClaudeCode => "claude-code",
            AgentKind::Codex => "codex",
            AgentKind::MiniSweAgent => "mini-swe-agent",
            AgentKind::Custom { .. } => "custom",
        }
    }

    /// `name` with the custom command; `None` for an unknown name or `custom` without a command.
    pub fn parse(name: &str, custom_command: Option<&str>) -> Option<Self> {
        Some(match name {
            "pi" => AgentKind::Pi,
            "claude-code" => AgentKind::ClaudeCode,
            "codex" => AgentKind::Codex,
            "mini-swe-agent" => AgentKind::MiniSweAgent,
            "custom" => AgentKind::Custom { command: custom_command.filter(|c| !c.trim().is_empty())?.to_owned() },
            _ => return None,
        })
    }
}

/// The agent part of the pipeline settings.
pub(super) struct AgentGroup {
    pub agent: AgentKind,
    pub model: Option<String>,
    /// Always holds `agent`.
    pub allowed: Vec<AgentKind>,
}

const CHOICES: &str = "pi, claude-code, codex, mini-swe-agent or custom (with MAXION_AGENT_COMMAND)";

pub(super) fn agent_settings(raw: &RawSettings, src: &Source) -> anyhow::Result<AgentGroup> {
    let agent_name = src.pick(&raw.maxion_agent, "MAXION_AGENT")?.unwrap_or_else(|| "pi".into());
    let agent_command = src.pick(&raw.maxion_agent_command, "MAXION_AGENT_COMMAND")?;
    let agent = AgentKind::parse(&agent_name, agent_command.as_deref())
        .with_context(|| format!("MAXION_AGENT: expected {CHOICES}, got {agent_name:?}"))?;
    let model = src.pick(&raw.maxion_agent_model, "MAXION_AGENT_MODEL")?.filter(|m| !m.trim().is_empty());
    if let Some(m) = model.as_deref().filter(|m| !valid_model_name(m)) {
        bail!("MAXION_AGENT_MODEL: {m:?} is not a model name (letters, digits and . - _ : / @ only)");
    }
    let allowed = match src.pick(&raw.maxion_allowed_agents, "MAXION_ALLOWED_AGENTS")? {
        None => vec![agent.clone()],
        Some(v) => {
            let mut allowed: Vec<AgentKind> = Vec::new();
            for name in v.split([',', ' ']).map(str::trim).filter(|n| !n.is_empty()) {
                let kind = AgentKind::parse(name, agent_command.as_deref())
                    .with_context(|| format!("MAXION_ALLOWED_AGENTS: expected {CHOICES}, got {name:?}"))?;
                if !allowed.contains(&kind) {
                    allowed.push(kind);
                }
            }
            if !allowed.contains(&agent) {
                bail!("MAXION_ALLOWED_AGENTS: must include MAXION_AGENT ({})", agent.name());
            }
            allowed
        }
    };
    Ok(AgentGroup { agent, model, allowed })
}

#[cfg(test)]
mod tests {
    use super::super::Settings;
    use super::*;

    fn settings(agent: Option<&str>, allowed: Option<&str>, command: Option<&str>) -> anyhow::Result<Settings> {
        let raw = RawSettings {
            maxion_agent: agent.map(Into::into),
            maxion_allowed_agents: allowed.map(Into::into),
            maxion_agent_command: command.map(Into::into),
            ..Default::default()
        };
        Settings::from_raw(raw, None)
    }

    #[test]
    fn by_default_only_the_configured_profile_is_allowed() {
        let s = settings(Some("codex"), None, None).expect("valid");
        assert_eq!(s.pipeline.allowed_agents, [AgentKind::Codex]);
        let s = settings(Some("codex"), Some("claude-code, codex mini-swe-agent,codex"), None).expect("valid");
        assert_eq!(s.pipeline.allowed_agents, [AgentKind::ClaudeCode, AgentKind::Codex, AgentKind::MiniSweAgent]);
        let s = settings(Some("codex"), Some("codex,custom"), Some("run-it")).expect("valid");
        assert_eq!(s.pipeline.allowed_agents[1], AgentKind::Custom { command: "run-it".into() });
    }

    #[test]
    fn a_bad_list_names_the_setting_and_the_cause() {
        let cases = [
            (settings(Some("codex"), Some("codex,gpt"), None), "\"gpt\""),
            (settings(Some("codex"), Some("claude-code"), None), "must include MAXION_AGENT (codex)"),
            // `custom` runs the operator's command: without one there is nothing to allow.
            (settings(Some("codex"), Some("codex,custom"), None), "\"custom\""),
        ];
        for (result, cause) in cases {
            let err = format!("{:#}", result.expect_err(cause));
            assert!(err.starts_with("MAXION_ALLOWED_AGENTS") && err.contains(cause), "{err}");
        }
    }
}
