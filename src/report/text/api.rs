//! What the JSON API says: its error messages and the issue it opens for a
//! free-text task. Pages have their own wording in `web.rs`.

use crate::jobs::{JobId, JobState};

pub fn app_not_configured() -> String {
    "the GitHub App is not configured on this instance, so jobs cannot be created".to_owned()
}

pub fn bad_body(detail: &str) -> String {
    format!("the request body is not valid: {detail}")
}

pub fn issue_or_task() -> String {
    "give either \"issue\" (an issue number) or \"task\" (a free-text task), not both and not neither".to_owned()
}

pub fn requested_by_missing() -> String {
    "\"requested_by\" is required: the GitHub login the job is done for (named in the status comment, \
     co-author and reviewer of its pull request)"
        .to_owned()
}

pub fn not_installed(repo: &str) -> String {
    format!("the App is not installed on {repo} (or the repository does not exist)")
}

pub fn no_such_user(login: &str) -> String {
    format!("there is no GitHub user {login:?}")
}

pub fn no_such_issue(repo: &str, number: u64) -> String {
    format!("{repo} has no issue #{number}")
}

pub fn is_pull_request(repo: &str, number: u64, command: &str) -> String {
    format!("{repo}#{number} is a pull request; comment `{command} <feedback>` on it to continue Maxion's work")
}

pub fn issue_closed(repo: &str, number: u64) -> String {
    format!("{repo}#{number} is closed; reopen it first")
}

pub fn task_empty() -> String {
    "\"task\" must not be empty".to_owned()
}

pub fn already_active(job: JobId) -> String {
    format!("the issue already has an active job ({job}); cancel it or wait for it to end")
}

pub fn github_failed(what: &str) -> String {
    format!("GitHub did not answer as expected while {what}; try again")
}

pub fn bad_event_id(raw: &str) -> String {
    format!("{raw:?} is not an event id (Last-Event-ID and after take the id of the last event received)")
}

pub fn no_job(job: JobId) -> String {
    format!("no job {job}")
}

pub fn not_active(job: JobId, state: JobState) -> String {
    format!("job {job} is {state}: there is nothing to cancel")
}

pub fn still_active(job: JobId, state: JobState) -> String {
    format!("job {job} is still {state}; cancel it first")
}

/// The title of the issue a free-text task opens: its first line, cut at
/// GitHub-friendly length on a character boundary.
pub fn task_issue_title(task: &str) -> String {
    let first = task.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("Task");
    let mut title: String = first.chars().take(80).collect();
    if first.chars().count() > 80 {
        title.push('…');
    }
    title
}

/// The body of that issue: the task, and who asked through which door, so
/// anyone reading the repository knows where it came from.
pub fn task_issue_body(task: &str, requested_by: &str) -> String {
    format!(
        "{task}\n\n---\n_Opened by Maxion for a task @{requested_by} gave through its API. Maxion reports on this \
         issue and links its pull request here._"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_issue_wording() {
        insta::assert_snapshot!(task_issue_title("  \nAdd a --verbose flag to the CLI\nIt should print more."), @"Add a --verbose flag to the CLI");
        assert_eq!(task_issue_title(&"x".repeat(100)).chars().count(), 81);
        insta::assert_snapshot!(task_issue_body("Add a --verbose flag.", "alice"), @r"
        Add a --verbose flag.

        ---
        _Opened by Maxion for a task @alice gave through its API. Maxion reports on this issue and links its pull request here._
        ");
    }

    #[test]
    fn errors_name_what_to_do() {
        insta::assert_snapshot!(already_active(JobId(7)), @"the issue already has an active job (7); cancel it or wait for it to end");
        insta::assert_snapshot!(still_active(JobId(7), JobState::Running), @"job 7 is still running; cancel it first");
        insta::assert_snapshot!(is_pull_request("acme/w", 3, "/maxion"), @"acme/w#3 is a pull request; comment `/maxion <feedback>` on it to continue Maxion's work");
    }
}
