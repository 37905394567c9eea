use serde_json::json;

use super::*;
use crate::jobs::{CheckRunButton, CommentId, InstallationId, IssueNumber, RepoId};

fn settings() -> IntakeSettings {
    IntakeSettings { trigger_label: "maxion".into(), command: "/maxion".into() }
}

fn repo() -> serde_json::Value {
    json!({"id": 42, "full_name": "octo/demo", "clone_url": "https://github.com/octo/demo.git", "default_branch": "main"})
}

fn route_json(event: &str, body: serde_json::Value) -> Effect {
    let bytes = serde_json::to_vec(&body).expect("json");
    let action = peek_action(&bytes).expect("action");
    route(event, action.as_deref(), &bytes, "d-1", &settings()).expect("routes")
}

fn labeled(label: &str, sender_type: &str) -> serde_json::Value {
    json!({
        "action": "labeled",
        "label": {"name": label},
        "issue": {"number": 7, "title": "Add a flag"},
        "repository": repo(),
        "installation": {"id": 9},
        "sender": {"login": "alice", "id": 1, "type": sender_type},
    })
}

fn comment(body: &str) -> serde_json::Value {
    json!({
        "action": "created",
        "comment": {"id": 555, "body": body, "user": {"login": "alice", "id": 1, "type": "User"}},
        "issue": {"number": 7, "title": "Add a flag"},
        "repository": repo(),
        "installation": {"id": 9},
        "sender": {"login": "alice", "id": 1, "type": "User"},
    })
}

#[test]
fn trigger_label_starts_a_job_case_insensitively() {
    let Effect::Run(job) = route_json("issues", labeled("MaXion", "User")) else { panic!("expected a run") };
    assert_eq!(job.installation_id, InstallationId(9));
    assert_eq!(job.repo.full_name, "octo/demo");
    assert_eq!(job.repo.clone_url, "https://github.com/octo/demo.git");
    assert_eq!(job.issue_number, IssueNumber(7));
    assert_eq!(job.trigger, TriggerKind::Label);
    assert_eq!(job.sender_login, "alice");
    assert_eq!(job.delivery_id, "d-1");
}

#[test]
fn other_labels_and_bots_are_ignored() {
    assert!(matches!(route_json("issues", labeled("bug", "User")), Effect::Ignored(_)));
    assert!(matches!(route_json("issues", labeled("maxion", "Bot")), Effect::Ignored(_)));
}

#[test]
fn comment_command_runs_with_instructions() {
    let Effect::Run(job) = route_json("issue_comment", comment("/maxion use the builder pattern")) else {
        panic!("expected a run")
    };
    assert_eq!(job.trigger, TriggerKind::Comment);
    assert_eq!(job.trigger_comment_id, Some(CommentId(555)));
    assert_eq!(job.instructions.as_deref(), Some("use the builder pattern"));
}

#[test]
fn control_commands_become_control_requests() {
    let Effect::Control(req) = route_json("issue_comment", comment("/maxion status")) else { panic!() };
    assert_eq!(req.action, ControlAction::Status);
    assert_eq!(req.comment_id, Some(CommentId(555)));
    assert_eq!((req.issue_number, req.sender_login.as_str()), (IssueNumber(7), "alice"));
    let Effect::Control(req) = route_json("issue_comment", comment("/maxion cancle")) else { panic!() };
    assert_eq!(req.action, ControlAction::NearMiss { word: "cancle".into(), suggestion: "cancel".into() });
}

fn edited(body: &str, from: Option<&str>) -> serde_json::Value {
    let mut v = comment(body);
    v["action"] = json!("edited");
    if let Some(from) = from {
        v["changes"] = json!({"body": {"from": from}});
    }
    v
}

#[test]
fn edits_run_only_a_command_the_old_text_did_not_have() {
    // A typo fixed around an existing command: nothing.
    assert!(matches!(
        route_json("issue_comment", edited("/maxion add tests", Some("/maxion add tests"))),
        Effect::Ignored(_)
    ));
    assert!(matches!(
        route_json("issue_comment", edited("/maxion status\n\nthanks", Some("/maxion status"))),
        Effect::Ignored(_)
    ));
    // A command added by the edit, or changed: acted on.
    let Effect::Run(job) = route_json("issue_comment", edited("/maxion add tests", Some("please look"))) else {
        panic!("expected a run")
    };
    assert_eq!(job.instructions.as_deref(), Some("add tests"));
    let Effect::Control(req) = route_json("issue_comment", edited("/maxion cancel", Some("/maxion status"))) else {
        panic!("expected a control request")
    };
    assert_eq!(req.action, ControlAction::Cancel);
    // Changed instructions are a new run request.
    assert!(matches!(
        route_json("issue_comment", edited("/maxion use tabs", Some("/maxion use spaces"))),
        Effect::Run(_)
    ));
    // An edit without a previous body (title change of the issue, say) does nothing.
    assert!(matches!(route_json("issue_comment", edited("/maxion", None)), Effect::Ignored(_)));
}

#[test]
fn deleted_comments_do_nothing() {
    let mut v = comment("/maxion");
    v["action"] = json!("deleted");
    assert!(matches!(route_json("issue_comment", v), Effect::Ignored(_)));
}

#[test]
fn removing_the_trigger_label_is_a_control_request() {
    let mut v = labeled("Maxion", "User");
    v["action"] = json!("unlabeled");
    let Effect::Control(req) = route_json("issues", v.clone()) else { panic!("expected a control request") };
    assert_eq!(req.action, ControlAction::Unlabeled);
    assert_eq!((req.issue_number, req.comment_id), (IssueNumber(7), None));
    v["label"]["name"] = json!("bug");
    assert!(matches!(route_json("issues", v.clone()), Effect::Ignored(_)));
    v["label"]["name"] = json!("maxion");
    v["sender"]["type"] = json!("Bot");
    assert!(matches!(route_json("issues", v), Effect::Ignored(_)));
}

fn check_run(action: &str, identifier: Option<&str>, external_id: &str) -> serde_json::Value {
    let mut v = json!({
        "action": action,
        "check_run": {"id": 4, "name": "maxion", "external_id": external_id, "head_sha": "abc"},
        "repository": repo(),
        "installation": {"id": 9},
        "sender": {"login": "alice", "id": 1, "type": "User"},
    });
    if let Some(id) = identifier {
        v["requested_action"] = json!({"identifier": id});
    }
    v
}

#[test]
fn check_run_rerun_and_buttons_name_the_job() {
    let job = crate::jobs::JobId(31);
    let cases = [
        (check_run("rerequested", None, "31"), CheckRunButton::Retry),
        (check_run("requested_action", Some("retry"), "31"), CheckRunButton::Retry),
        (check_run("requested_action", Some("cancel"), "31"), CheckRunButton::Cancel),
    ];
    for (payload, expected) in cases {
        let Effect::CheckRun(req) = route_json("check_run", payload) else { panic!("expected a check-run request") };
        assert_eq!((req.job, req.button), (job, expected));
    }
    assert!(matches!(
        route_json("check_run", check_run("requested_action", Some("explode"), "31")),
        Effect::Ignored(_)
    ));
    assert!(matches!(route_json("check_run", check_run("rerequested", None, "not-a-job")), Effect::Ignored(_)));
    let mut other = check_run("rerequested", None, "31");
    other["check_run"]["name"] = json!("ci");
    assert!(matches!(route_json("check_run", other), Effect::Ignored(_)));
    assert!(matches!(route_json("check_run", check_run("created", None, "31")), Effect::Ignored(_)));
}

#[test]
fn comments_by_bots_never_trigger() {
    let mut body = comment("/maxion");
    body["sender"]["type"] = json!("Bot");
    body["comment"]["user"]["type"] = json!("Bot");
    assert!(matches!(route_json("issue_comment", body), Effect::Ignored(_)));
    let mut body = comment("/maxion");
    body["sender"]["login"] = json!("maxion[bot]");
    assert!(matches!(route_json("issue_comment", body), Effect::Ignored(_)));
}

#[test]
fn unknown_events_and_actions_are_ignored() {
    assert!(matches!(route_json("issues", json!({"action": "typed"})), Effect::Ignored(_)));
    assert!(matches!(route_json("star", json!({"action": "created"})), Effect::Ignored(_)));
}

#[test]
fn malformed_bodies_are_errors_not_panics() {
    assert!(peek_action(b"not json").is_err());
    assert!(peek_action(b"[1,2]").is_err());
    assert_eq!(peek_action(br#"{"action": 5}"#).expect("object"), None);
    let body = br#"{"action":"labeled","issue":"nope"}"#;
    assert!(matches!(route("issues", Some("labeled"), body, "d", &settings()), Err(ParseError::Shape { .. })));
}

#[test]
fn installation_events_are_typed() {
    let body = json!({
        "action": "created",
        "installation": {"id": 3, "account": {"login": "octo", "id": 10}},
        "repositories": [{"id": 42, "full_name": "octo/demo"}],
        "sender": {"login": "alice", "id": 1},
    });
    let Effect::Installation(change) = route_json("installation", body) else { panic!() };
    assert_eq!(change.action, InstallationAction::Created);
    assert_eq!(change.account_login, "octo");
    assert_eq!(change.repos, vec![RepoBrief { id: RepoId(42), full_name: "octo/demo".into() }]);
}

fn pr_comment(body: &str) -> serde_json::Value {
    let mut v = comment(body);
    v["issue"]["pull_request"] = json!({"url": "https://api.github.com/repos/octo/demo/pulls/7"});
    v
}

#[test]
fn feedback_on_a_pull_request_is_a_follow_up() {
    let body = "/maxion rename the flag to --dry-run\n\n```sh\ntool --dry-run\n```";
    let Effect::Run(job) = route_json("issue_comment", pr_comment(body)) else { panic!("expected a run") };
    assert_eq!(job.trigger, TriggerKind::FollowUp);
    assert_eq!(job.issue_number, IssueNumber(7));
    assert_eq!(job.trigger_comment_id, Some(CommentId(555)));
    assert_eq!(job.instructions.as_deref(), Some(body), "the whole comment is the feedback");
    assert_eq!(job.follow_up, Some(FollowUp { source: FeedbackSource::Comment, anchor: None }));
    // The same command on an issue is an ordinary run.
    let Effect::Run(job) = route_json("issue_comment", comment("/maxion rename the flag")) else { panic!() };
    assert_eq!((job.trigger, job.follow_up), (TriggerKind::Comment, None));
}

#[test]
fn a_pull_request_follow_up_needs_feedback_and_control_commands_still_work() {
    assert!(matches!(route_json("issue_comment", pr_comment("/maxion")), Effect::Ignored(_)));
    let Effect::Control(req) = route_json("issue_comment", pr_comment("/maxion status")) else { panic!() };
    assert_eq!((req.action, req.issue_number), (ControlAction::Status, IssueNumber(7)));
}

/// GitHub's own example of `event`'s `index`th payload, with `body` as the
/// feedback's text and an installation (the examples are not App deliveries).
fn github_example(event: &str, index: usize, text_at: &str, body: &str) -> serde_json::Value {
    let all: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/fixtures/webhook-examples.json")).expect("fixture");
    let examples = all.as_array().expect("list").iter().find(|e| e["name"] == event).expect("event");
    let mut v = examples["examples"][index].clone();
    v[text_at]["body"] = json!(body);
    v["installation"] = json!({"id": 9});
    v
}

#[test]
fn a_review_comment_is_a_follow_up_with_its_file_line_and_hunk() {
    let v = github_example("pull_request_review_comment", 1, "comment", "/maxion use an emoji here\n\nlike :tada:");
    let number = IssueNumber(v["pull_request"]["number"].as_u64().expect("number"));
    let Effect::Run(job) = route_json("pull_request_review_comment", v) else { panic!("expected a run") };
    assert_eq!((job.trigger, job.issue_number, job.trigger_comment_id), (TriggerKind::FollowUp, number, None));
    assert_eq!(job.instructions.as_deref(), Some("/maxion use an emoji here\n\nlike :tada:"));
    let follow_up = job.follow_up.expect("a follow-up");
    assert_eq!(follow_up.source, FeedbackSource::ReviewComment);
    let anchor = follow_up.anchor.expect("anchored");
    assert_eq!((anchor.path.as_str(), anchor.line), ("README.md", Some(265)));
    assert_eq!(anchor.diff_hunk.as_deref(), Some("@@ -1 +1 @@\n-# Hello-World"));
}

#[test]
fn a_review_body_is_a_follow_up() {
    let v = github_example("pull_request_review", 0, "review", "/maxion split this into two functions");
    let Effect::Run(job) = route_json("pull_request_review", v) else { panic!("expected a run") };
    assert_eq!(job.trigger, TriggerKind::FollowUp);
    assert_eq!(job.follow_up, Some(FollowUp { source: FeedbackSource::Review, anchor: None }));
    assert_eq!(job.instructions.as_deref(), Some("/maxion split this into two functions"));
}

#[test]
fn reviews_without_feedback_or_by_bots_or_with_other_commands_are_ignored() {
    for body in ["Looks good", "/maxion", "/maxion status", "> /maxion quoted"] {
        let v = github_example("pull_request_review", 0, "review", body);
        assert!(matches!(route_json("pull_request_review", v), Effect::Ignored(_)), "{body}");
    }
    let mut v = github_example("pull_request_review_comment", 1, "comment", "/maxion fix it");
    v["sender"]["type"] = json!("Bot");
    assert!(matches!(route_json("pull_request_review_comment", v), Effect::Ignored(_)));
    // Only new reviews and comments: edits and dismissals do nothing.
    let v = github_example("pull_request_review_comment", 4, "comment", "/maxion fix it");
    assert!(matches!(route_json("pull_request_review_comment", v), Effect::Ignored(_)));
    let v = github_example("pull_request_review", 1, "review", "/maxion fix it");
    assert!(matches!(route_json("pull_request_review", v), Effect::Ignored(_)));
}
