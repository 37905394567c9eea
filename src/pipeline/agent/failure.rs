//! Why an agent run failed, and the job's failure reason for it. The cause
//! comes from the agent's own output ([`super::Transcript::failure`]) unless
//! the LLM gateway saw the agent's latest model calls fail: then the
//! gateway's record names it, whatever the agent printed (agents word a
//! time-out as "unknown", a 500 as "high demand", or print nothing).

use crate::gateway::{Failing, Provider, Trouble};

use super::transcript::short;

/// Why an agent run failed, as precisely as its output tells.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentFailure {
    /// The agent program is not in the sandbox image.
    ProgramMissing { program: String, stage: &'static str },
    /// The model API refused the request (401, 403, 404).
    ModelRefused { status: u16, detail: String },
    /// The model API answered with an error (5xx, 429, …) until the agent gave up;
    /// `status` when the agent names it.
    UpstreamError { status: Option<u16>, detail: String },
    /// The model API could not be reached or did not answer in time.
    Unreachable { detail: String },
    /// The agent ended without finishing its task, for a reason it names.
    Gave { reason: String },
    /// The agent exited non-zero with nothing more specific in its output.
    Exited { code: Option<i64> },
    /// The gateway saw the agent's latest model calls fail this way.
    Upstream(Failing),
}

impl AgentFailure {
    /// The cause to report when the gateway saw `failing` during the run:
    /// the gateway's record, unless the agent never started.
    pub fn as_the_gateway_saw(self, failing: Option<Failing>) -> AgentFailure {
        match (self, failing) {
            (f @ AgentFailure::ProgramMissing { .. }, _) | (f, None) => f,
            (_, Some(failing)) => AgentFailure::Upstream(failing),
        }
    }

    /// The job's failure reason; `profile` is the profile's name.
    pub fn describe(&self, profile: &str) -> String {
        use crate::report::text as t;
        let detail = |d: &str| short(d, 300);
        match self {
            AgentFailure::ProgramMissing { program, stage } => t::agent_program_missing(profile, program, stage),
            AgentFailure::ModelRefused { status, detail: d } => t::agent_model_refused(profile, *status, &detail(d)),
            AgentFailure::UpstreamError { status, detail: d } => t::agent_upstream_error(profile, *status, &detail(d)),
            AgentFailure::Unreachable { detail: d } => t::agent_unreachable(profile, &detail(d)),
            AgentFailure::Gave { reason } => t::agent_gave_up(profile, &detail(reason)),
            AgentFailure::Exited { code } => t::agent_exited(profile, *code),
            AgentFailure::Upstream(Failing { trouble, provider, calls }) => match trouble {
                Trouble::NoAnswer { timeout } => t::upstream_no_answer(profile, *timeout, *calls),
                Trouble::Stalled { timeout } => t::upstream_stalled(profile, *timeout, *calls),
                Trouble::Unreachable { error } => {
                    t::upstream_unreachable(profile, url_setting(*provider), &detail(error), *calls)
                }
                Trouble::Status { status, message } => {
                    t::upstream_status(profile, *status, message.as_deref().map(detail).as_deref(), *calls)
                }
                Trouble::Cut => t::upstream_cut(profile, *calls),
            },
        }
    }
}

/// The setting with the provider's address.
fn url_setting(p: Provider) -> &'static str {
    match p {
        Provider::Anthropic => "MAXION_ANTHROPIC_URL",
        Provider::OpenAi => "MAXION_OPENAI_URL",
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_gateways_record_wins_over_the_agents_words() {
        let timeout = Duration::from_secs(2);
        let failing = Failing { trouble: Trouble::NoAnswer { timeout }, provider: Provider::Anthropic, calls: 4 };
        // Claude Code calls a gateway 504 a server error; the gateway knows better.
        let said = AgentFailure::UpstreamError { status: Some(504), detail: "server_error".into() };
        let f = said.clone().as_the_gateway_saw(Some(failing.clone()));
        assert_eq!(f, AgentFailure::Upstream(failing.clone()));
        assert!(f.describe("claude-code").contains("did not answer within 2 s (MAXION_LLM_TIMEOUT)"));
        // Nothing failing: the agent's own words stand.
        assert_eq!(said.clone().as_the_gateway_saw(None), said);
        // A missing program made no call: it stays the cause.
        let missing = AgentFailure::ProgramMissing { program: "codex".into(), stage: "codex" };
        assert_eq!(missing.clone().as_the_gateway_saw(Some(failing)), missing);
    }

    #[test]
    fn an_unreachable_provider_names_its_url_setting() {
        let failing = Failing {
            trouble: Trouble::Unreachable { error: "Connection refused (os error 111)".into() },
            provider: Provider::OpenAi,
            calls: 1,
        };
        let reason = AgentFailure::Upstream(failing).describe("codex");
        assert!(reason.contains("(HTTP 502)") && reason.contains("MAXION_OPENAI_URL"), "{reason}");
    }
}
