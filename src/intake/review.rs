//! Feedback given in a pull request review: `/maxion <feedback>` in a
//! review's body or in a review comment on a line of the diff starts a
//! follow-up job, exactly as in the pull request's conversation; whether
//! Maxion opened the pull request is decided at admission.

use super::payload::{PullRequestRef, PullRequestReviewPayload, Repo, ReviewCommentPayload, User};
use super::{Command, Effect, IntakeSettings, parse_command, repo_ref};
use crate::jobs::{FeedbackSource, FollowUp, NewJob, ReviewAnchor, TriggerKind};

/// `pull_request_review` / `submitted`.
pub(super) fn route_review(p: PullRequestReviewPayload, delivery_id: &str, settings: &IntakeSettings) -> Effect {
    let author = p.review.user.as_ref();
    let feedback = Feedback { body: p.review.body.unwrap_or_default(), author, sender: p.sender };
    let follow_up = FollowUp { source: FeedbackSource::Review, anchor: None };
    route(feedback, follow_up, p.pull_request, p.repository, p.installation.map(|i| i.id), delivery_id, settings)
}

/// `pull_request_review_comment` / `created`.
pub(super) fn route_review_comment(p: ReviewCommentPayload, delivery_id: &str, settings: &IntakeSettings) -> Effect {
    let c = p.comment;
    let anchor = ReviewAnchor { path: c.path, line: c.line.or(c.original_line), diff_hunk: c.diff_hunk };
    let follow_up = FollowUp { source: FeedbackSource::ReviewComment, anchor: Some(anchor) };
    let feedback = Feedback { body: c.body.unwrap_or_default(), author: c.user.as_ref(), sender: p.sender };
    route(feedback, follow_up, p.pull_request, p.repository, p.installation.map(|i| i.id), delivery_id, settings)
}

struct Feedback<'a> {
    body: String,
    author: Option<&'a User>,
    sender: User,
}

fn route(
    feedback: Feedback<'_>,
    follow_up: FollowUp,
    pull: PullRequestRef,
    repository: Repo,
    installation: Option<crate::github::InstallationId>,
    delivery_id: &str,
    settings: &IntakeSettings,
) -> Effect {
    if feedback.sender.is_bot() || feedback.author.is_some_and(User::is_bot) {
        return Effect::Ignored("the review is by a bot".into());
    }
    match parse_command(&feedback.body, &settings.command) {
        None => return Effect::Ignored("no command in the review".into()),
        Some(Command::Run { instructions: Some(_) }) => {}
        Some(Command::Run { instructions: None }) => {
            return Effect::Ignored("`/maxion` on a pull request needs feedback".into());
        }
        // Replies go to the conversation; commands other than feedback are
        // asked there, where their answer appears.
        Some(_) => {
            return Effect::Ignored("only feedback is taken from reviews; other commands go in a comment".into());
        }
    }
    let Some(installation_id) = installation else {
        return Effect::Ignored("no installation in the payload (not an App delivery)".into());
    };
    let Some(repo) = repo_ref(repository) else {
        return Effect::Ignored("repository full_name is not owner/name".into());
    };
    Effect::Run(NewJob {
        installation_id,
        repo,
        issue_number: pull.number,
        issue_title: pull.title,
        trigger: TriggerKind::FollowUp,
        // Reviews and review comments are not issue comments: no `eyes` on them.
        trigger_comment_id: None,
        sender_login: feedback.sender.login,
        sender_id: feedback.sender.id,
        // The whole text is the feedback, as for a comment on the pull request.
        instructions: Some(feedback.body.trim().to_owned()),
        delivery_id: delivery_id.to_owned(),
        follow_up: Some(follow_up),
    })
}
