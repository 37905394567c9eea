//! What the web pages say: titles, labels, the job page's notes in the log,
//! the sign-in and setup pages. The markup is in `crate::web`; the words are
//! here so they are reviewed (and snapshot-tested) with the rest.

use std::time::Duration;

use crate::jobs::{IssueNumber, JobEvent, JobState, StepStop, TriggerKind};

pub const PRODUCT: &str = "Maxion";
pub const JOBS: &str = "Jobs";
pub const NO_JOBS: &str = "No jobs yet. Label an issue or comment the command on one to start one.";
pub const FILTER: &str = "Filter";
pub const ANY_STATE: &str = "any state";
pub const REPOSITORY_PLACEHOLDER: &str = "owner/name";
pub const NEWER: &str = "← newer";
pub const OLDER: &str = "older →";
pub const STEPS: &str = "Steps";
pub const LOG: &str = "Log";
pub const SEARCH_PLACEHOLDER: &str = "Search the log";
pub const RAW_LOG: &str = "Raw log";
pub const BRIEF: &str = "Brief given to the agent";
pub const NO_BRIEF: &str = "The brief is assembled when the job starts.";
pub const VERIFICATION: &str = "Verification";
pub const NO_VERIFICATION: &str = "Nothing verified yet.";
pub const CANCEL: &str = "Cancel";
pub const RETRY: &str = "Retry";
pub const SIGN_OUT: &str = "Sign out";
pub const LIVE: &str = "live";
pub const USAGE: &str = "Usage and cost are not recorded by this version.";

pub fn page_title(what: &str) -> String {
    format!("{what} · {PRODUCT}")
}

pub fn job_title(id: i64, repo: &str, issue: IssueNumber) -> String {
    format!("Job {id} · {repo}#{issue}")
}

pub fn trigger(kind: TriggerKind, login: &str) -> String {
    let how = match kind {
        TriggerKind::Label => "the label",
        TriggerKind::Comment => "a comment",
        TriggerKind::Retry => "a retry",
        TriggerKind::FollowUp => "feedback on the pull request",
        TriggerKind::Api => "the API",
    };
    if login.is_empty() { format!("started by {how}") } else { format!("started by {how}, for @{login}") }
}

pub fn state_line(state: JobState, step: Option<&str>, reason: Option<&str>) -> String {
    let mut s = state.as_str().replace('_', " ");
    if let (JobState::Running, Some(step)) = (state, step) {
        s = format!("{s} ({step})");
    }
    if let Some(r) = reason.filter(|r| !r.is_empty()) {
        s = format!("{s}: {r}");
    }
    s
}

pub fn pull_request(number: IssueNumber) -> String {
    format!("Pull request #{number}")
}

pub fn duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{} ms", d.as_millis()),
        1..=59 => format!("{:.1} s", d.as_secs_f64()),
        60..=3599 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3600, (secs % 3600) / 60),
    }
}

pub fn step_result(ok: Option<bool>, exit_code: Option<i64>, stopped: Option<StepStop>) -> String {
    match (ok, exit_code) {
        _ if stopped == Some(StepStop::Cancelled) => "cancelled".to_owned(),
        _ if stopped == Some(StepStop::TimedOut) => "timed out".to_owned(),
        (None, _) => "running".to_owned(),
        (Some(true), _) => "passed".to_owned(),
        (Some(false), Some(code)) => format!("failed (exit {code})"),
        (Some(false), None) => "failed".to_owned(),
    }
}

pub fn verification_row(round: usize) -> String {
    if round == 0 { "verify".to_owned() } else { format!("verify after fix {round}") }
}

/// A non-output event as one log line.
pub fn log_note(event: &JobEvent) -> String {
    match event {
        JobEvent::StateChanged { from, to, reason } => match reason {
            Some(r) => format!("▸ {from} → {to}: {r}"),
            None => format!("▸ {from} → {to}"),
        },
        JobEvent::StepStarted { step } => format!("▸ {step} started"),
        JobEvent::StepFinished { step, ok, exit_code, duration_ms, stopped } => format!(
            "▸ {step} {} in {}",
            step_result(Some(*ok), *exit_code, *stopped),
            duration(Duration::from_millis(*duration_ms))
        ),
        JobEvent::Output { text, .. } => text.clone(),
        JobEvent::Info { message } => format!("ℹ {message}"),
        JobEvent::Error { message } => format!("✘ {message}"),
        JobEvent::Egress { method, host, port, allowed: true, bytes_up, bytes_down, .. } => {
            format!("⇄ {method} {host}:{port} ({bytes_up} B up, {bytes_down} B down)")
        }
        JobEvent::Egress { method, host, port, allowed: false, reason, .. } => match reason {
            Some(r) => format!("⛔ {method} {host}:{port} refused: {r}"),
            None => format!("⛔ {method} {host}:{port} refused"),
        },
        JobEvent::LlmCall { provider, model, status, input_tokens, output_tokens, latency_ms, .. } => format!(
            "◆ {provider} {model}: {status}, {input_tokens} tokens in, {output_tokens} out, in {}",
            duration(Duration::from_millis(*latency_ms))
        ),
    }
}

pub const SIGN_IN_TITLE: &str = "Sign in";
pub const SIGN_IN_TOKEN_HELP: &str = "Until sign-in with GitHub is set up, the pages open with the API token \
     (MAXION_API_TOKEN). It is checked here and never stored in the browser: the session cookie is derived from it.";
pub const SIGN_IN_TOKEN_LABEL: &str = "API token";
pub const SIGN_IN_BUTTON: &str = "Sign in";
pub const SIGN_IN_WRONG: &str = "That is not this instance's API token.";
pub const SIGN_IN_NO_TOKEN: &str = "This instance has no MAXION_API_TOKEN set, so nobody can sign in to its pages.";

pub const SIGN_IN_WITH_GITHUB: &str = "Sign in with GitHub";
pub const SIGN_IN_OPERATOR: &str = "Operator: sign in with the API token";
pub const SIGN_IN_GITHUB_OFF: &str = "Sign-in with GitHub is not configured on this instance \
     (GITHUB_APP_CLIENT_ID and GITHUB_APP_CLIENT_SECRET).";
pub const SIGN_IN_DENIED: &str = "GitHub did not authorize the sign-in.";
pub const SIGN_IN_STALE: &str = "That sign-in link was stale or not started from this browser; sign in again.";
pub const GITHUB_UNAVAILABLE: &str = "GitHub did not answer as expected; reload the page in a moment.";

pub fn signed_in_as(login: &str) -> String {
    format!("@{login}")
}

pub const NOT_PERMITTED: &str = "You can read this repository but not start or cancel its jobs.";
pub const NOT_FOUND: &str = "No such page, or no job you may see.";
pub const BAD_FORM: &str = "The form was stale or not sent from this site; reload the page and try again.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_and_lines() {
        let e = JobEvent::StepFinished {
            step: "verify".into(),
            ok: false,
            exit_code: Some(2),
            duration_ms: 61_000,
            stopped: None,
        };
        insta::assert_snapshot!(log_note(&e), @"▸ verify failed (exit 2) in 1 min 1 s");
        let e = JobEvent::StateChanged {
            from: JobState::Running,
            to: JobState::Cancelled,
            reason: Some("requested by @a".into()),
        };
        insta::assert_snapshot!(log_note(&e), @"▸ running → cancelled: requested by @a");
        insta::assert_snapshot!(trigger(TriggerKind::Api, "alice"), @"started by the API, for @alice");
        insta::assert_snapshot!(state_line(JobState::Running, Some("verify"), None), @"running (verify)");
        insta::assert_snapshot!(state_line(JobState::TimedOut, None, Some("after 30 min")), @"timed out: after 30 min");
        insta::assert_snapshot!(duration(Duration::from_millis(1500)), @"1.5 s");
    }

    #[test]
    fn stopped_steps_egress_and_model_calls() {
        insta::assert_snapshot!(step_result(Some(false), None, Some(StepStop::TimedOut)), @"timed out");
        insta::assert_snapshot!(step_result(Some(false), Some(137), Some(StepStop::Cancelled)), @"cancelled");
        let refused = JobEvent::Egress {
            method: "CONNECT".into(),
            host: "evil.example".into(),
            port: 443,
            address: None,
            allowed: false,
            reason: Some("not on the allow-list".into()),
            bytes_up: 0,
            bytes_down: 0,
            duration_ms: 1,
        };
        insta::assert_snapshot!(log_note(&refused), @"⛔ CONNECT evil.example:443 refused: not on the allow-list");
        let call = JobEvent::LlmCall {
            provider: "anthropic".into(),
            model: "claude-sonnet-4-5".into(),
            status: 200,
            input_tokens: 1200,
            cached_tokens: 0,
            output_tokens: 300,
            reasoning_tokens: 0,
            latency_ms: 2500,
            usage_reported: true,
            cost_usd: None,
        };
        insta::assert_snapshot!(log_note(&call), @"◆ anthropic claude-sonnet-4-5: 200, 1200 tokens in, 300 out, in 2.5 s");
    }
}
