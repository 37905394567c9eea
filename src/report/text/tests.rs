//! Snapshots of the status comment and the check run's output.

use super::*;

fn view(phase: Phase) -> StatusView {
    StatusView {
        job_id: JobId(17),
        job_url: "https://maxion.example/jobs/17".into(),
        phase,
        steps: vec![
            StepLine { name: "setup".into(), state: StepState::Passed, duration: Some(Duration::from_secs(12)) },
            StepLine { name: "implement".into(), state: StepState::Passed, duration: Some(Duration::from_secs(754)) },
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
    let mut v =
        view(Phase::Ended(JobEnd::Succeeded { pull_request: Some("https://github.com/acme/widgets/pull/9".into()) }));
    v.steps[2].state = StepState::Passed;
    insta::assert_snapshot!(status_comment(&v));
    insta::assert_snapshot!(check_summary(&v));
    assert_eq!(check_title(&v), "Pull request opened");
    assert_eq!(v.phase.conclusion(), Some(CheckConclusion::Success));
}

#[test]
fn failed_comment_shows_the_tail_and_how_to_retry() {
    let lines: Vec<String> = (1..=40).map(|i| format!("error[E0308]: line {i}")).collect();
    let v = view(Phase::Ended(JobEnd::Failed(Failure {
        reason: "the tests still fail after 2 fix rounds".into(),
        step: Some("verify".into()),
        last_lines: lines,
    })));
    let c = status_comment(&v);
    assert!(!c.contains("line 10\n") && c.contains("line 11\n") && c.contains("line 40\n"), "last 30 lines only");
    insta::assert_snapshot!(c);
    assert_eq!(v.phase.conclusion(), Some(CheckConclusion::Failure));
}

#[test]
fn output_with_backticks_cannot_break_out_of_the_block() {
    let lines = vec!["```".into(), "<!-- x -->".into()];
    let v = view(Phase::Ended(JobEnd::Failed(Failure { reason: "r".into(), step: None, last_lines: lines })));
    let text = check_text(&v).unwrap();
    assert!(text.starts_with("````text\n") && text.ends_with("\n````\n"), "{text}");
}

#[test]
fn nothing_to_change_is_neutral_and_marker_is_stable() {
    let v = view(Phase::Ended(JobEnd::Succeeded { pull_request: None }));
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
fn a_cancelled_job_shows_its_step_as_cancelled_and_a_deadline_as_timed_out() {
    let mut v = view(Phase::Ended(JobEnd::Cancelled { by: Some("alice".into()) }));
    v.steps[2].state = StepState::Cancelled;
    insta::assert_snapshot!(steps_table(&v.steps), @r"
    | Step | State | Duration |
    |---|---|---|
    | `setup` | ✅ passed | 12 s |
    | `implement` | ✅ passed | 12 min 34 s |
    | `verify` | 🚫 cancelled | 1 h 01 min |
    ");
    insta::assert_snapshot!(headline(&v), @"🚫 **Maxion cancelled this job**: requested by @alice");
    v.steps[2].state = StepState::TimedOut;
    assert!(steps_table(&v.steps).contains("| `verify` | ⌛ timed out | 1 h 01 min |"));
}

#[test]
fn the_stored_reason_of_each_end() {
    let reasons: Vec<_> = [
        JobEnd::Succeeded { pull_request: None },
        JobEnd::failed("the agent (custom) exited with code 2", Some("agent")),
        JobEnd::Cancelled { by: Some("alice".into()) },
        JobEnd::Cancelled { by: None },
        JobEnd::TimedOut { after: Duration::from_secs(1800) },
    ]
    .iter()
    .map(|e| format!("{:?}: {}", e.state(), end_reason(e).unwrap_or_else(|| "-".into())))
    .collect();
    insta::assert_snapshot!(reasons.join("\n"), @r"
    Succeeded: -
    Failed: the agent (custom) exited with code 2
    Cancelled: requested by @alice
    Cancelled: cancelled
    TimedOut: job deadline of 1800 s passed
    ");
}

#[test]
fn durations() {
    assert_eq!(duration(Duration::from_secs(42)), "42 s");
    assert_eq!(duration(Duration::from_secs(185)), "3 min 05 s");
    assert_eq!(duration(Duration::from_secs(3720)), "1 h 02 min");
}
