//! The pages' HTML (maud escapes every interpolated string). Words come from
//! `report::text::web`.

use std::time::Duration;

use maud::{DOCTYPE, Markup, html};

use super::ansi;
use super::log::{StepBlock, group};
use crate::jobs::{Job, JobState, StoredEvent};
use crate::report::text::web as text;

/// The header's part that depends on who is looking.
#[derive(Default)]
pub struct Chrome {
    pub csrf: Option<String>,
    /// `@login` for a signed-in user.
    pub who: Option<String>,
}

impl Chrome {
    pub fn of(viewer: &super::Viewer, state: &super::WebState) -> Chrome {
        let who = match viewer {
            super::Viewer::User(u) => Some(text::signed_in_as(&u.login)),
            super::Viewer::Operator => None,
        };
        Chrome { csrf: viewer.csrf(state), who }
    }
}

pub(super) fn layout(title: &str, chrome: &Chrome, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (text::page_title(title)) }
                link rel="stylesheet" href="/assets/style.css";
            }
            body {
                header.top {
                    a.brand href="/" { (text::PRODUCT) }
                    a href="/jobs" { (text::JOBS) }
                    @if let Some(who) = &chrome.who { span.who { (who) } }
                    @if let Some(csrf) = &chrome.csrf {
                        form.signout method="post" action="/signout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { (text::SIGN_OUT) }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn message_page(message: &str) -> Markup {
    layout(text::PRODUCT, &Chrome::default(), html! { p.message { (message) } })
}

pub fn sign_in(next: &str, note: Option<&str>, github: bool) -> Markup {
    layout(
        text::SIGN_IN_TITLE,
        &Chrome::default(),
        html! {
            h1 { (text::SIGN_IN_TITLE) }
            @if let Some(note) = note { p.error { (note) } }
            @if github {
                p { a.button #github-signin href={ "/auth/github?next=" (super::auth::encode(next)) } { (text::SIGN_IN_WITH_GITHUB) } }
                h2 { (text::SIGN_IN_OPERATOR) }
            }
            p { (text::SIGN_IN_TOKEN_HELP) }
            form method="post" action="/signin" {
                input type="hidden" name="next" value=(next);
                label { (text::SIGN_IN_TOKEN_LABEL) " " input type="password" name="token" autocomplete="current-password" required; }
                button type="submit" { (text::SIGN_IN_BUTTON) }
            }
        },
    )
}

pub struct ListView {
    pub jobs: Vec<Job>,
    pub total: i64,
    pub page: u32,
    pub per_page: u32,
    pub repo: Option<String>,
    pub state: Option<JobState>,
}

impl ListView {
    fn link(&self, page: u32) -> String {
        let mut q = vec![format!("page={page}")];
        if let Some(r) = &self.repo {
            q.push(format!("repo={}", r.replace(['&', '#', '?', ' '], "")));
        }
        if let Some(s) = self.state {
            q.push(format!("state={s}"));
        }
        format!("/jobs?{}", q.join("&"))
    }
}

pub fn job_list(view: &ListView, chrome: &Chrome) -> Markup {
    let pages = (view.total.max(0) as u64).div_ceil(u64::from(view.per_page)).max(1) as u32;
    layout(
        text::JOBS,
        chrome,
        html! {
            h1 { (text::JOBS) }
            form.filter method="get" action="/jobs" {
                input type="text" name="repo" placeholder=(text::REPOSITORY_PLACEHOLDER) value=[view.repo.as_deref()];
                select name="state" {
                    option value="" { (text::ANY_STATE) }
                    @for s in JobState::ALL {
                        option value=(s.as_str()) selected[view.state == Some(s)] { (s.as_str()) }
                    }
                }
                button type="submit" { (text::FILTER) }
            }
            @if view.jobs.is_empty() {
                p { (text::NO_JOBS) }
            } @else {
                table.jobs {
                    tbody {
                        @for job in &view.jobs {
                            tr.(job.state.as_str()) {
                                td { a href={ "/jobs/" (job.id) } { "#" (job.id) } }
                                td { (job.spec.repo.full_name) "#" (job.spec.issue_number) }
                                td { (job.spec.issue_title) }
                                td.state { (text::state_line(job.state, job.step.as_deref(), None)) }
                                td { time datetime=(job.created_at.to_rfc3339()) { (job.created_at.format("%Y-%m-%d %H:%M UTC")) } }
                            }
                        }
                    }
                }
            }
            nav.pages {
                @if view.page > 1 { a href=(view.link(view.page - 1)) { (text::NEWER) } }
                " " (view.page) " / " (pages) " "
                @if view.page < pages { a href=(view.link(view.page + 1)) { (text::OLDER) } }
            }
        },
    )
}

pub struct JobView {
    pub job: Job,
    pub brief: Option<String>,
    pub events: Vec<StoredEvent>,
    pub truncated: bool,
    /// GitHub's web address (issue and PR links).
    pub web_url: String,
    /// Cancel and Retry are offered.
    pub can_act: bool,
}

pub fn job_page(view: &JobView, chrome: &Chrome) -> Markup {
    let job = &view.job;
    let repo = &job.spec.repo.full_name;
    let blocks = group(&view.events);
    let after = view.events.last().map_or(0, |e| e.id);
    let next_line = blocks.iter().map(|b| b.lines.len()).sum::<usize>() + 1;
    let active = job.state.is_active();
    let failed_at = blocks.iter().rposition(|b| b.ok == Some(false));
    let title = text::job_title(job.id.0, repo, job.spec.issue_number);
    layout(
        &title,
        chrome,
        html! {
            div #job data-job=(job.id) data-after=(after) data-next-line=(next_line) data-active=(if active { "1" } else { "0" }) {
                h1 { (title) }
                p.issue {
                    a href={ (view.web_url) "/" (repo) "/issues/" (job.spec.issue_number) } { (repo) "#" (job.spec.issue_number) }
                    " " (job.spec.issue_title)
                }
                p.trigger { (text::trigger(job.spec.trigger, &job.spec.sender_login)) }
                p.state.(job.state.as_str()) #state {
                    (text::state_line(job.state, job.step.as_deref(), job.error.as_deref()))
                    @if active { " " span.live { (text::LIVE) } }
                }
                @if let Some(pr) = job.pr_number {
                    p.pr { a href={ (view.web_url) "/" (repo) "/pull/" (pr) } { (text::pull_request(pr)) } }
                }
                @if let (true, Some(csrf)) = (view.can_act, &chrome.csrf) {
                    div.actions {
                        @if active {
                            form method="post" action={ "/jobs/" (job.id) "/cancel" } {
                                input type="hidden" name="csrf" value=(csrf);
                                button #cancel type="submit" { (text::CANCEL) }
                            }
                        } @else {
                            form method="post" action={ "/jobs/" (job.id) "/retry" } {
                                input type="hidden" name="csrf" value=(csrf);
                                button #retry type="submit" { (text::RETRY) }
                            }
                        }
                    }
                }
                h2 { (text::STEPS) }
                (timeline(&blocks))
                h2 { (text::VERIFICATION) }
                (verification(&blocks))
                p.usage { (text::USAGE) }
                h2 { (text::LOG) }
                div.logbar {
                    input #search type="search" placeholder=(text::SEARCH_PLACEHOLDER);
                    " " a href={ "/jobs/" (job.id) "/log.txt" } { (text::RAW_LOG) }
                }
                div #log {
                    @for (i, block) in blocks.iter().enumerate() {
                        (step_block(block, Some(i) == failed_at || (active && i + 1 == blocks.len())))
                    }
                }
                @if view.truncated { p.note { a href={ "/jobs/" (job.id) "/log.txt" } { (text::RAW_LOG) } } }
                details.brief {
                    summary { (text::BRIEF) }
                    @match &view.brief {
                        Some(b) => pre { (crate::masker::global().mask(b)) },
                        None => p { (text::NO_BRIEF) },
                    }
                }
            }
            script src="/assets/job.js" {}
        },
    )
}

fn step_summary(b: &StepBlock) -> String {
    let mut s = format!("{} — {}", b.name, text::step_result(b.ok, b.exit_code, b.stopped));
    if let Some(ms) = b.duration_ms {
        s.push_str(&format!(" · {}", text::duration(Duration::from_millis(ms))));
    }
    s
}

fn timeline(blocks: &[StepBlock]) -> Markup {
    html! {
        ol.timeline #timeline {
            @for b in blocks.iter().filter(|b| b.name != "job") {
                li.(result_class(b)) { (step_summary(b)) }
            }
        }
    }
}

fn result_class(b: &StepBlock) -> &'static str {
    match b.ok {
        None => "running",
        Some(true) => "passed",
        Some(false) => "failed",
    }
}

fn verification(blocks: &[StepBlock]) -> Markup {
    let mut round = 0;
    let mut rows = Vec::new();
    for b in blocks {
        if let Some(n) = b.name.strip_prefix("fix ") {
            round = n.parse().unwrap_or(round + 1);
        } else if b.name == "verify" {
            rows.push((text::verification_row(round), b));
        }
    }
    html! {
        @if rows.is_empty() {
            p { (text::NO_VERIFICATION) }
        } @else {
            table.verification {
                tbody {
                    @for (label, b) in &rows {
                        tr.(result_class(b)) {
                            td { (label) }
                            td { (text::step_result(b.ok, b.exit_code, b.stopped)) }
                            td { (b.duration_ms.map(|ms| text::duration(Duration::from_millis(ms))).unwrap_or_default()) }
                            td { a href={ "#L" (b.lines.first().map_or(0, |l| l.number)) } { (text::LOG) } }
                        }
                    }
                }
            }
        }
    }
}

fn step_block(b: &StepBlock, open: bool) -> Markup {
    let mut style = ansi::Style::default();
    html! {
        details.step.(result_class(b)) data-step=(b.name) open[open] {
            summary { (step_summary(b)) }
            div.lines {
                @for l in &b.lines {
                    div.l.(l.kind.class()) id={ "L" (l.number) } {
                        a.n href={ "#L" (l.number) } { (l.number) }
                        span.t {
                            @for (s, t) in ansi::segments(&l.text, &mut style) {
                                @if s.is_plain() { (t) } @else { span class=(s.classes()) { (t) } }
                            }
                        }
                    }
                }
            }
        }
    }
}
