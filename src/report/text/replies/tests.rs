use std::time::Duration;

use super::*;

fn summary(state: JobState) -> JobSummary {
    JobSummary {
        job_id: JobId(17),
        job_url: "https://maxion.example/jobs/17".into(),
        state,
        step: None,
        elapsed: None,
        position: None,
        wait: None,
        error: None,
    }
}

fn queued(position: i64, wait: Option<Duration>) -> JobSummary {
    JobSummary { position: Some(position), wait, ..summary(JobState::Queued) }
}

fn running() -> JobSummary {
    JobSummary { step: Some("verify".into()), elapsed: Some(Duration::from_secs(185)), ..summary(JobState::Running) }
}

fn failed() -> JobSummary {
    JobSummary {
        elapsed: Some(Duration::from_secs(754)),
        error: Some("the agent (pi) exited with code 1".into()),
        ..summary(JobState::Failed)
    }
}

#[test]
fn status_replies() {
    insta::assert_snapshot!("status_none", status_reply(None, "/maxion"));
    insta::assert_snapshot!("status_received", status_reply(Some(&summary(JobState::Received)), "/maxion"));
    insta::assert_snapshot!(
        "status_queued",
        status_reply(Some(&queued(3, Some(Duration::from_secs(1230)))), "/maxion")
    );
    insta::assert_snapshot!("status_queued_no_estimate", status_reply(Some(&queued(1, None)), "/maxion"));
    insta::assert_snapshot!("status_queued_next", status_reply(Some(&queued(1, Some(Duration::ZERO))), "/maxion"));
    insta::assert_snapshot!("status_running", status_reply(Some(&running()), "/maxion"));
    insta::assert_snapshot!("status_failed", status_reply(Some(&failed()), "/maxion"));
    let ok = JobSummary { elapsed: Some(Duration::from_secs(60)), ..summary(JobState::Succeeded) };
    insta::assert_snapshot!("status_succeeded", status_reply(Some(&ok), "/bot"));
}

#[test]
fn refusals_name_the_permission() {
    insta::assert_snapshot!("refused_start", refused("mallory", Guarded::Start, "write", "read"));
    insta::assert_snapshot!("refused_retry", refused("mallory", Guarded::Retry, "maintain", "write"));
    insta::assert_snapshot!("refused_cancel", refused("mallory", Guarded::Cancel, "admin", "none"));
}

#[test]
fn follow_up_on_a_foreign_pull_request_is_refused() {
    insta::assert_snapshot!("not_maxions_pull_request", not_maxions_pull_request("alice", "/maxion"));
}

#[test]
fn cancel_and_retry_replies() {
    insta::assert_snapshot!("cancel_queued", cancelling(&queued(2, None), "alice"));
    insta::assert_snapshot!("cancel_running", cancelling(&running(), "alice"));
    insta::assert_snapshot!("nothing_to_cancel", nothing_to_cancel(None));
    insta::assert_snapshot!("nothing_to_cancel_after_a_job", nothing_to_cancel(Some(&failed())));
    insta::assert_snapshot!("retry_while_active", retry_while_active(&running(), "/maxion"));
    insta::assert_snapshot!("nothing_to_retry", nothing_to_retry("/maxion"));
    insta::assert_snapshot!("already_active", already_active(&queued(2, Some(Duration::from_secs(300))), "/maxion"));
    assert_eq!(cancelled_by("alice"), "requested by @alice");
}

#[test]
fn help_lists_every_command_and_the_settings() {
    let v = HelpView {
        command: "/maxion".into(),
        trigger_label: "maxion".into(),
        required_permission: "write".into(),
        commands: crate::intake::command::CONTROL_COMMANDS.iter().map(|c| (c.name, c.help)).collect(),
        config: "**Configuration** (rendered by `effective_config`)\n".into(),
    };
    let text = help(&v);
    for c in crate::intake::command::CONTROL_COMMANDS {
        assert!(text.contains(&format!("`/maxion {}`", c.name)) && text.contains(c.help), "{} missing", c.name);
    }
    insta::assert_snapshot!("help", text);
}

#[test]
fn near_miss_suggests_the_command() {
    insta::assert_snapshot!("near_miss", near_miss("/maxion", "cancle", "cancel"));
}

#[test]
fn replies_carry_their_marker() {
    assert_eq!(reply_marker(5), "<!-- maxion:reply:5 -->");
    assert!(reply(5, "hi").starts_with("<!-- maxion:reply:5 -->\n"));
}
