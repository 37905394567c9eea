//! End-to-end harness: the fake GitHub (with git over HTTP) plus the real
//! service started against it, running jobs in real Docker sandboxes with the
//! scripted test agent (`docker/test-agent/agent.py` in the test image).

use std::time::Duration;

use maxion::config::{RawSettings, Settings};
use maxion::jobs::{IssueNumber, Job, JobId, JobState};
use maxion::service::{self, Running};

use super::fake_github::{FakeGitHub, InstallationId, RepoId, UserType};
use super::service::{WEBHOOK_SECRET, sign, test_settings};

/// The scripted agent as a custom profile.
pub const AGENT_COMMAND: &str = "python3 /opt/maxion/test-agent/agent.py";

pub struct E2e {
    pub gh: FakeGitHub,
    pub inst: InstallationId,
    pub repo: RepoId,
    pub running: Option<Running>,
    pub url: String,
    pub client: reqwest::Client,
    pub image: String,
    pub dir: tempfile::TempDir,
}

/// The test image, or `None` after printing why the test is skipped
/// (a failure under `CI=true`).
pub async fn image_or_skip() -> Option<String> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let why = match (maxion::sandbox::connect().await, super::docker::test_image()) {
        (Err(e), _) => format!("no Docker Engine: {e}"),
        (Ok(_), None) => "no test image (run docker/build-test-image.sh)".to_owned(),
        (Ok(_), Some(tag)) => return Some(tag),
    };
    assert!(!ci, "CI=true and the end-to-end tests cannot run: {why}");
    eprintln!("SKIPPED (end-to-end needs Docker and the test image): {why}");
    None
}

impl E2e {
    /// Fake GitHub with `acme/widgets` (user `alice` has write access), and
    /// the service pointed at it with `tweak` applied to the settings.
    pub async fn start(tweak: impl FnOnce(&mut RawSettings)) -> Option<E2e> {
        let image = image_or_skip().await?;
        let gh = FakeGitHub::start().await;
        let inst = gh.add_installation("acme");
        let repo = gh.add_repo(inst, "acme/widgets");
        // Served over git from the start, as on GitHub: the API's branch heads
        // are then real commits, the ones a job pins its working copy to.
        gh.git_dir(repo);
        gh.add_user("alice", UserType::User);
        gh.set_permission(repo, "alice", "write");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut e2e =
            E2e { gh, inst, repo, running: None, url: String::new(), client: reqwest::Client::new(), image, dir };
        e2e.boot(tweak).await;
        Some(e2e)
    }

    pub fn settings(&self) -> RawSettings {
        let mut raw = test_settings(self.dir.path());
        raw.github_app_id = Some(self.gh.app_id().to_string());
        raw.github_app_private_key = Some(self.gh.private_key_pem().to_owned());
        raw.github_api_url = Some(self.gh.url().to_owned());
        raw.maxion_workers = Some("1".into());
        raw.maxion_sandbox_image = Some(self.image.clone());
        raw.maxion_agent = Some("custom".into());
        raw.maxion_agent_command = Some(AGENT_COMMAND.into());
        raw.maxion_verify_commands = Some("test -f ok.txt".into());
        raw.maxion_shutdown_grace = Some("5".into());
        raw
    }

    /// (Re)starts the service on the same database and data dir.
    pub async fn boot(&mut self, tweak: impl FnOnce(&mut RawSettings)) {
        let mut raw = self.settings();
        tweak(&mut raw);
        let settings = Settings::from_raw(raw, None).expect("valid e2e settings");
        let running = service::start(settings).await.expect("service starts");
        self.url = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    pub fn store(&self) -> &maxion::jobs::Store {
        &self.running.as_ref().expect("running").store
    }

    /// Opens an issue with the agent's script and delivers its `labeled` event.
    pub async fn label_issue(&self, title: &str, script: &str) -> u64 {
        let body = format!("Please do this.\n\n```maxion-test\n{script}\n```\n");
        let number = self.gh.add_issue(self.repo, title, &body, &["maxion"]);
        let payload = serde_json::json!({
            "action": "labeled",
            "label": {"id": 1, "name": "maxion", "color": "ededed"},
            "issue": {"number": number, "title": title, "body": body, "state": "open",
                      "user": {"login": "alice", "id": 1, "type": "User"}},
            "repository": {"id": self.repo.0, "name": "widgets", "full_name": "acme/widgets", "private": true,
                           "clone_url": self.gh.clone_url(self.repo), "default_branch": "main"},
            "installation": {"id": self.inst.0},
            "sender": {"login": "alice", "id": 1, "type": "User"}
        });
        let bytes = serde_json::to_vec(&payload).expect("json");
        let resp = self
            .client
            .post(format!("{}/webhook", self.url))
            .header("content-type", "application/json")
            .header("x-github-event", "issues")
            .header("x-github-delivery", format!("e2e-{number}"))
            .header("x-hub-signature-256", sign(WEBHOOK_SECRET, &bytes))
            .body(bytes)
            .send()
            .await
            .expect("webhook delivered");
        assert!(resp.status().is_success(), "webhook answered {}", resp.status());
        number
    }

    /// `alice` comments `body` on the issue (the comment exists on the fake too).
    pub async fn comment(&self, issue: u64, body: &str) {
        self.send_comment(issue, body, false).await;
    }

    /// `alice` comments `body` on pull request `pull` (the conversation tab).
    pub async fn pr_comment(&self, pull: u64, body: &str) {
        self.send_comment(pull, body, true).await;
    }

    async fn send_comment(&self, issue: u64, body: &str, on_pull_request: bool) {
        let comment_id = self.gh.add_comment(self.repo, issue, "alice", body);
        let mut payload = serde_json::json!({
            "action": "created",
            "comment": {"id": comment_id, "body": body, "user": {"login": "alice", "id": 1, "type": "User"}},
            "issue": {"number": issue, "title": "t", "state": "open"},
            "repository": {"id": self.repo.0, "name": "widgets", "full_name": "acme/widgets", "private": true,
                           "clone_url": self.gh.clone_url(self.repo), "default_branch": "main"},
            "installation": {"id": self.inst.0},
            "sender": {"login": "alice", "id": 1, "type": "User"}
        });
        if on_pull_request {
            payload["issue"]["pull_request"] =
                serde_json::json!({"url": format!("{}/repos/acme/widgets/pulls/{issue}", self.gh.url())});
        }
        self.deliver("issue_comment", &format!("e2e-comment-{comment_id}"), &payload).await;
    }

    /// `alice` comments `body` on `path` at `line` of pull request `pull`'s diff.
    pub async fn review_comment(&self, pull: u64, path: &str, line: i64, diff_hunk: &str, body: &str) {
        let id = self.gh.add_review_comment(self.repo, pull, "alice", body);
        let payload = serde_json::json!({
            "action": "created",
            "comment": {"id": id, "body": body, "path": path, "line": line, "original_line": line,
                        "diff_hunk": diff_hunk, "user": {"login": "alice", "id": 1, "type": "User"}},
            "pull_request": {"number": pull, "title": "t", "state": "open"},
            "repository": {"id": self.repo.0, "name": "widgets", "full_name": "acme/widgets", "private": true,
                           "clone_url": self.gh.clone_url(self.repo), "default_branch": "main"},
            "installation": {"id": self.inst.0},
            "sender": {"login": "alice", "id": 1, "type": "User"}
        });
        self.deliver("pull_request_review_comment", &format!("e2e-review-comment-{id}"), &payload).await;
    }

    async fn deliver(&self, event: &str, delivery: &str, payload: &serde_json::Value) {
        let bytes = serde_json::to_vec(payload).expect("json");
        let resp = self
            .client
            .post(format!("{}/webhook", self.url))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .header("x-hub-signature-256", sign(WEBHOOK_SECRET, &bytes))
            .body(bytes)
            .send()
            .await
            .expect("webhook delivered");
        assert!(resp.status().is_success(), "webhook answered {}", resp.status());
    }

    /// The job for an issue, once it exists.
    pub async fn job_for(&self, issue: u64) -> Job {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let jobs = self.store().list_jobs(1, 100).await.expect("list jobs");
            if let Some(j) = jobs.into_iter().find(|j| j.spec.issue_number == IssueNumber(issue)) {
                return j;
            }
            assert!(tokio::time::Instant::now() < deadline, "no job for issue #{issue}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to `limit`) until the job is in a terminal state.
    pub async fn wait_terminal(&self, id: JobId, limit: Duration) -> Job {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let job = self.store().get_job(id).await.expect("get job").expect("job exists");
            if job.state.is_terminal() {
                return job;
            }
            assert!(tokio::time::Instant::now() < deadline, "job {id} still {} after {limit:?}", job.state);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the job reaches `state`.
    pub async fn wait_state(&self, id: JobId, state: JobState, limit: Duration) -> Job {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let job = self.store().get_job(id).await.expect("get job").expect("job exists");
            if job.state == state {
                return job;
            }
            assert!(tokio::time::Instant::now() < deadline, "job {id} is {} not {state} after {limit:?}", job.state);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET` on the service's API with the test token: (status, JSON body).
    pub async fn api(&self, path: &str) -> (u16, serde_json::Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(super::service::API_TOKEN)
            .send()
            .await
            .expect("api request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// The API's view of one job (with its brief).
    pub async fn api_job(&self, id: JobId) -> serde_json::Value {
        let (status, body) = self.api(&format!("/api/jobs/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("clean stop");
        }
    }
}
