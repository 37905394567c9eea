//! Intake: turns a verified webhook delivery into Maxion's own types.
//!
//! This is the edge. The event name and a tiny `{action}` are read first and
//! only the (event, action) pairs Maxion handles are deserialized into the
//! small typed payloads in `payload.rs`; everything else is `Ignored` with a
//! reason. The result is the [`Effect`] the ledger records. Nothing past this
//! module sees raw JSON.

pub mod command;
mod events;
mod payload;
mod review;

use serde::Deserialize;

pub use command::{Command, parse_command};

use crate::github::InstallationId;
use crate::jobs::{
    ControlAction, ControlRequest, Effect, FeedbackSource, FollowUp, InstallationAction, InstallationChange, NewJob,
    RepoBrief, RepoRef, TriggerKind,
};
use payload::{InstallationPayload, InstallationReposPayload, IssueCommentPayload, IssuesLabeledPayload, Repo, User};

/// The settings intake needs.
#[derive(Debug, Clone)]
pub struct IntakeSettings {
    pub trigger_label: String,
    pub command: String,
}

/// Why a delivery could not be read. Always a client error (400).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("the body is not a JSON object: {0}")]
    NotJson(String),
    #[error("the {event}/{action} payload is missing fields Maxion needs: {detail}")]
    Shape { event: String, action: String, detail: String },
}

#[derive(Deserialize)]
struct ActionOnly {
    #[serde(default)]
    action: Option<serde_json::Value>,
}

/// The delivery's `action`, if it has a string one (for recording).
pub fn peek_action(body: &[u8]) -> Result<Option<String>, ParseError> {
    let head: ActionOnly = serde_json::from_slice(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    Ok(head.action.and_then(|a| a.as_str().map(str::to_owned)))
}

/// Routes a verified delivery. `action` is what [`peek_action`] returned.
pub fn route(
    event: &str,
    action: Option<&str>,
    body: &[u8],
    delivery_id: &str,
    settings: &IntakeSettings,
) -> Result<Effect, ParseError> {
    let typed = |detail: serde_json::Error| ParseError::Shape {
        event: event.to_owned(),
        action: action.unwrap_or("-").to_owned(),
        detail: detail.to_string(),
    };
    match (event, action) {
        ("ping", _) => Ok(Effect::Ping),
        ("installation", Some(a @ ("created" | "deleted" | "suspend" | "unsuspend"))) => {
            let p: InstallationPayload = serde_json::from_slice(body).map_err(typed)?;
            let action = match a {
                "created" => InstallationAction::Created,
                "deleted" => InstallationAction::Deleted,
                "suspend" => InstallationAction::Suspend,
                _ => InstallationAction::Unsuspend,
            };
            Ok(Effect::Installation(InstallationChange {
                action,
                installation_id: p.installation.id,
                account_id: p.installation.account_id(),
                account_login: p.installation.account.map(|a| a.login).unwrap_or_default(),
                repos: p.repositories.unwrap_or_default().into_iter().map(RepoBrief::from).collect(),
            }))
        }
        ("installation_repositories", Some("added" | "removed")) => {
            let p: InstallationReposPayload = serde_json::from_slice(body).map_err(typed)?;
            Ok(Effect::InstallationRepos {
                installation_id: p.installation.id,
                added: p.repositories_added.into_iter().map(RepoBrief::from).collect(),
                removed: p.repositories_removed.into_iter().map(RepoBrief::from).collect(),
            })
        }
        ("issues", Some("labeled")) => {
            let p: IssuesLabeledPayload = serde_json::from_slice(body).map_err(typed)?;
            Ok(route_label(p, delivery_id, settings))
        }
        ("issues", Some("unlabeled")) => {
            let p: IssuesLabeledPayload = serde_json::from_slice(body).map_err(typed)?;
            Ok(events::route_unlabel(p, settings))
        }
        ("issue_comment", Some("created")) => {
            let p: IssueCommentPayload = serde_json::from_slice(body).map_err(typed)?;
            Ok(route_comment(p, None, delivery_id, settings))
        }
        ("issue_comment", Some("edited")) => {
            let p: IssueCommentPayload = serde_json::from_slice(body).map_err(typed)?;
            // Only a command the previous text did not already hold: fixing a
            // typo elsewhere in a `/maxion` comment must not start a second job.
            let before = p.changes.as_ref().and_then(|c| c.body.as_ref()).and_then(|b| b.from.clone());
            let Some(before) = before else {
                return Ok(Effect::Ignored("the edit did not change the comment's text".into()));
            };
            Ok(route_comment(p, Some(before.as_str()), delivery_id, settings))
        }
        ("issue_comment", Some("deleted")) => Ok(Effect::Ignored("deleted comments do nothing".into())),
        ("pull_request_review", Some("submitted")) => {
            let p: payload::PullRequestReviewPayload = serde_json::from_slice(body).map_err(typed)?;
            Ok(review::route_review(p, delivery_id, settings))
        }
        ("pull_request_review_comment", Some("created")) => {
            let p: payload::ReviewCommentPayload = serde_json::from_slice(body).map_err(typed)?;
            Ok(review::route_review_comment(p, delivery_id, settings))
        }
        ("check_run", Some(a @ ("rerequested" | "requested_action"))) => {
            let p: payload::CheckRunPayload = serde_json::from_slice(body).map_err(typed)?;
            Ok(events::route_check_run(p, a))
        }
        (event, action) => Ok(Effect::Ignored(format!("{event}/{} is not handled", action.unwrap_or("-")))),
    }
}

fn route_label(p: IssuesLabeledPayload, delivery_id: &str, settings: &IntakeSettings) -> Effect {
    let t = match LabelTarget::of(p, settings, LabelChange::Added) {
        Ok(t) => t,
        Err(why) => return Effect::Ignored(why),
    };
    Effect::Run(NewJob {
        installation_id: t.installation_id,
        repo: t.repo,
        issue_number: t.issue.number,
        issue_title: t.issue.title,
        trigger: TriggerKind::Label,
        trigger_comment_id: None,
        sender_login: t.sender.login,
        sender_id: t.sender.id,
        instructions: None,
        delivery_id: delivery_id.to_owned(),
        follow_up: None,
    })
}

#[derive(Clone, Copy)]
enum LabelChange {
    Added,
    Removed,
}

/// The issue the trigger label was added to or removed from, by a person,
/// in an App delivery.
struct LabelTarget {
    installation_id: InstallationId,
    repo: RepoRef,
    issue: payload::Issue,
    sender: User,
}

impl LabelTarget {
    /// The target, or why the event is ignored.
    fn of(p: IssuesLabeledPayload, settings: &IntakeSettings, change: LabelChange) -> Result<Self, String> {
        let (event, verb) = match change {
            LabelChange::Added => ("labeled", "added"),
            LabelChange::Removed => ("unlabeled", "removed"),
        };
        let ignored = |why: String| Err(why);
        let Some(label) = p.label else {
            return ignored(format!("{event} without a label"));
        };
        if !label.name.eq_ignore_ascii_case(&settings.trigger_label) {
            return ignored(format!("label {:?} is not the trigger label", label.name));
        }
        if p.sender.is_bot() {
            return ignored(format!("the label was {verb} by a bot"));
        }
        let Some(installation) = p.installation else {
            return ignored("no installation in the payload (not an App delivery)".into());
        };
        if p.issue.pull_request.is_some() {
            return ignored("the trigger label is for issues, not pull requests".into());
        }
        let Some(repo) = repo_ref(p.repository) else {
            return ignored("repository full_name is not owner/name".into());
        };
        Ok(LabelTarget { installation_id: installation.id, repo, issue: p.issue, sender: p.sender })
    }
}

/// A new comment, or an edited one with its previous text (`before`).
fn route_comment(p: IssueCommentPayload, before: Option<&str>, delivery_id: &str, settings: &IntakeSettings) -> Effect {
    if p.sender.is_bot() || p.comment.user.as_ref().is_some_and(User::is_bot) {
        return Effect::Ignored("the comment is by a bot".into());
    }
    let body = p.comment.body.unwrap_or_default();
    let Some(command) = parse_command(&body, &settings.command) else {
        return Effect::Ignored("no command in the comment".into());
    };
    if let Some(before) = before
        && parse_command(before, &settings.command).as_ref() == Some(&command)
    {
        return Effect::Ignored("the edit kept the command the comment already had".into());
    }
    let Some(installation) = p.installation else {
        return Effect::Ignored("no installation in the payload (not an App delivery)".into());
    };
    let on_pull_request = p.issue.pull_request.is_some();
    let Some(repo) = repo_ref(p.repository) else {
        return Effect::Ignored("repository full_name is not owner/name".into());
    };
    let action = match command {
        // On a pull request `/maxion <feedback>` continues it; whether Maxion
        // opened it is decided at admission, where the store is read.
        Command::Run { instructions: None } if on_pull_request => {
            return Effect::Ignored("`/maxion` on a pull request needs feedback".into());
        }
        Command::Run { .. } if on_pull_request => {
            // The whole comment is the feedback: review feedback often goes on
            // past the command's paragraph (code blocks, suggestions, lists).
            let instructions = Some(body.trim().to_owned());
            return Effect::Run(NewJob {
                installation_id: installation.id,
                repo,
                issue_number: p.issue.number,
                issue_title: p.issue.title,
                trigger: TriggerKind::FollowUp,
                trigger_comment_id: Some(p.comment.id),
                sender_login: p.sender.login,
                sender_id: p.sender.id,
                instructions,
                delivery_id: delivery_id.to_owned(),
                follow_up: Some(FollowUp { source: FeedbackSource::Comment, anchor: None }),
            });
        }
        Command::Run { instructions } => {
            return Effect::Run(NewJob {
                installation_id: installation.id,
                repo,
                issue_number: p.issue.number,
                issue_title: p.issue.title,
                trigger: TriggerKind::Comment,
                trigger_comment_id: Some(p.comment.id),
                sender_login: p.sender.login,
                sender_id: p.sender.id,
                instructions,
                delivery_id: delivery_id.to_owned(),
                follow_up: None,
            });
        }
        Command::Status => ControlAction::Status,
        Command::Cancel => ControlAction::Cancel,
        Command::Retry => ControlAction::Retry,
        Command::Help => ControlAction::Help,
        Command::NearMiss { word, suggestion } => ControlAction::NearMiss { word, suggestion: suggestion.to_owned() },
    };
    Effect::Control(ControlRequest {
        action,
        installation_id: installation.id,
        repo,
        issue_number: p.issue.number,
        issue_title: p.issue.title,
        comment_id: Some(p.comment.id),
        sender_login: p.sender.login,
        sender_id: p.sender.id,
    })
}

pub(crate) fn repo_ref(r: Repo) -> Option<RepoRef> {
    let (owner, name) = r.full_name.split_once('/')?;
    if owner.is_empty() || name.is_empty() || name.contains('/') {
        return None;
    }
    Some(RepoRef {
        id: r.id,
        full_name: r.full_name,
        clone_url: r.clone_url.unwrap_or_default(),
        default_branch: r.default_branch.unwrap_or_default(),
    })
}

impl From<payload::RepoBriefPayload> for RepoBrief {
    fn from(r: payload::RepoBriefPayload) -> Self {
        RepoBrief { id: r.id, full_name: r.full_name }
    }
}

#[cfg(test)]
mod tests;
