//! Events that control a job rather than start one: the trigger label taken
//! off an issue, and GitHub's check-run "Re-run" and buttons on Maxion's run.

use super::payload::{CheckRunPayload, IssuesLabeledPayload};
use super::{Effect, IntakeSettings, LabelChange, LabelTarget, repo_ref};
use crate::jobs::{CheckRunButton, CheckRunRequest, ControlAction, ControlRequest, JobId};

/// `issues`/`unlabeled` of the trigger label: cancel the issue's job if it has not started.
pub(super) fn route_unlabel(p: IssuesLabeledPayload, settings: &IntakeSettings) -> Effect {
    let t = match LabelTarget::of(p, settings, LabelChange::Removed) {
        Ok(t) => t,
        Err(why) => return Effect::Ignored(why),
    };
    Effect::Control(ControlRequest {
        action: ControlAction::Unlabeled,
        installation_id: t.installation_id,
        repo: t.repo,
        issue_number: t.issue.number,
        issue_title: t.issue.title,
        comment_id: None,
        sender_login: t.sender.login,
        sender_id: t.sender.id,
    })
}

/// `check_run`/`rerequested` (GitHub's "Re-run") and `requested_action` (a
/// button). The run's `external_id` is the job id the reporter set; the
/// ledger finds the job's issue.
pub(super) fn route_check_run(p: CheckRunPayload, action: &str) -> Effect {
    if p.check_run.name != crate::report::CHECK_NAME {
        return Effect::Ignored(format!("check run {:?} is not Maxion's", p.check_run.name));
    }
    let Some(job) = p.check_run.external_id.as_deref().and_then(|e| e.parse::<i64>().ok()).map(JobId) else {
        return Effect::Ignored("the check run has no Maxion job id".into());
    };
    if p.sender.is_bot() {
        return Effect::Ignored("the check run was re-run by a bot".into());
    }
    let Some(installation) = p.installation else {
        return Effect::Ignored("no installation in the payload (not an App delivery)".into());
    };
    let button = match (action, p.requested_action.as_ref().map(|a| a.identifier.as_str())) {
        ("rerequested", _) | (_, Some("retry")) => CheckRunButton::Retry,
        (_, Some("cancel")) => CheckRunButton::Cancel,
        (_, other) => return Effect::Ignored(format!("unknown check run action {other:?}")),
    };
    let Some(repo) = repo_ref(p.repository) else {
        return Effect::Ignored("repository full_name is not owner/name".into());
    };
    Effect::CheckRun(CheckRunRequest {
        job,
        button,
        installation_id: installation.id,
        repo,
        sender_login: p.sender.login,
        sender_id: p.sender.id,
    })
}
