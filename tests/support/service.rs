//! Runs the real service in-process on an ephemeral port with a throw-away
//! SQLite file (or a given database), and talks to it over HTTP the way
//! GitHub and API users do: signed webhook deliveries and bearer-token calls.

use hmac::{Hmac, Mac};
use maxion::config::{RawSettings, Settings};
use maxion::service::{self, Running};
use sha2::Sha256;

pub const WEBHOOK_SECRET: &str = "integration-webhook-secret";
pub const API_TOKEN: &str = "integration-api-token-0123456789";
pub const TEST_KEY: &str = include_str!("../fixtures/service-test-key.pem");

pub struct TestService {
    pub url: String,
    pub running: Option<Running>,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Settings for a test instance: App configured, port 0, a temp SQLite file.
pub fn test_settings(dir: &std::path::Path) -> RawSettings {
    RawSettings {
        github_app_id: Some("12345".into()),
        github_app_private_key: Some(TEST_KEY.into()),
        github_webhook_secret: Some(WEBHOOK_SECRET.into()),
        database_url: Some(format!("sqlite://{}", dir.join("maxion.db").display())),
        maxion_listen: Some("127.0.0.1:0".into()),
        maxion_api_token: Some(API_TOKEN.into()),
        maxion_data_dir: Some(dir.join("data").display().to_string()),
        // Intake only: these tests look at recorded jobs, not at running them.
        maxion_workers: Some("0".into()),
        // Nothing leaves the machine: the control loop's GitHub calls are
        // refused here (tests of the control loop point this at the fake).
        github_api_url: Some("http://127.0.0.1:9".into()),
        // Looking for missed deliveries is tested on its own (`redelivery`).
        maxion_redelivery_interval: Some("0".into()),
        ..Default::default()
    }
}

impl TestService {
    pub async fn start() -> TestService {
        Self::start_with(|_| {}).await
    }

    /// Starts with test settings adjusted by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut RawSettings)) -> TestService {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut raw = test_settings(dir.path());
        tweak(&mut raw);
        let settings = Settings::from_raw(raw, None).expect("valid test settings");
        let running = service::start(settings).await.expect("service starts");
        TestService {
            url: format!("http://{}", running.addr),
            running: Some(running),
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn store(&self) -> &maxion::jobs::Store {
        &self.running.as_ref().expect("running").store
    }

    /// Sends a delivery signed with the test secret.
    pub async fn deliver(&self, event: &str, delivery: &str, body: &[u8]) -> (u16, serde_json::Value) {
        let signature = sign(WEBHOOK_SECRET, body);
        self.deliver_with(event, delivery, Some(&signature), body).await
    }

    /// Sends a delivery with an explicit (possibly wrong or absent) signature.
    pub async fn deliver_with(
        &self,
        event: &str,
        delivery: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .client
            .post(format!("{}/webhook", self.url))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", delivery)
            .body(body.to_vec());
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let response = request.send().await.expect("webhook request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
    }

    /// GET on the JSON API with the test token.
    pub async fn api(&self, path: &str) -> (u16, serde_json::Value) {
        self.api_as(path, Some(API_TOKEN)).await
    }

    pub async fn api_as(&self, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
        let mut request = self.client.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("api request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
    }
}

/// `sha256=<hex>` of the body under `secret`, as GitHub signs.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A realistic `issues`/`labeled` payload.
pub fn labeled_payload(label: &str, issue: i64) -> serde_json::Value {
    serde_json::json!({
        "action": "labeled",
        "label": {"id": 1, "name": label, "color": "ededed"},
        "issue": {"number": issue, "title": format!("Issue {issue}"), "body": "Please fix", "state": "open",
                  "user": {"login": "alice", "id": 1, "type": "User"}},
        "repository": {"id": 4242, "name": "demo", "full_name": "octo/demo", "private": false,
                       "clone_url": "https://github.com/octo/demo.git", "default_branch": "main"},
        "installation": {"id": 77, "node_id": "MDIz"},
        "sender": {"login": "alice", "id": 1, "type": "User"}
    })
}

/// A realistic `issue_comment`/`created` payload.
pub fn comment_payload(body: &str, issue: i64, comment_id: i64) -> serde_json::Value {
    serde_json::json!({
        "action": "created",
        "comment": {"id": comment_id, "body": body, "user": {"login": "alice", "id": 1, "type": "User"}},
        "issue": {"number": issue, "title": format!("Issue {issue}"), "state": "open"},
        "repository": {"id": 4242, "name": "demo", "full_name": "octo/demo", "private": false,
                       "clone_url": "https://github.com/octo/demo.git", "default_branch": "main"},
        "installation": {"id": 77},
        "sender": {"login": "alice", "id": 1, "type": "User"}
    })
}
