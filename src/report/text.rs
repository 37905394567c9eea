//! Every word Maxion shows on GitHub about a job: the status comment and the
//! check-run output. Pure functions over a [`StatusView`]; snapshot-tested so
//! a wording change is a reviewed diff. Masking and GitHub's size limits are
//! applied by the client, not here.

use std::time::Duration;

use crate::github::{CheckAction, CheckConclusion, truncate_with_note};
use crate::jobs::{Failure, JobEnd, JobId};

mod agent;
pub mod api;
pub mod doctor;
mod egress;
mod git;
mod pipeline;
mod replies;
mod repoconfig;
pub mod setup;
pub mod web;
pub use agent::*;
pub use egress::{
    UsageView, blocked_hosts, budget_stopped_daily, budget_stopped_tokens, budget_stopped_usd, usage_line,
};
pub use git::git_host_kept_failing;
pub use pipeline::*;
pub use replies::*;
pub use repoconfig::{clamp_note, config_invalid, effective_config, no_pr_on_failure, protected_paths_changed};

/// GitHub's limit for an issue comment body.
pub const MAX_COMMENT_CHARS: usize = 65_536;
/// How many trailing output lines a failure report shows.
pub const FAILURE_TAIL_LINES: usize = 30;

/// The hidden marker that identifies a job's status comment across restarts.
pub fn marker(job_id: JobId) -> String {
    format!("<!-- maxion:job:{job_id} -->")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepState {
    Running,
    Passed,
    Failed,
    /// Stopped because someone cancelled the job (or the service shut down).
    Cancelled,
    /// Stopped because the job's deadline passed.
    TimedOut,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLine {
    pub name: String,
    pub state: StepState,
    pub duration: Option<Duration>,
}

/// Where the job is, as far as GitHub readers care: waiting, running, or
/// ended (the one job-end type, [`JobEnd`]; see `jobs::end` for how it maps
/// to the stored state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Queued { position: Option<usize> },
    Running { step: Option<String>, elapsed: Duration },
    Ended(JobEnd),
}

impl Phase {
    pub fn is_final(&self) -> bool {
        matches!(self, Phase::Ended(_))
    }

    /// The check-run conclusion for a final phase.
    pub fn conclusion(&self) -> Option<CheckConclusion> {
        let Phase::Ended(end) = self else { return None };
        Some(match end {
            JobEnd::Succeeded { pull_request: Some(_) } => CheckConclusion::Success,
            JobEnd::Succeeded { pull_request: None } => CheckConclusion::Neutral,
            JobEnd::Failed(_) => CheckConclusion::Failure,
            JobEnd::Cancelled { .. } => CheckConclusion::Cancelled,
            JobEnd::TimedOut { .. } => CheckConclusion::TimedOut,
        })
    }

    /// The failure this phase ended with, if it did.
    fn failure(&self) -> Option<&Failure> {
        match self {
            Phase::Ended(JobEnd::Failed(f)) => Some(f),
            _ => None,
        }
    }
}

/// The reason stored with the job (the API and `/maxion status` show it);
/// `None` for a success.
pub fn end_reason(end: &JobEnd) -> Option<String> {
    match end {
        JobEnd::Succeeded { .. } => None,
        JobEnd::Failed(f) => Some(f.reason.clone()),
        JobEnd::Cancelled { by: Some(by) } => Some(cancelled_by(by)),
        JobEnd::Cancelled { by: None } => Some("cancelled".into()),
        JobEnd::TimedOut { after } => Some(format!("job deadline of {} s passed", after.as_secs())),
    }
}

/// Everything the wording depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    pub job_id: JobId,
    /// `{MAXION_PUBLIC_URL}/jobs/{id}`.
    pub job_url: String,
    pub phase: Phase,
    pub steps: Vec<StepLine>,
    /// Shown under the headline, e.g. a configuration request that was clamped.
    pub notes: Vec<String>,
}

/// `1 h 02 min`, `3 min 05 s`, `42 s`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, (s % 3600) / 60),
    }
}

fn steps_table(steps: &[StepLine]) -> String {
    if steps.is_empty() {
        return String::new();
    }
    let mut out = String::from("| Step | State | Duration |\n|---|---|---|\n");
    for s in steps {
        let state = match s.state {
            StepState::Running => "⏳ running",
            StepState::Passed => "✅ passed",
            StepState::Failed => "❌ failed",
            StepState::Cancelled => "🚫 cancelled",
            StepState::TimedOut => "⌛ timed out",
        };
        let d = s.duration.map(duration).unwrap_or_else(|| "–".into());
        out.push_str(&format!("| `{}` | {state} | {d} |\n", s.name));
    }
    out
}

/// Output shown in a comment is cut to its last this-many characters, so the
/// links and the retry hint after it always fit in the comment.
pub const COMMENT_TAIL_CHARS: usize = 20_000;
/// The same for the check run's text, under GitHub's 65,535.
pub const CHECK_TAIL_CHARS: usize = 60_000;

/// Keeps the end of `body` (where the error is), saying how much was dropped.
fn keep_tail(body: &str, max: usize) -> String {
    let total = body.chars().count();
    if total <= max {
        return body.to_owned();
    }
    let note = |n: usize| format!("… (truncated: {n} earlier characters not shown)\n");
    let keep = max.saturating_sub(note(total).chars().count());
    let mut out = note(total - keep);
    out.extend(body.chars().skip(total - keep));
    out
}

/// A fenced block that the content cannot close early.
fn fenced(lines: &[String], max_chars: usize) -> String {
    let tail = &lines[lines.len().saturating_sub(FAILURE_TAIL_LINES)..];
    let body = keep_tail(&tail.join("\n"), max_chars);
    let mut fence = String::from("```");
    while body.contains(&fence) {
        fence.push('`');
    }
    format!("{fence}text\n{body}\n{fence}\n")
}

/// The notes as a quote block under the headline; empty without notes.
fn notes_block(v: &StatusView) -> String {
    let mut out = String::new();
    for n in &v.notes {
        out.push_str(&format!("> ⚠️ {n}\n"));
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out
}

fn headline(v: &StatusView) -> String {
    match &v.phase {
        Phase::Queued { position: Some(p) } => {
            format!("🕒 **Maxion queued this job** (position {p} in the queue).")
        }
        Phase::Queued { position: None } => "🕒 **Maxion queued this job.**".into(),
        Phase::Running { step: Some(step), elapsed } => {
            format!("⚙️ **Maxion is working on this issue**: step `{step}`, {} so far.", duration(*elapsed))
        }
        Phase::Running { step: None, elapsed } => {
            format!("⚙️ **Maxion is working on this issue** ({} so far).", duration(*elapsed))
        }
        Phase::Ended(end) => match end {
            JobEnd::Succeeded { pull_request: Some(url) } => format!("✅ **Maxion opened a pull request**: {url}"),
            JobEnd::Succeeded { pull_request: None } => {
                "✅ **Maxion finished without changes**: there was nothing to change.".into()
            }
            JobEnd::Failed(Failure { reason, step: Some(step), .. }) => {
                format!("❌ **Maxion failed** in step `{step}`: {reason}")
            }
            JobEnd::Failed(Failure { reason, step: None, .. }) => format!("❌ **Maxion failed**: {reason}"),
            JobEnd::Cancelled { by: Some(by) } => format!("🚫 **Maxion cancelled this job**: {}", cancelled_by(by)),
            JobEnd::Cancelled { by: None } => "🚫 **Maxion cancelled this job.**".into(),
            JobEnd::TimedOut { after } => {
                format!("⌛ **Maxion stopped this job** after {}: it ran out of time.", duration(*after))
            }
        },
    }
}

const RETRY_HINT: &str = "To try again, comment `/maxion retry` (you can add instructions after it).";

/// The status comment on the issue.
pub fn status_comment(v: &StatusView) -> String {
    let mut out = format!("{}\n{}\n\n{}", marker(v.job_id), headline(v), notes_block(v));
    if let Some(f) = v.phase.failure()
        && !f.last_lines.is_empty()
    {
        out.push_str("<details><summary>Last lines of output</summary>\n\n");
        out.push_str(&fenced(&f.last_lines, COMMENT_TAIL_CHARS));
        out.push_str("\n</details>\n\n");
    }
    if matches!(v.phase, Phase::Running { .. }) || v.phase.is_final() {
        out.push_str(&steps_table(&v.steps));
        if !v.steps.is_empty() {
            out.push('\n');
        }
    }
    if retryable(&v.phase) {
        out.push_str(RETRY_HINT);
        out.push_str("\n\n");
    }
    out.push_str(&format!("[Job {} details and full log]({})\n", v.job_id, v.job_url));
    truncate_with_note(&out, MAX_COMMENT_CHARS)
}

/// Check-run output title.
pub fn check_title(v: &StatusView) -> String {
    match &v.phase {
        Phase::Queued { .. } => "Queued".into(),
        Phase::Running { step: Some(s), .. } => format!("Running: {s}"),
        Phase::Running { step: None, .. } => "Running".into(),
        Phase::Ended(end) => match end {
            JobEnd::Succeeded { pull_request: Some(_) } => "Pull request opened".into(),
            JobEnd::Succeeded { pull_request: None } => "Nothing to change".into(),
            JobEnd::Failed(Failure { step: Some(s), .. }) => format!("Failed in {s}"),
            JobEnd::Failed(Failure { step: None, .. }) => "Failed".into(),
            JobEnd::Cancelled { .. } => "Cancelled".into(),
            JobEnd::TimedOut { .. } => "Timed out".into(),
        },
    }
}

/// Check-run output summary: the headline and every step with its state.
pub fn check_summary(v: &StatusView) -> String {
    let mut out = format!("{}\n\n{}", headline(v), notes_block(v));
    out.push_str(&steps_table(&v.steps));
    out.push_str(&format!("\n[Job {} details and full log]({})\n", v.job_id, v.job_url));
    out
}

/// Check-run output text: the failing output, when there is one.
pub fn check_text(v: &StatusView) -> Option<String> {
    match v.phase.failure() {
        Some(f) if !f.last_lines.is_empty() => Some(fenced(&f.last_lines, CHECK_TAIL_CHARS)),
        _ => None,
    }
}

/// Whether the job may be retried from what GitHub shows: after a failure,
/// a timeout or a cancellation.
fn retryable(phase: &Phase) -> bool {
    matches!(phase, Phase::Ended(JobEnd::Failed(_) | JobEnd::TimedOut { .. } | JobEnd::Cancelled { .. }))
}

/// The check run's buttons: `Cancel` while the job is queued or running,
/// `Retry` once it failed, timed out or was cancelled, none after success.
pub fn check_actions(phase: &Phase) -> Vec<CheckAction> {
    let button = |label: &str, description: &str, identifier: &str| CheckAction {
        label: label.into(),
        description: description.into(),
        identifier: identifier.into(),
    };
    match phase {
        Phase::Queued { .. } | Phase::Running { .. } => vec![button("Cancel", "Stop this Maxion job", "cancel")],
        _ if retryable(phase) => vec![button("Retry", "Run this Maxion job again", "retry")],
        Phase::Ended(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
