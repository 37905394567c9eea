//! The one harness of the service tests: the fake GitHub (always) with
//! `acme/widgets` (user `alice` has write access), and the real service
//! started in-process against it on an ephemeral port, with a throw-away
//! SQLite file and data dir. Tests talk to it as GitHub and API users do:
//! signed webhook deliveries and bearer-token calls; they assert on what the
//! fake GitHub received and on the store.
//!
//! Three layers:
//! - [`TestService::intake`]: what intake records, with GitHub down (the
//!   fake answers 503 to every installation-token request), so the control
//!   loop acts on nothing and jobs stay `received`.
//! - [`TestService::start`]: intake and the control loop, no workers (jobs
//!   are admitted but never run; "running" ones are claimed in the store by
//!   a pretend other instance, [`TestService::run_elsewhere`]).
//! - [`TestService::with_docker`]: plus real Docker sandboxes and one worker
//!   running the scripted test agent (`docker/test-agent/agent.py` in the
//!   test image); `None` (the test skips) without Docker or the image.
//!
//! Jobs and their ends are in `service_jobs.rs`.

use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use maxion::config::{RawSettings, Settings};
use maxion::jobs::{IssueNumber, Job, JobId, Store};
use maxion::service::{self, Running};
use serde_json::{Value, json};
use sha2::Sha256;

use super::events::Source;
use super::fake_github::{Comment, Failure, FakeGitHub, InstallationId, RepoId, UserType};

pub const WEBHOOK_SECRET: &str = "integration-webhook-secret";
pub const API_TOKEN: &str = "integration-api-token-0123456789";
/// The scripted agent as a custom profile.
pub const AGENT_COMMAND: &str = "python3 /opt/maxion/test-agent/agent.py";
/// Where the status comment and check runs link to.
pub const PUBLIC_URL: &str = "https://maxion.example";

pub struct TestService {
    pub gh: FakeGitHub,
    pub inst: InstallationId,
    pub repo: RepoId,
    pub running: Option<Running>,
    pub url: String,
    pub client: reqwest::Client,
    /// The sandbox test image; `None` in the layer without Docker.
    pub image: Option<String>,
    /// The database and the data dir (kept across [`TestService::boot`]).
    pub dir: tempfile::TempDir,
    /// What deliveries are signed with: [`WEBHOOK_SECRET`], or what the
    /// first-run setup's App was given.
    pub webhook_secret: String,
    next_delivery: AtomicU64,
}

/// Leaves the App out of the settings, as on a first run (`tweak` of a constructor).
pub fn without_app(raw: &mut RawSettings) {
    raw.github_app_id = None;
    raw.github_app_private_key = None;
    raw.github_app_private_key_path = None;
    raw.github_webhook_secret = None;
}

/// What runs besides intake.
enum Layer {
    /// Nothing reaches GitHub: installation tokens are refused with a 503.
    GitHubDown,
    /// The control loop against the fake GitHub.
    Control,
    /// The control loop and workers running jobs on this image.
    Docker(String),
}

impl TestService {
    /// Intake alone: GitHub is down for the service, so jobs stay as intake
    /// recorded them; `tweak` adjusts the settings.
    pub async fn intake(tweak: impl FnOnce(&mut RawSettings)) -> TestService {
        Self::build(Layer::GitHubDown, tweak).await
    }

    /// Intake and the control loop against the fake GitHub, no workers;
    /// `tweak` adjusts the settings.
    pub async fn start(tweak: impl FnOnce(&mut RawSettings)) -> TestService {
        Self::build(Layer::Control, tweak).await
    }

    /// Plus Docker sandboxes and one worker running the scripted agent
    /// (verify command `test -f ok.txt`); `None` after saying why the test is
    /// skipped (a failure under `CI=true`).
    pub async fn with_docker(tweak: impl FnOnce(&mut RawSettings)) -> Option<TestService> {
        let (_, image) = super::docker::engine_and_image("the end-to-end tests").await?;
        Some(Self::build(Layer::Docker(image), tweak).await)
    }

    async fn build(layer: Layer, tweak: impl FnOnce(&mut RawSettings)) -> TestService {
        let gh = FakeGitHub::start().await;
        let inst = gh.add_installation("acme");
        let repo = gh.add_repo(inst, "acme/widgets");
        let image = match layer {
            Layer::GitHubDown => {
                gh.fail("POST", "/app/installations/{installation_id}/access_tokens", Failure::Status(503), u32::MAX);
                None
            }
            Layer::Control => None,
            Layer::Docker(image) => {
                // Served over git from the start, as on GitHub: the API's branch
                // heads are then real commits, the ones a job pins its working copy to.
                gh.git_dir(repo);
                Some(image)
            }
        };
        gh.add_user("alice", UserType::User);
        gh.set_permission(repo, "alice", "write");
        let mut service = TestService {
            gh,
            inst,
            repo,
            running: None,
            url: String::new(),
            client: reqwest::Client::new(),
            image,
            dir: tempfile::tempdir().expect("temp dir"),
            webhook_secret: WEBHOOK_SECRET.to_owned(),
            next_delivery: AtomicU64::new(1),
        };
        service.boot(tweak).await;
        service
    }

    /// The settings of this harness's layer, before a test's tweaks.
    pub fn settings(&self) -> RawSettings {
        let dir = self.dir.path();
        let mut raw = RawSettings {
            github_app_id: Some(self.gh.app_id().to_string()),
            github_app_private_key: Some(self.gh.private_key_pem().to_owned()),
            github_webhook_secret: Some(WEBHOOK_SECRET.into()),
            github_api_url: Some(self.gh.url().to_owned()),
            database_url: Some(format!("sqlite://{}", dir.join("maxion.db").display())),
            maxion_listen: Some("127.0.0.1:0".into()),
            maxion_public_url: Some(PUBLIC_URL.into()),
            maxion_api_token: Some(API_TOKEN.into()),
            maxion_data_dir: Some(self.data_dir().display().to_string()),
            maxion_workers: Some("0".into()),
            // Looking for missed deliveries is tested on its own (`redelivery`).
            maxion_redelivery_interval: Some("0".into()),
            ..Default::default()
        };
        if let Some(image) = &self.image {
            raw.maxion_workers = Some("1".into());
            raw.maxion_sandbox_image = Some(image.clone());
            raw.maxion_agent = Some("custom".into());
            raw.maxion_agent_command = Some(AGENT_COMMAND.into());
            raw.maxion_verify_commands = Some("test -f ok.txt".into());
            raw.maxion_shutdown_grace = Some("5".into());
        }
        raw
    }

    /// The data directory (`MAXION_DATA_DIR`).
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// (Re)starts the service on the same database and data dir (reading
    /// the data dir's `.env`, as `maxion serve` does).
    pub async fn boot(&mut self, tweak: impl FnOnce(&mut RawSettings)) {
        let mut raw = self.settings();
        tweak(&mut raw);
        let settings = Settings::load(raw, None).expect("valid test settings");
        let running = service::start(settings).await.expect("service starts");
        self.url = format!("http://{}", running.addr);
        self.running = Some(running);
    }

    pub fn store(&self) -> &Store {
        &self.running.as_ref().expect("running").store
    }

    /// Asserts that the fake GitHub saw nothing GitHub would refuse, then stops.
    pub async fn finish(self) {
        self.gh.assert_ok();
        self.stop().await;
    }

    pub async fn stop(mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("clean stop");
        }
    }

    // ----- webhooks ----------------------------------------------------------------------

    /// Sends a delivery signed with the App's secret: (status, answer).
    pub async fn deliver(&self, event: &str, delivery: &str, body: &[u8]) -> (u16, Value) {
        let signature = sign(&self.webhook_secret, body);
        self.deliver_with(event, delivery, Some(&signature), body).await
    }

    /// Sends a delivery with an explicit (possibly wrong or absent) signature.
    pub async fn deliver_with(
        &self,
        event: &str,
        delivery: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> (u16, Value) {
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
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// Sends `payload` signed, under a new delivery id, expecting a 200;
    /// returns (delivery id, the answer's `outcome`).
    pub async fn send(&self, event: &str, payload: &Value) -> (String, String) {
        let id = format!("delivery-{}", self.next_delivery.fetch_add(1, Ordering::SeqCst));
        let (status, answer) = self.deliver(event, &id, &serde_json::to_vec(payload).expect("json")).await;
        assert_eq!(status, 200, "webhook answer: {answer}");
        (id, answer["outcome"].as_str().unwrap_or_default().to_owned())
    }

    /// The deliveries of `acme/widgets`.
    pub fn source(&self) -> Source {
        Source {
            installation: self.inst.0,
            repository: json!({"id": self.repo.0, "name": "widgets", "full_name": "acme/widgets", "private": true,
                               "clone_url": self.gh.clone_url(self.repo), "default_branch": "main"}),
            api_url: self.gh.url().to_owned(),
        }
    }

    /// An issue on the fake GitHub.
    pub fn issue(&self, title: &str) -> u64 {
        self.gh.add_issue(self.repo, title, "Please fix it.", &[])
    }

    /// `labeled` or `unlabeled` with the trigger label, by `login`; (delivery id, outcome).
    pub async fn label(&self, issue: u64, login: &str, action: &str) -> (String, String) {
        self.send("issues", &self.source().label(action, issue, &format!("Issue {issue}"), "", login)).await
    }

    /// Opens an issue whose body carries the scripted agent's `script` and
    /// labels it (by `alice`).
    pub async fn label_issue(&self, title: &str, script: &str) -> u64 {
        let body = format!("Please do this.\n\n```maxion-test\n{script}\n```\n");
        let number = self.gh.add_issue(self.repo, title, &body, &["maxion"]);
        self.send("issues", &self.source().label("labeled", number, title, &body, "alice")).await;
        number
    }

    /// `login` comments `body` on the issue (the comment exists on the fake too).
    pub async fn comment(&self, issue: u64, login: &str, body: &str) -> (String, String) {
        let comment_id = self.gh.add_comment(self.repo, issue, login, body);
        self.send("issue_comment", &self.source().comment("created", issue, comment_id, login, body, None)).await
    }

    /// `login` comments `body` on pull request `pull` (the conversation tab).
    pub async fn pr_comment(&self, pull: u64, login: &str, body: &str) -> (String, String) {
        let comment_id = self.gh.add_comment(self.repo, pull, login, body);
        self.send("issue_comment", &self.source().pr_comment(pull, comment_id, login, body)).await
    }

    /// `alice` comments `body` on `path` at `line` of pull request `pull`'s diff.
    pub async fn review_comment(&self, pull: u64, path: &str, line: i64, diff_hunk: &str, body: &str) {
        let id = self.gh.add_review_comment(self.repo, pull, "alice", body);
        let payload = self.source().review_comment(pull, id, "alice", (path, line, diff_hunk), body);
        self.send("pull_request_review_comment", &payload).await;
    }

    /// `check_run` `rerequested` (no identifier) or `requested_action` on the job's run.
    pub async fn check_run(&self, job: JobId, login: &str, identifier: Option<&str>) -> (String, String) {
        let sha = self.gh.head_sha(self.repo, "main");
        let run = self.gh.add_check_run(self.repo, "maxion", &sha, Some(&job.to_string()));
        self.send("check_run", &self.source().check_run(run, &sha, &job.to_string(), login, identifier)).await
    }

    // ----- the JSON API ------------------------------------------------------------------

    /// `GET` on the JSON API with the test token: (status, JSON body).
    pub async fn api(&self, path: &str) -> (u16, Value) {
        self.api_as(path, Some(API_TOKEN)).await
    }

    pub async fn api_as(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut request = self.client.get(format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("api request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The API's view of one job (with its brief).
    pub async fn api_job(&self, id: JobId) -> Value {
        let (status, body) = self.api(&format!("/api/jobs/{id}")).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    // ----- what the fake GitHub received ------------------------------------------------

    /// Comments by the App on the issue or pull request.
    pub fn own_comments(&self, issue: u64) -> Vec<Comment> {
        self.gh.comments(self.repo, issue).into_iter().filter(|c| c.user == self.gh.bot_login()).collect()
    }

    /// The App's only comment on the issue: its status comment.
    pub fn only_comment(&self, issue: u64) -> Comment {
        let own = self.own_comments(issue);
        assert_eq!(own.len(), 1, "one status comment, edited in place: {own:#?}");
        own.into_iter().next().expect("one")
    }

    /// The App's replies (not status comments) on the issue, oldest first,
    /// as users read them (without the hidden marker line).
    pub fn replies(&self, issue: u64) -> Vec<String> {
        self.own_comments(issue)
            .into_iter()
            .filter_map(|c| {
                let (marker, text) = c.body.split_once('\n')?;
                marker.contains("maxion:reply:").then(|| text.to_owned())
            })
            .collect()
    }

    /// The status comment of a job.
    pub fn status_comment(&self, issue: u64, job: JobId) -> Comment {
        let marker = format!("<!-- maxion:job:{job} -->");
        let mine: Vec<Comment> = self.own_comments(issue).into_iter().filter(|c| c.body.contains(&marker)).collect();
        assert_eq!(mine.len(), 1, "exactly one status comment for job {job}");
        mine.into_iter().next().expect("one")
    }

    pub async fn job(&self, id: JobId) -> Job {
        self.store().get_job(id).await.expect("read").expect("job exists")
    }

    /// The newest job of the issue.
    pub async fn latest(&self, issue: u64) -> Option<Job> {
        self.store().latest_job_for_issue(maxion::jobs::RepoId(self.repo.0), IssueNumber(issue)).await.expect("read")
    }
}

/// `sha256=<hex>` of the body under `secret`, as GitHub signs.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Asserts that `text` (a reply, a comment) contains `needle`, showing all of it when not.
pub fn has(text: &str, needle: &str) {
    assert!(text.contains(needle), "expected {needle:?} in:\n{text}");
}
