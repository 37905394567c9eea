//! Jobs below the service: a fresh SQLite store, and a job as intake
//! records one, for the tests of the store, the worker pool and the reporter.

use maxion::jobs::{InstallationId, IssueNumber, NewJob, RepoId, RepoRef, Store, TriggerKind};
use secrecy::SecretString;

/// A fresh SQLite store in its own temp dir (the store lives as long as the dir).
pub async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = SecretString::from(format!("sqlite://{}", dir.path().join("t.db").display()));
    (Store::open(&url).await.expect("sqlite store"), dir)
}

/// The job a `labeled` delivery `delivery` on issue `issue` of `octo/demo` records.
pub fn new_job(issue: u64, delivery: &str) -> NewJob {
    NewJob {
        installation_id: InstallationId(1),
        repo: RepoRef {
            id: RepoId(10),
            full_name: "octo/demo".into(),
            clone_url: "https://example.test/octo/demo.git".into(),
            default_branch: "main".into(),
        },
        issue_number: IssueNumber(issue),
        issue_title: format!("issue {issue}"),
        trigger: TriggerKind::Label,
        trigger_comment_id: None,
        sender_login: "alice".into(),
        sender_id: 1,
        instructions: None,
        delivery_id: delivery.into(),
        follow_up: None,
    }
}
