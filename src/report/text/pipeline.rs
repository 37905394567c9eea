//! Wording about a running job: why a step failed, the job log's lines, and
//! the pull request's description. Pure functions, snapshot-tested below.

use std::fmt::Write as _;
use std::time::Duration;

use super::duration;
use super::repoconfig::code;
use crate::github::IssueNumber;
use crate::sandbox::ExecOutcome;

/// How a command in the sandbox ended, after the command's name:
/// "`npm test` exited with code 2".
pub fn exec_outcome(outcome: &ExecOutcome) -> String {
    match outcome {
        ExecOutcome::Exited { code } => format!("exited with code {code}"),
        ExecOutcome::TimedOut { after } => {
            format!("timed out after {}; its processes were killed", duration(*after))
        }
        ExecOutcome::OutOfMemory => "was killed: out of memory (the sandbox memory limit was reached)".into(),
        ExecOutcome::DiskFull { mount } => format!("failed: disk full ({mount} has no space left)"),
    }
}

/// The failure reason when a setup command does not succeed.
pub fn setup_failed(command: &str, outcome: &ExecOutcome) -> String {
    format!("setup command {} {}", code(command), exec_outcome(outcome))
}

/// The failure reason when the agent does not succeed.
pub fn agent_failed(agent: &str, outcome: &ExecOutcome) -> String {
    format!("the agent ({agent}) {}", exec_outcome(outcome))
}

/// The job log's line for a step's command that did not succeed.
pub fn step_did_not_succeed(step: &str, outcome: &ExecOutcome) -> String {
    format!("{step}: {}", exec_outcome(outcome))
}

/// The failure reason when verification still fails and a draft PR was opened.
pub fn draft_after_failed_verification(pull_request: &str) -> String {
    format!("verification still fails after the fix rounds; draft PR {pull_request}")
}

/// The failure reason when the job's status comment cannot be found or posted.
pub fn status_comment_unavailable(error: &dyn std::fmt::Display) -> String {
    format!("cannot post the status comment: {error}")
}

/// The failure reason for a follow-up whose pull request has no recorded branch.
pub fn no_maxion_branch() -> String {
    "no Maxion branch is recorded for this pull request".into()
}

/// The failure reason for a follow-up whose pull request was closed meanwhile.
pub fn pull_request_closed(sha: &str, branch: &str) -> String {
    format!("pushed {sha} to {branch}, but its pull request is no longer open")
}

/// The job log's line once the brief is ready.
pub fn brief_assembled(bytes: usize) -> String {
    format!("brief assembled: {bytes} bytes")
}

/// The job log's line about the repository's configuration file.
pub fn config_read(found: bool) -> String {
    if found { "read .github/maxion.yml" } else { "no .github/maxion.yml; instance defaults" }.into()
}

/// The job log's line for how the agent's work came back: `Some(n)` changed
/// paths, or `None` for the whole workspace.
pub fn collected(changed: Option<usize>) -> String {
    match changed {
        Some(n) => format!("collected {n} changed path(s) from the sandbox"),
        None => "collected the whole workspace (the sandbox's git could not list changes)".into(),
    }
}

/// The job log's line when the agent left the repository as it was.
pub fn nothing_changed() -> String {
    "the agent changed nothing; no branch, no pull request".into()
}

/// The job log's line after the push.
pub fn pushed(sha: &str, branch: &str) -> String {
    format!("pushed {sha} to {branch}")
}

/// The job log's line naming the pull request.
pub fn pull_request_line(number: IssueNumber, url: &str) -> String {
    format!("pull request #{number}: {url}")
}

/// One verification command's result, for the pull request's description.
pub struct CommandResult<'a> {
    pub command: &'a str,
    pub passed: bool,
    /// `None`: it did not exit on its own (timed out, killed).
    pub exit_code: Option<i64>,
    pub duration: Duration,
}

/// What the pull request's description says.
pub struct PullRequestBody<'a> {
    /// The agent's own description, already sanitized.
    pub agent_body: Option<&'a str>,
    /// The agent's final message, already sanitized.
    pub agent_summary: Option<&'a str>,
    pub issue_number: IssueNumber,
    pub verify: &'a [CommandResult<'a>],
    pub job_url: &'a str,
    pub agent: &'a str,
    pub requested_by: &'a str,
    /// Lines about the job's model use and refused hosts, when it had a gateway.
    pub notes: &'a [String],
}

/// The pull request's description: the agent's words, the issue it closes,
/// the verification table, and where the job's log is.
pub fn pull_request_body(b: &PullRequestBody<'_>) -> String {
    let mut out = String::new();
    if let Some(text) = b.agent_body {
        let _ = writeln!(out, "{}\n", text.trim_end());
    }
    if let Some(summary) = b.agent_summary {
        let _ = writeln!(out, "{}", super::agent_summary_section(b.agent, summary));
    }
    let _ = writeln!(out, "Closes #{}\n", b.issue_number);
    if b.verify.is_empty() {
        out.push_str("No verification commands were configured or detected.\n\n");
    } else {
        if !b.verify.iter().all(|v| v.passed) {
            out.push_str("**Verification still fails** after the fix rounds; this pull request is a draft for a human to finish.\n\n");
        }
        out.push_str("| Command | Result | Duration |\n|---|---|---|\n");
        for v in b.verify {
            let result = if v.passed {
                "passed".to_owned()
            } else {
                v.exit_code.map_or("did not finish".to_owned(), |c| format!("failed (exit code {c})"))
            };
            let _ = writeln!(
                out,
                "| `{}` | {result} | {:.1} s |",
                v.command.replace('|', "\\|").replace('`', "'"),
                v.duration.as_secs_f64()
            );
        }
        out.push('\n');
    }
    for note in b.notes {
        let _ = writeln!(out, "{note}\n");
    }
    let _ = writeln!(out, "Job: {} · agent: `{}` · requested by @{}", b.job_url, b.agent, b.requested_by);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_failures_name_how_the_command_ended_without_debug_formatting() {
        let exited = ExecOutcome::Exited { code: 2 };
        insta::assert_snapshot!(agent_failed("custom", &exited), @"the agent (custom) exited with code 2");
        insta::assert_snapshot!(
            setup_failed("npm ci", &ExecOutcome::TimedOut { after: Duration::from_secs(125) }),
            @"setup command `npm ci` timed out after 2 min 05 s; its processes were killed"
        );
        insta::assert_snapshot!(
            agent_failed("pi", &ExecOutcome::OutOfMemory),
            @"the agent (pi) was killed: out of memory (the sandbox memory limit was reached)"
        );
        insta::assert_snapshot!(
            step_did_not_succeed("verify", &ExecOutcome::DiskFull { mount: "/workspace".into() }),
            @"verify: failed: disk full (/workspace has no space left)"
        );
        insta::assert_snapshot!(setup_failed("echo `x`", &exited), @"setup command `` echo `x` `` exited with code 2");
    }

    #[test]
    fn reasons_and_log_lines() {
        insta::assert_snapshot!(
            draft_after_failed_verification("https://github.com/acme/widgets/pull/3"),
            @"verification still fails after the fix rounds; draft PR https://github.com/acme/widgets/pull/3"
        );
        insta::assert_snapshot!(pull_request_closed("abc123", "maxion/issue-3-x"), @"pushed abc123 to maxion/issue-3-x, but its pull request is no longer open");
        insta::assert_snapshot!(collected(Some(2)), @"collected 2 changed path(s) from the sandbox");
        insta::assert_snapshot!(collected(None), @"collected the whole workspace (the sandbox's git could not list changes)");
    }

    #[test]
    fn the_job_log_and_the_other_stored_reasons() {
        let lines = [
            status_comment_unavailable(&"HTTP 502"),
            no_maxion_branch(),
            brief_assembled(5120),
            config_read(true),
            config_read(false),
            nothing_changed(),
            pushed("0123abc", "maxion/issue-3-fix-it"),
            pull_request_line(IssueNumber(12), "https://github.com/acme/widgets/pull/12"),
        ];
        insta::assert_snapshot!(lines.join("\n"), @r"
        cannot post the status comment: HTTP 502
        no Maxion branch is recorded for this pull request
        brief assembled: 5120 bytes
        read .github/maxion.yml
        no .github/maxion.yml; instance defaults
        the agent changed nothing; no branch, no pull request
        pushed 0123abc to maxion/issue-3-fix-it
        pull request #12: https://github.com/acme/widgets/pull/12
        ");
    }

    #[test]
    fn pull_request_body_with_a_failing_command() {
        let verify = [
            CommandResult {
                command: "cargo test | tee",
                passed: true,
                exit_code: Some(0),
                duration: Duration::from_millis(1500),
            },
            CommandResult {
                command: "make `lint`",
                passed: false,
                exit_code: Some(1),
                duration: Duration::from_secs(2),
            },
            CommandResult { command: "slow", passed: false, exit_code: None, duration: Duration::from_secs(900) },
        ];
        let body = PullRequestBody {
            agent_body: Some("Adds the flag.\n"),
            agent_summary: None,
            issue_number: IssueNumber(7),
            verify: &verify,
            job_url: "https://maxion.example/jobs/4",
            agent: "custom",
            requested_by: "alice",
            notes: &[],
        };
        insta::assert_snapshot!(pull_request_body(&body), @r"
        Adds the flag.

        Closes #7

        **Verification still fails** after the fix rounds; this pull request is a draft for a human to finish.

        | Command | Result | Duration |
        |---|---|---|
        | `cargo test \| tee` | passed | 1.5 s |
        | `make 'lint'` | failed (exit code 1) | 2.0 s |
        | `slow` | did not finish | 900.0 s |

        Job: https://maxion.example/jobs/4 · agent: `custom` · requested by @alice
        ");
    }
}
