use serde_json::json;

use super::*;

fn settings() -> IntakeSettings {
    IntakeSettings { trigger_label: "maxion".into(), command: "/maxion".into() }
}

fn repo() -> serde_json::Value {
    json!({"id": 42, "full_name": "octo/demo", "clone_url": "https://github.com/octo/demo.git", "default_branch": "main"})
}

fn route_json(event: &str, body: serde_json::Value) -> Inbound {
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
    let Inbound::Run(job) = route_json("issues", labeled("MaXion", "User")) else { panic!("expected a run") };
    assert_eq!(job.installation_id, 9);
    assert_eq!(job.repo.full_name, "octo/demo");
    assert_eq!(job.repo.clone_url, "https://github.com/octo/demo.git");
    assert_eq!(job.issue_number, 7);
    assert_eq!(job.trigger, TriggerKind::Label);
    assert_eq!(job.sender_login, "alice");
    assert_eq!(job.delivery_id, "d-1");
}

#[test]
fn other_labels_and_bots_are_ignored() {
    assert!(matches!(route_json("issues", labeled("bug", "User")), Inbound::Ignored(_)));
    assert!(matches!(route_json("issues", labeled("maxion", "Bot")), Inbound::Ignored(_)));
}

#[test]
fn comment_command_runs_with_instructions() {
    let Inbound::Run(job) = route_json("issue_comment", comment("/maxion use the builder pattern")) else {
        panic!("expected a run")
    };
    assert_eq!(job.trigger, TriggerKind::Comment);
    assert_eq!(job.trigger_comment_id, Some(555));
    assert_eq!(job.instructions.as_deref(), Some("use the builder pattern"));
}

#[test]
fn control_commands_become_command_requests() {
    let Inbound::Command(req) = route_json("issue_comment", comment("/maxion status")) else { panic!() };
    assert_eq!(req.command, Command::Status);
    assert_eq!(req.comment_id, 555);
}

#[test]
fn comments_by_bots_never_trigger() {
    let mut body = comment("/maxion");
    body["sender"]["type"] = json!("Bot");
    body["comment"]["user"]["type"] = json!("Bot");
    assert!(matches!(route_json("issue_comment", body), Inbound::Ignored(_)));
    let mut body = comment("/maxion");
    body["sender"]["login"] = json!("maxion[bot]");
    assert!(matches!(route_json("issue_comment", body), Inbound::Ignored(_)));
}

#[test]
fn unknown_events_and_actions_are_ignored() {
    assert!(matches!(route_json("issues", json!({"action": "typed"})), Inbound::Ignored(_)));
    assert!(matches!(route_json("star", json!({"action": "created"})), Inbound::Ignored(_)));
    assert!(matches!(route_json("issue_comment", json!({"action": "deleted"})), Inbound::Ignored(_)));
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
    let Inbound::Installation(change) = route_json("installation", body) else { panic!() };
    assert_eq!(change.action, InstallationAction::Created);
    assert_eq!(change.account_login, "octo");
    assert_eq!(change.repos, vec![RepoBrief { id: 42, full_name: "octo/demo".into() }]);
}
