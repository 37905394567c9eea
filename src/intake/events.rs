//! Events that control a job rather than start one: the trigger label taken
//! off an issue, and GitHub's check-run "Re-run" and buttons on Maxion's run.

use super::payload::{CheckRunPayload, IssuesLabeledPayload};
use super::{Inbound, IntakeSettings, repo_ref};
use crate::jobs::{ControlAction, ControlRequest, JobId};

/// `issues`/`unlabeled` of the trigger label: cancel the issue's job if it has not started.
pub(super) fn route_unlabel(p: IssuesLabeledPayload, settings: &IntakeSettings) -> Inbound {
    let Some(label) = p.label else {
        return Inbound::Ignored("unlabeled without a label".into());
    };
    if !label.name.eq_ignore_ascii_case(&settings.trigger_label) {
        return Inbound::Ignored(format!("label {:?} is not the trigger label", label.name));
    }
    if p.sender.is_bot() {
        return Inbound::Ignored("the label was removed by a bot".into());
    }
    let Some(installation) = p.installation else {
        return Inbound::Ignored("no installation in the payload (not an App delivery)".into());
    };
    if p.issue.pull_request.is_some() {
        return Inbound::Ignored("the trigger label is for issues, not pull requests".into());
    }
    let Some(repo) = repo_ref(p.repository) else {
        return Inbound::Ignored("repository full_name is not owner/name".into());
    };
    Inbound::Control(ControlRequest {
        action: ControlAction::Unlabeled,
        installation_id: installation.id,
        repo,
        issue_number: p.issue.number,
        issue_title: p.issue.title,
        comment_id: None,
        sender_login: p.sender.login,
        sender_id: p.sender.id,
    })
}

/// `check_run`/`rerequested` (GitHub's "Re-run") and `requested_action` (a
/// button). The run's `external_id` is the job id the reporter set; the
/// ledger finds the job's issue.
pub(super) fn route_check_run(p: CheckRunPayload, action: &str) -> Inbound {
    if p.check_run.name != crate::report::CHECK_NAME {
        return Inbound::Ignored(format!("check run {:?} is not Maxion's", p.check_run.name));
    }
    let Some(job) = p.check_run.external_id.as_deref().and_then(|e| e.parse::<i64>().ok()).map(JobId) else {
        return Inbound::Ignored("the check run has no Maxion job id".into());
    };
    if p.sender.is_bot() {
        return Inbound::Ignored("the check run was re-run by a bot".into());
    }
    let Some(installation) = p.installation else {
        return Inbound::Ignored("no installation in the payload (not an App delivery)".into());
    };
    let action = match (action, p.requested_action.as_ref().map(|a| a.identifier.as_str())) {
        ("rerequested", _) | (_, Some("retry")) => ControlAction::CheckRunRetry { job },
        (_, Some("cancel")) => ControlAction::CheckRunCancel { job },
        (_, other) => return Inbound::Ignored(format!("unknown check run action {other:?}")),
    };
    let Some(repo) = repo_ref(p.repository) else {
        return Inbound::Ignored("repository full_name is not owner/name".into());
    };
    Inbound::Control(ControlRequest {
        action,
        installation_id: installation.id,
        repo,
        issue_number: 0,
        issue_title: String::new(),
        comment_id: None,
        sender_login: p.sender.login,
        sender_id: p.sender.id,
    })
}
