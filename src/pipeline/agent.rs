//! Agent profiles: how each supported coding agent is started inside the
//! sandbox. Every profile is a shell command run with `sh -c` in
//! `/workspace`; the prompt is a file named by `$MAXION_PROMPT_FILE` (never
//! argv, which `ps` and `docker inspect` show). Pure; touches nothing.

/// A resolved agent: its profile name (shown in the PR body) and command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentProfile {
    pub name: String,
    pub command: String,
}

impl AgentProfile {
    /// The profile for `name`; `custom` needs `custom_command`. `None` for an
    /// unknown name or a custom profile without a command.
    pub fn resolve(name: &str, custom_command: Option<&str>) -> Option<AgentProfile> {
        // The built-in agents read the prompt on stdin in their one-shot modes,
        // which keeps it off the command line.
        let command = match name {
            "pi" => "pi --print < \"$MAXION_PROMPT_FILE\"".to_owned(),
            "claude-code" => "claude -p --dangerously-skip-permissions < \"$MAXION_PROMPT_FILE\"".to_owned(),
            "codex" => "codex exec --full-auto - < \"$MAXION_PROMPT_FILE\"".to_owned(),
            "custom" => custom_command.filter(|c| !c.trim().is_empty())?.to_owned(),
            _ => return None,
        };
        Some(AgentProfile { name: name.to_owned(), command })
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
    fn profiles_resolve_and_keep_the_prompt_off_argv() {
        for name in ["pi", "claude-code", "codex"] {
            let p = AgentProfile::resolve(name, None).unwrap();
            assert!(p.command.contains("$MAXION_PROMPT_FILE"), "{name}");
        }
        assert_eq!(AgentProfile::resolve("custom", Some("run-agent")).unwrap().argv(), ["sh", "-c", "run-agent"]);
        assert!(AgentProfile::resolve("custom", None).is_none());
        assert!(AgentProfile::resolve("gpt", None).is_none());
    }
}
