//! A repository's `agent: {profile, model}` in `.github/maxion.yml`, within
//! the operator's bounds. `profile` may pick one of `MAXION_ALLOWED_AGENTS`;
//! another falls back to `MAXION_AGENT` and is noted. `model` is passed to
//! the profile as it is (the same character check as `MAXION_AGENT_MODEL`).

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::{Clamp, ClampValue};
use crate::config::{AgentKind, valid_model_name};

/// What a repository's `agent:` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoAgent {
    /// A profile name (`claude-code`, `codex`, ...), checked to be one.
    pub profile: Option<String>,
    pub model: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAgent {
    profile: Option<ProfileName>,
    model: Option<ModelName>,
}

impl From<RawAgent> for RepoAgent {
    fn from(r: RawAgent) -> Self {
        RepoAgent { profile: r.profile.map(|p| p.0), model: r.model.map(|m| m.0) }
    }
}

/// The profile names a file may write, as `MAXION_AGENT` spells them.
const PROFILES: [&str; 5] = ["pi", "claude-code", "codex", "mini-swe-agent", "custom"];

#[derive(Debug)]
struct ProfileName(String);

impl<'de> Deserialize<'de> for ProfileName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let name = s.trim();
        if !PROFILES.contains(&name) {
            return Err(de::Error::custom(format!(
                "unknown agent profile `{name}`, expected one of {}",
                PROFILES.map(|p| format!("`{p}`")).join(", ")
            )));
        }
        Ok(ProfileName(name.to_owned()))
    }
}

#[derive(Debug)]
struct ModelName(String);

impl<'de> Deserialize<'de> for ModelName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let model = s.trim();
        // The name ends up in the agents' own config files and command lines.
        if !valid_model_name(model) {
            return Err(de::Error::custom(format!(
                "`{model}` is not a model name (1 to 128 letters, digits and . - _ : / @)"
            )));
        }
        Ok(ModelName(model.to_owned()))
    }
}

/// The operator's agent and the profiles a repository may pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentBounds {
    /// `MAXION_AGENT`.
    pub default: AgentKind,
    /// `MAXION_AGENT_MODEL`.
    pub model: Option<String>,
    /// `MAXION_ALLOWED_AGENTS`; holds `default`.
    pub allowed: Vec<AgentKind>,
}

impl Default for AgentBounds {
    fn default() -> Self {
        AgentBounds { default: AgentKind::Pi, model: None, allowed: vec![AgentKind::Pi] }
    }
}

/// What a job's agent is after the clamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEffective {
    pub kind: AgentKind,
    /// `None`: the agent's own default.
    pub model: Option<String>,
}

/// Applies the bounds. The operator's model goes with the operator's
/// profile only: a model named for one agent means nothing to another.
pub fn resolve(asked: Option<&RepoAgent>, b: &AgentBounds, clamps: &mut Vec<Clamp>) -> AgentEffective {
    let asked = asked.cloned().unwrap_or_default();
    let operator = || AgentEffective { kind: b.default.clone(), model: b.model.clone() };
    let Some(profile) = asked.profile.as_deref().filter(|p| *p != b.default.name()) else {
        return AgentEffective { model: asked.model.or_else(|| b.model.clone()), ..operator() };
    };
    if let Some(kind) = b.allowed.iter().find(|k| k.name() == profile) {
        return AgentEffective { kind: kind.clone(), model: asked.model };
    }
    clamps.push(Clamp {
        field: "agent.profile".into(),
        asked: ClampValue::Text(profile.to_owned()),
        applied: ClampValue::Text(b.default.name().to_owned()),
        limit: "MAXION_ALLOWED_AGENTS".into(),
    });
    if let Some(model) = asked.model {
        clamps.push(Clamp {
            field: "agent.model".into(),
            asked: ClampValue::Text(model),
            applied: ClampValue::Text(
                b.model.clone().unwrap_or_else(|| format!("{}'s default model", b.default.name())),
            ),
            limit: "MAXION_ALLOWED_AGENTS".into(),
        });
    }
    operator()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds() -> AgentBounds {
        AgentBounds {
            default: AgentKind::Codex,
            model: Some("gpt-5-codex".into()),
            allowed: vec![AgentKind::Codex, AgentKind::ClaudeCode],
        }
    }

    fn ask(profile: Option<&str>, model: Option<&str>) -> RepoAgent {
        RepoAgent { profile: profile.map(Into::into), model: model.map(Into::into) }
    }

    #[test]
    fn an_allowed_profile_is_granted_with_the_repositorys_model_only() {
        let mut clamps = Vec::new();
        let e = resolve(Some(&ask(Some("claude-code"), Some("claude-sonnet-4-5"))), &bounds(), &mut clamps);
        assert_eq!(e, AgentEffective { kind: AgentKind::ClaudeCode, model: Some("claude-sonnet-4-5".into()) });
        // The operator's model is for the operator's agent, not for this one.
        let e = resolve(Some(&ask(Some("claude-code"), None)), &bounds(), &mut clamps);
        assert_eq!(e, AgentEffective { kind: AgentKind::ClaudeCode, model: None });
        assert!(clamps.is_empty(), "{clamps:?}");
    }

    #[test]
    fn the_operators_profile_keeps_its_model_unless_the_repository_names_one() {
        let mut clamps = Vec::new();
        let op = AgentEffective { kind: AgentKind::Codex, model: Some("gpt-5-codex".into()) };
        assert_eq!(resolve(None, &bounds(), &mut clamps), op);
        assert_eq!(resolve(Some(&ask(Some("codex"), None)), &bounds(), &mut clamps), op);
        let e = resolve(Some(&ask(None, Some("gpt-5.1"))), &bounds(), &mut clamps);
        assert_eq!(e, AgentEffective { kind: AgentKind::Codex, model: Some("gpt-5.1".into()) });
        assert!(clamps.is_empty(), "{clamps:?}");
    }

    #[test]
    fn a_profile_not_allowed_falls_back_to_the_operators_and_is_noted() {
        let mut clamps = Vec::new();
        let e = resolve(Some(&ask(Some("mini-swe-agent"), Some("gpt-4.1"))), &bounds(), &mut clamps);
        assert_eq!(e, AgentEffective { kind: AgentKind::Codex, model: Some("gpt-5-codex".into()) });
        let shown: Vec<_> = clamps.iter().map(|c| (c.field.as_str(), &c.asked, &c.applied, c.limit.as_str())).collect();
        assert_eq!(
            shown,
            [
                (
                    "agent.profile",
                    &ClampValue::Text("mini-swe-agent".into()),
                    &ClampValue::Text("codex".into()),
                    "MAXION_ALLOWED_AGENTS"
                ),
                (
                    "agent.model",
                    &ClampValue::Text("gpt-4.1".into()),
                    &ClampValue::Text("gpt-5-codex".into()),
                    "MAXION_ALLOWED_AGENTS"
                ),
            ]
        );
    }
}
