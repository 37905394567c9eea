//! Agent profiles: how each supported coding agent is started inside the
//! sandbox and how its structured output becomes readable job events.
//!
//! Every profile is a shell command run with `sh -c` in `/workspace`; the
//! prompt is a file named by `$MAXION_PROMPT_FILE` (never argv, which `ps`
//! and `docker inspect` show). The agent reaches its model through the
//! variables every agent exec gets (`ANTHROPIC_BASE_URL`/`ANTHROPIC_API_KEY`,
//! `OPENAI_BASE_URL`/`OPENAI_API_KEY`); profiles whose program ignores them
//! write the program's own configuration from them at run time. The model is
//! `$MAXION_AGENT_MODEL` when set. Pure; touches nothing.
//!
//! The invocations were checked against the versions the test image pins
//! (`docker/build-test-image.sh`): Claude Code 2.1.332, codex-cli 0.163.0,
//! mini-swe-agent 2.4.6.

mod claude;
mod codex;
mod failure;
mod mini;
mod transcript;

use crate::config::AgentKind;

pub use failure::AgentFailure;
pub use transcript::{AgentEvent, Transcript};

/// The supported agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProfileKind {
    Pi,
    ClaudeCode,
    Codex,
    MiniSweAgent,
    Custom,
}

impl ProfileKind {
    pub const ALL: [ProfileKind; 5] =
        [ProfileKind::Pi, ProfileKind::ClaudeCode, ProfileKind::Codex, ProfileKind::MiniSweAgent, ProfileKind::Custom];

    pub fn name(self) -> &'static str {
        match self {
            ProfileKind::Pi => "pi",
            ProfileKind::ClaudeCode => "claude-code",
            ProfileKind::Codex => "codex",
            ProfileKind::MiniSweAgent => "mini-swe-agent",
            ProfileKind::Custom => "custom",
        }
    }

    /// The program the profile starts; `None` for `custom`.
    pub fn program(self) -> Option<&'static str> {
        match self {
            ProfileKind::Pi => Some("pi"),
            ProfileKind::ClaudeCode => Some("claude"),
            ProfileKind::Codex => Some("codex"),
            ProfileKind::MiniSweAgent => Some("mini"),
            ProfileKind::Custom => None,
        }
    }

    /// The stage of `docker/sandbox.Dockerfile` whose image has the program.
    pub fn image_stage(self) -> &'static str {
        match self {
            ProfileKind::Custom => "base",
            other => other.name(),
        }
    }
}

/// A resolved agent: its profile, the command it runs and the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    /// The profile name (shown in the PR body).
    pub name: String,
    pub kind: ProfileKind,
    pub command: String,
    /// `MAXION_AGENT_MODEL` or the repository's `agent.model`; `None`: the
    /// agent's own default.
    pub model: Option<String>,
}

/// How often an agent retries a failed model call. Its programs default to
/// ten attempts with minutes of back-off; a refused key or a dead upstream
/// should end the job in seconds, a passing hiccup still gets retried.
pub const MODEL_RETRIES: u32 = 3;

impl AgentProfile {
    /// How the configured `kind` is started (the setting was parsed once, in `config`).
    pub fn for_kind(kind: &AgentKind) -> AgentProfile {
        let (profile, command) = match kind {
            AgentKind::Pi => (
                ProfileKind::Pi,
                guarded(
                    "pi",
                    "exec pi --print ${MAXION_AGENT_MODEL:+--model \"$MAXION_AGENT_MODEL\"} < \"$MAXION_PROMPT_FILE\"",
                ),
            ),
            AgentKind::ClaudeCode => (ProfileKind::ClaudeCode, claude::command()),
            AgentKind::Codex => (ProfileKind::Codex, codex::command()),
            AgentKind::MiniSweAgent => (ProfileKind::MiniSweAgent, mini::command()),
            AgentKind::Custom { command } => (ProfileKind::Custom, command.clone()),
        };
        AgentProfile { name: kind.name().to_owned(), kind: profile, command, model: None }
    }

    pub fn with_model(mut self, model: Option<String>) -> Self {
        self.model = model;
        self
    }

    /// The argv of the agent exec.
    pub fn argv(&self) -> Vec<String> {
        vec!["sh".to_owned(), "-c".to_owned(), self.command.clone()]
    }

    /// Variables of the agent exec besides the prompt file and the model
    /// endpoints (which the gateway sets on every exec).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env = Vec::new();
        if let Some(m) = &self.model {
            env.push(("MAXION_AGENT_MODEL".to_owned(), m.clone()));
        }
        let retries = MODEL_RETRIES.to_string();
        match self.kind {
            ProfileKind::ClaudeCode => {
                env.push(("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_owned(), "1".to_owned()));
                env.push(("CLAUDE_CODE_MAX_RETRIES".to_owned(), retries));
            }
            ProfileKind::Codex => env.push(("MAXION_MODEL_RETRIES".to_owned(), retries)),
            ProfileKind::MiniSweAgent => {
                env.push(("MSWEA_CONFIGURED".to_owned(), "true".to_owned()));
                // Attempts, not retries: the first call and MODEL_RETRIES more.
                env.push(("MSWEA_MODEL_RETRY_STOP_AFTER_ATTEMPT".to_owned(), (MODEL_RETRIES + 1).to_string()));
                // LiteLLM fetches its price list from GitHub at start-up, which
                // the sandbox may not reach (seconds of retries, a refused host
                // on the job); the list in its package serves the same purpose.
                env.push(("LITELLM_LOCAL_MODEL_COST_MAP".to_owned(), "True".to_owned()));
            }
            ProfileKind::Pi | ProfileKind::Custom => {}
        }
        env
    }

    /// A reader for this agent's output.
    pub fn transcript(&self) -> Transcript {
        Transcript::new(self.kind)
    }
}

/// The line an agent command prints (to stderr) when its program is not in
/// the image; [`Transcript`] turns it into [`AgentFailure::ProgramMissing`].
pub(crate) const MISSING_MARKER: &str = "maxion-agent: program not found:";

/// `body` behind a check that `program` exists, so a missing program is
/// named as such instead of a bare "exit code 127".
fn guarded(program: &str, body: &str) -> String {
    format!("command -v {program} >/dev/null 2>&1 || {{ echo \"{MISSING_MARKER} {program}\" >&2; exit 127; }}\n{body}")
}

pub use crate::config::valid_model_name;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_resolve_and_keep_the_prompt_off_argv() {
        for kind in [AgentKind::Pi, AgentKind::ClaudeCode, AgentKind::Codex, AgentKind::MiniSweAgent] {
            let p = AgentProfile::for_kind(&kind);
            assert!(p.command.contains("MAXION_PROMPT_FILE"), "{kind:?}");
            assert!(p.command.contains(MISSING_MARKER), "{kind:?}");
            assert_eq!(p.kind.name(), kind.name());
        }
        let custom = AgentKind::Custom { command: "run-agent".into() };
        assert_eq!(AgentProfile::for_kind(&custom).argv(), ["sh", "-c", "run-agent"]);
    }

    #[test]
    fn the_model_reaches_the_exec_environment() {
        let p = AgentProfile::for_kind(&AgentKind::Codex).with_model(Some("gpt-5.1-codex".into()));
        assert!(p.env().contains(&("MAXION_AGENT_MODEL".to_owned(), "gpt-5.1-codex".to_owned())));
        let p = AgentProfile::for_kind(&AgentKind::ClaudeCode);
        assert!(!p.env().iter().any(|(k, _)| k == "MAXION_AGENT_MODEL"));
    }

    #[test]
    fn model_names_cannot_carry_quotes_or_newlines() {
        assert!(valid_model_name("claude-sonnet-4-5"));
        assert!(valid_model_name("openrouter/anthropic/claude-3.5@2024"));
        assert!(!valid_model_name("gpt\"\nbase_url = \"http://evil"));
        assert!(!valid_model_name("a b"));
        assert!(!valid_model_name(""));
    }
}
