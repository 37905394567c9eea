//! Agent profiles: how each supported coding agent is started inside the
//! sandbox. Every profile is a shell command run with `sh -c` in
//! `/workspace`; the prompt is a file named by `$MAXION_PROMPT_FILE` (never
//! argv, which `ps` and `docker inspect` show). Pure; touches nothing.

use crate::config::AgentKind;

/// A resolved agent: its profile name (shown in the PR body) and command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    pub name: String,
    pub command: String,
}

impl AgentProfile {
    /// How `kind` is started.
    pub fn for_kind(kind: &AgentKind) -> AgentProfile {
        // The built-in agents read the prompt on stdin in their one-shot modes,
        // which keeps it off the command line.
        let command = match kind {
            AgentKind::Pi => "pi --print < \"$MAXION_PROMPT_FILE\"".to_owned(),
            AgentKind::ClaudeCode => "claude -p --dangerously-skip-permissions < \"$MAXION_PROMPT_FILE\"".to_owned(),
            AgentKind::Codex => "codex exec --full-auto - < \"$MAXION_PROMPT_FILE\"".to_owned(),
            AgentKind::Custom { command } => command.clone(),
        };
        AgentProfile { name: kind.name().to_owned(), command }
    }

    /// The argv of the agent exec.
    pub fn argv(&self) -> Vec<String> {
        vec!["sh".to_owned(), "-c".to_owned(), self.command.clone()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_keep_the_prompt_off_argv() {
        for kind in [AgentKind::Pi, AgentKind::ClaudeCode, AgentKind::Codex] {
            let p = AgentProfile::for_kind(&kind);
            assert!(p.command.contains("$MAXION_PROMPT_FILE"), "{kind:?}");
            assert_eq!(p.name, kind.name());
        }
        let custom = AgentKind::Custom { command: "run-agent".into() };
        assert_eq!(AgentProfile::for_kind(&custom).argv(), ["sh", "-c", "run-agent"]);
    }
}
