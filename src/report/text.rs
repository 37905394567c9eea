//! Every word Maxion shows on GitHub about a job: the status comment and the
//! check-run output. Pure functions over a [`StatusView`]; snapshot-tested so
//! a wording change is a reviewed diff. Masking and GitHub's size limits are
//! applied by the client, not here.

use std::time::Duration;

use crate::github::{CheckAction, CheckConclusion, truncate_with_note};
use crate::jobs::JobId;

mod git;
mod replies;
mod repoconfig;
pub use git::git_host_kept_failing;
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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepLine {
    pub name: String,
    pub state: StepState,
    pub duration: Option<Duration>,
}

/// Where the job is, as far as GitHub readers care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    Queued {
        position: Option<usize>,
    },
    Running {
        step: Option<String>,
        elapsed: Duration,
    },
    /// `pull_request`: the PR URL; `None` when there was nothing to change.
    Succeeded {
        pull_request: Option<String>,
    },
    Failed {
        reason: String,
        step: Option<String>,
        last_lines: Vec<String>,
    },
    Cancelled {
        reason: Option<String>,
    },
    TimedOut {
        after: Duration,
    },
}

impl Phase {
    pub fn is_final(&self) -> bool {
        !matches!(self, Phase::Queued { .. } | Phase::Running { .. })
    }

    /// The check-run conclusion for a final phase.
    pub fn conclusion(&self) -> Option<CheckConclusion> {
        Some(match self {
            Phase::Queued { .. } | Phase::Running { .. } => return None,
            Phase::Succeeded { pull_request: Some(_) } => CheckConclusion::Success,
            Phase::Succeeded { pull_request: None } => CheckConclusion::Neutral,
            Phase::Failed { .. } => CheckConclusion::Failure,
            Phase::Cancelled { .. } => CheckConclusion::Cancelled,
            Phase::TimedOut { .. } => CheckConclusion::TimedOut,
        })
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
        Phase::Succeeded { pull_request: Some(url) } => format!("✅ **Maxion opened a pull request**: {url}"),
        Phase::Succeeded { pull_request: None } => {
            "✅ **Maxion finished without changes**: there was nothing to change.".into()
        }
        Phase::Failed { reason, step: Some(step), .. } => format!("❌ **Maxion failed** in step `{step}`: {reason}"),
        Phase::Failed { reason, step: None, .. } => format!("❌ **Maxion failed**: {reason}"),
        Phase::Cancelled { reason: Some(r) } => format!("🚫 **Maxion cancelled this job**: {r}"),
        Phase::Cancelled { reason: None } => "🚫 **Maxion cancelled this job.**".into(),
        Phase::TimedOut { after } => {
            format!("⌛ **Maxion stopped this job** after {}: it ran out of time.", duration(*after))
        }
    }
}

const RETRY_HINT: &str = "To try again, comment `/maxion retry` (you can add instructions after it).";

/// The status comment on the issue.
pub fn status_comment(v: &StatusView) -> String {
    let mut out = format!("{}\n{}\n\n{}", marker(v.job_id), headline(v), notes_block(v));
    if let Phase::Failed { last_lines, .. } = &v.phase
        && !last_lines.is_empty()
    {
        out.push_str("<details><summary>Last lines of output</summary>\n\n");
        out.push_str(&fenced(last_lines, COMMENT_TAIL_CHARS));
        out.push_str("\n</details>\n\n");
    }
    if matches!(v.phase, Phase::Running { .. }) || v.phase.is_final() {
        out.push_str(&steps_table(&v.steps));
        if !v.steps.is_empty() {
            out.push('\n');
        }
    }
    if matches!(v.phase, Phase::Failed { .. } | Phase::TimedOut { .. } | Phase::Cancelled { .. }) {
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
        Phase::Succeeded { pull_request: Some(_) } => "Pull request opened".into(),
        Phase::Succeeded { pull_request: None } => "Nothing to change".into(),
        Phase::Failed { step: Some(s), .. } => format!("Failed in {s}"),
        Phase::Failed { step: None, .. } => "Failed".into(),
        Phase::Cancelled { .. } => "Cancelled".into(),
        Phase::TimedOut { .. } => "Timed out".into(),
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
    match &v.phase {
        Phase::Failed { last_lines, .. } if !last_lines.is_empty() => Some(fenced(last_lines, CHECK_TAIL_CHARS)),
        _ => None,
    }
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
        Phase::Failed { .. } | Phase::TimedOut { .. } | Phase::Cancelled { .. } => {
            vec![button("Retry", "Run this Maxion job again", "retry")]
        }
        Phase::Succeeded { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(phase: Phase) -> StatusView {
        StatusView {
            job_id: JobId(17),
            job_url: "https://maxion.example/jobs/17".into(),
            phase,
            steps: vec![
                StepLine { name: "setup".into(), state: StepState::Passed, duration: Some(Duration::from_secs(12)) },
                StepLine {
                    name: "implement".into(),
                    state: StepState::Passed,
                    duration: Some(Duration::from_secs(754)),
                },
                StepLine { name: "verify".into(), state: StepState::Failed, duration: Some(Duration::from_secs(3700)) },
            ],
            notes: Vec::new(),
        }
    }

    #[test]
    fn queued_comment() {
        let mut v = view(Phase::Queued { position: Some(3) });
        v.steps.clear();
        insta::assert_snapshot!(status_comment(&v));
    }

    #[test]
    fn running_comment() {
        let mut v = view(Phase::Running { step: Some("verify".into()), elapsed: Duration::from_secs(125) });
        v.steps[2].state = StepState::Running;
        v.steps[2].duration = None;
        insta::assert_snapshot!(status_comment(&v));
    }

    #[test]
    fn succeeded_comment_and_check() {
        let mut v = view(Phase::Succeeded { pull_request: Some("https://github.com/acme/widgets/pull/9".into()) });
        v.steps[2].state = StepState::Passed;
        insta::assert_snapshot!(status_comment(&v));
        insta::assert_snapshot!(check_summary(&v));
        assert_eq!(check_title(&v), "Pull request opened");
        assert_eq!(v.phase.conclusion(), Some(CheckConclusion::Success));
    }

    #[test]
    fn failed_comment_shows_the_tail_and_how_to_retry() {
        let lines: Vec<String> = (1..=40).map(|i| format!("error[E0308]: line {i}")).collect();
        let v = view(Phase::Failed {
            reason: "the tests still fail after 2 fix rounds".into(),
            step: Some("verify".into()),
            last_lines: lines,
        });
        let c = status_comment(&v);
        assert!(!c.contains("line 10\n") && c.contains("line 11\n") && c.contains("line 40\n"), "last 30 lines only");
        insta::assert_snapshot!(c);
        assert_eq!(v.phase.conclusion(), Some(CheckConclusion::Failure));
    }

    #[test]
    fn output_with_backticks_cannot_break_out_of_the_block() {
        let v =
            view(Phase::Failed { reason: "r".into(), step: None, last_lines: vec!["```".into(), "<!-- x -->".into()] });
        let text = check_text(&v).unwrap();
        assert!(text.starts_with("````text\n") && text.ends_with("\n````\n"), "{text}");
    }

    #[test]
    fn nothing_to_change_is_neutral_and_marker_is_stable() {
        let v = view(Phase::Succeeded { pull_request: None });
        assert_eq!(v.phase.conclusion(), Some(CheckConclusion::Neutral));
        assert_eq!(marker(JobId(17)), "<!-- maxion:job:17 -->");
        assert!(status_comment(&v).starts_with("<!-- maxion:job:17 -->\n"));
    }

    #[test]
    fn notes_are_shown_under_the_headline_in_comment_and_check() {
        let mut v = view(Phase::Running { step: Some("agent".into()), elapsed: Duration::from_secs(5) });
        v.steps.clear();
        v.notes.push("`.github/maxion.yml` asks for `fix_rounds: 5`, which is past this Maxion's limit.".into());
        let comment = status_comment(&v);
        assert!(comment.contains("so far.\n\n> ⚠️ `.github/maxion.yml` asks for `fix_rounds: 5`"), "{comment}");
        insta::assert_snapshot!(comment);
        assert!(check_summary(&v).contains("\n\n> ⚠️ `.github/maxion.yml`"));
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_secs(42)), "42 s");
        assert_eq!(duration(Duration::from_secs(185)), "3 min 05 s");
        assert_eq!(duration(Duration::from_secs(3720)), "1 h 02 min");
    }
}
