//! The follow-up part of the task section: the feedback on Maxion's pull
//! request, where it was given (for a review comment, the file, line and
//! diff hunk), and the branch the new commits go to.

use super::Limits;
use super::PullRequestState;
use super::assemble::{Item, code_span, one_line};
use crate::jobs::FeedbackSource;
use crate::pipeline::sanitize::sanitize_counted;

/// The items that open a follow-up's task section. `feedback` is already sanitized.
pub(super) fn items(pr: &PullRequestState, by: &str, feedback: Option<&str>, limits: &Limits) -> Vec<Item> {
    let mut items = Vec::new();
    let what = format!(
        "This pull request was opened by Maxion. The working copy is its branch {} at its latest commit; \
         change it as the feedback below asks. Your changes become new commits on the same pull request.\n",
        code_span(&one_line(&pr.head_branch)),
    );
    items.push(Item::text("### What to do\n\n".into(), &what, usize::MAX));
    let source = match pr.source {
        FeedbackSource::Comment => "a comment on the pull request",
        FeedbackSource::Review => "a review of the pull request",
        FeedbackSource::ReviewComment => "a review comment on a line of the diff",
    };
    let text = feedback.filter(|t| !t.trim().is_empty()).unwrap_or("_(No text.)_");
    items.push(Item::text(format!("### Feedback from @{} ({source})\n\n", one_line(by)), text, limits.comment_cap));
    if let Some(anchor) = &pr.anchor {
        let path = one_line(&sanitize_counted(&anchor.path).0);
        let place = match anchor.line {
            Some(line) => format!("{}, line {line}", code_span(&path)),
            None => code_span(&path),
        };
        let head = format!("### Where the comment is attached\n\n{place}, in this part of the diff:\n\n");
        let hunk = anchor.diff_hunk.as_deref().map(|h| sanitize_counted(h).0).unwrap_or_default();
        items.push(Item::fenced(head, &hunk, "diff", limits.comment_cap));
    }
    items
}
