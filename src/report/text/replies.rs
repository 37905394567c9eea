//! Replies to commands and events: status, refusals, cancel,
//! retry, help, near misses. Pure functions, snapshot-tested. Every reply
//! starts with a hidden marker naming the control request it answers, so a
//! request handled again after a crash edits its reply instead of adding one.

use std::time::Duration;

use super::duration;
use crate::jobs::{JobId, JobState};

/// The hidden marker of the reply to control request `request_id`.
pub fn reply_marker(request_id: i64) -> String {
    format!("<!-- maxion:reply:{request_id} -->")
}

/// A reply body with its marker.
pub fn reply(request_id: i64, body: &str) -> String {
    format!("{}\n{body}", reply_marker(request_id))
}

/// The status comment's reason when someone cancelled the job.
pub fn cancelled_by(login: &str) -> String {
    format!("requested by @{login}")
}

/// The job log's line when someone asks to stop a running job.
pub fn cancellation_requested(login: &str) -> String {
    format!("cancellation requested by @{login}")
}

/// Why a job ended `refused`: its sender lacks the permission.
pub fn refused_reason(login: &str, needed: &str) -> String {
    format!("@{login} may not start jobs (needs {needed} permission)")
}

/// Why a follow-up ended `refused`: the pull request is someone else's.
pub fn not_maxions_pull_request_reason() -> String {
    "the pull request was not opened by Maxion".to_owned()
}

/// Why a job failed before it was queued: admitting it failed on every attempt.
pub fn admission_failed(error: &str) -> String {
    format!("could not be admitted: {error}")
}

/// A job as `/maxion status` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    pub job_id: JobId,
    pub job_url: String,
    pub state: JobState,
    pub step: Option<String>,
    /// Running: time since it started; finished: how long it ran.
    pub elapsed: Option<Duration>,
    /// Queued: 1-based place in the queue.
    pub position: Option<i64>,
    /// Queued: the expected wait, from recent jobs' run times.
    pub wait: Option<Duration>,
    pub error: Option<String>,
}

/// What an action needs permission for, in a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    Start,
    Retry,
    Cancel,
}

fn job_link(s: &JobSummary) -> String {
    format!("[job {}]({})", s.job_id, s.job_url)
}

/// One line saying where a job is.
pub fn status_line(s: &JobSummary) -> String {
    let link = job_link(s);
    match s.state {
        JobState::Received => format!("🕒 Maxion received {link} and is checking who asked for it."),
        JobState::Queued => {
            let place = s.position.map(|p| format!(": position {p} in the queue")).unwrap_or_default();
            let wait = match s.wait {
                Some(w) if w.is_zero() => ", should start shortly".to_owned(),
                Some(w) => format!(", starting in about {} (from recent jobs' run times)", duration(w)),
                None => ", no estimate of the wait yet (no job has finished recently)".to_owned(),
            };
            format!("🕒 {link} is **queued**{place}{wait}.")
        }
        JobState::Running => {
            let step = s.step.as_deref().map(|st| format!(" in step `{st}`")).unwrap_or_default();
            let elapsed = s.elapsed.map(|e| format!(", {} so far", duration(e))).unwrap_or_default();
            format!("⚙️ {link} is **running**{step}{elapsed}.")
        }
        state => {
            let took = s.elapsed.map(|e| format!(" after {}", duration(e))).unwrap_or_default();
            let why = s.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default();
            format!("The last Maxion job on this issue, {link}, ended **{state}**{took}{why}.")
        }
    }
}

/// `/maxion status`.
pub fn status_reply(job: Option<&JobSummary>, command: &str) -> String {
    match job {
        None => format!(
            "ℹ️ There is no Maxion job for this issue yet. Comment `{command}` (optionally followed by \
             instructions) to start one."
        ),
        Some(s) if s.state.is_terminal() => {
            format!("{}\n\nComment `{command} retry` to run it again.", status_line(s))
        }
        Some(s) => format!("{}\n\nComment `{command} cancel` to stop it.", status_line(s)),
    }
}

/// `/maxion` while a job is already active: no second job.
pub fn already_active(s: &JobSummary, command: &str) -> String {
    format!(
        "This issue already has an active Maxion job, so no second one was started.\n\n{}\n\n\
         Comment `{command} cancel` to stop it, then `{command}` to start again.",
        status_line(s)
    )
}

/// A refusal: what was asked, what permission it needs, what the sender has.
pub fn refused(login: &str, what: Guarded, needed: &str, has: &str) -> String {
    let what = match what {
        Guarded::Start => "starting a Maxion job",
        Guarded::Retry => "retrying a Maxion job",
        Guarded::Cancel => "cancelling a Maxion job",
    };
    format!(
        "@{login}, sorry: {what} needs **{needed}** permission on this repository (or higher), and you \
         have **{has}**. A maintainer can do it for you. (Maxion says this once per person and issue \
         for a while.)"
    )
}

/// A queued job was cancelled; a running one is being stopped.
pub fn cancelling(s: &JobSummary, login: &str) -> String {
    let link = job_link(s);
    match s.state {
        JobState::Running => {
            format!(
                "🚫 Stopping {link} as @{login} asked: its sandbox is being shut down. The status comment says when it has stopped."
            )
        }
        _ => format!("🚫 Cancelled {link} before it started, as @{login} asked."),
    }
}

/// `/maxion cancel` with nothing active.
pub fn nothing_to_cancel(last: Option<&JobSummary>) -> String {
    match last {
        Some(s) => format!("There is no queued or running Maxion job on this issue to cancel.\n\n{}", status_line(s)),
        None => "There is no queued or running Maxion job on this issue to cancel.".to_owned(),
    }
}

/// `/maxion retry` while a job is active.
pub fn retry_while_active(s: &JobSummary, command: &str) -> String {
    format!(
        "{}\n\nA retry starts only when no job is active: comment `{command} cancel` first, or wait for it to end.",
        status_line(s)
    )
}

/// `/maxion retry` with no earlier job.
/// `/maxion <feedback>` on a pull request that no Maxion job opened.
pub fn not_maxions_pull_request(login: &str, command: &str) -> String {
    format!(
        "@{login}, Maxion only takes feedback on pull requests it opened, and this one is not among them, \
         so no job was started. To have Maxion work on something, comment `{command} <instructions>` on \
         an issue."
    )
}

pub fn nothing_to_retry(command: &str) -> String {
    format!("There is no earlier Maxion job on this issue to retry. Comment `{command}` to start one.")
}

/// The operator settings `/maxion help` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpView {
    pub command: String,
    pub trigger_label: String,
    pub required_permission: String,
    /// `(name, help)` from the parser's table.
    pub commands: Vec<(&'static str, &'static str)>,
    /// The repository's effective configuration, rendered (`effective_config`
    /// or, for an invalid file, `config_invalid`).
    pub config: String,
}

/// `/maxion help`.
pub fn help(v: &HelpView) -> String {
    let c = &v.command;
    let mut out = format!(
        "**Maxion commands** (comment them on an issue, each at the start of a line):\n\n\
         | command | what it does |\n|---|---|\n\
         | `{c} [instructions]` | start a job, with optional extra instructions |\n"
    );
    for (name, text) in &v.commands {
        out.push_str(&format!("| `{c} {name}` | {text} |\n"));
    }
    out.push_str(&format!(
        "\nAdding the `{}` label starts a job too; removing it cancels a job that has not started. On the \
         check run, **Re-run** and **Retry** start a new job and **Cancel** stops the running one.\n\n\
         **Commands on this Maxion instance**\n\n\
         - starting, retrying and cancelling need **{}** permission on the repository (or higher); \
         `status` and `help` are open to everyone\n\
         - command word: `{c}`; trigger label: `{}`\n",
        v.trigger_label, v.required_permission, v.trigger_label
    ));
    if !v.config.is_empty() {
        out.push('\n');
        out.push_str(&v.config);
    }
    out
}

/// A word close to a command: say so rather than run it as instructions.
pub fn near_miss(command: &str, word: &str, suggestion: &str) -> String {
    format!("🤔 `{command} {word}` is not a command; nothing was started. Did you mean `{command} {suggestion}`?")
}

#[cfg(test)]
mod tests;
