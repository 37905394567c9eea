//! Harness for the control loop: the fake GitHub plus the real service
//! pointed at it with no workers (jobs are admitted but never run), fed
//! signed webhooks the way GitHub sends them. "Running" jobs are claimed
//! in the store by another (pretend) instance.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use maxion::config::{RawSettings, Settings};
use maxion::jobs::{IssueNumber, Job, JobId, JobState, Store};
use maxion::service::{self, Running};
use serde_json::{Value, json};

use super::fake_github::{Comment, FakeGitHub, InstallationId, RepoId, UserType};
use super::service::{WEBHOOK_SECRET, sign, test_settings};

pub struct Ctl {
    pub gh: FakeGitHub,
    pub inst: InstallationId,
    pub repo: RepoId,
    running: Option<Running>,
    url: String,
    client: reqwest::Client,
    next: AtomicU64,
    _dir: tempfile::TempDir,
}

impl Ctl {
    /// `acme/widgets` with `alice` (write); `tweak` adjusts the settings.
    pub async fn start(tweak: impl FnOnce(&mut RawSettings)) -> Ctl {
        let gh = FakeGitHub::start().await;
        let inst = gh.add_installation("acme");
        let repo = gh.add_repo(inst, "acme/widgets");
        gh.add_user("alice", UserType::User);
        gh.set_permission(repo, "alice", "write");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut raw = test_settings(dir.path());
        raw.github_app_id = Some(gh.app_id().to_string());
        raw.github_app_private_key = Some(gh.private_key_pem().to_owned());
        raw.github_api_url = Some(gh.url().to_owned());
        raw.maxion_public_url = Some("https://maxion.example".into());
        tweak(&mut raw);
        let running = service::start(Settings::from_raw(raw, None).expect("settings")).await.expect("service");
        Ctl {
            url: format!("http://{}", running.addr),
            running: Some(running),
            gh,
            inst,
            repo,
            client: reqwest::Client::new(),
            next: AtomicU64::new(1),
            _dir: dir,
        }
    }

    pub fn store(&self) -> &Store {
        &self.running.as_ref().expect("running").store
    }

    /// Sends a signed delivery; returns its id and the answer's `outcome`.
    pub async fn deliver(&self, event: &str, body: Value) -> (String, String) {
        let id = format!("ctl-{}", self.next.fetch_add(1, Ordering::SeqCst));
        let bytes = serde_json::to_vec(&body).expect("json");
        let resp = self
            .client
            .post(format!("{}/webhook", self.url))
            .header("content-type", "application/json")
            .header("x-github-event", event)
            .header("x-github-delivery", &id)
            .header("x-hub-signature-256", sign(WEBHOOK_SECRET, &bytes))
            .body(bytes)
            .send()
            .await
            .expect("webhook delivered");
        assert_eq!(resp.status(), 200, "webhook answer");
        let answer: Value = resp.json().await.expect("json answer");
        (id, answer["outcome"].as_str().unwrap_or_default().to_owned())
    }

    fn repository(&self) -> Value {
        json!({"id": self.repo.0, "name": "widgets", "full_name": "acme/widgets", "private": true,
               "clone_url": self.gh.clone_url(self.repo), "default_branch": "main"})
    }

    fn user(login: &str) -> Value {
        json!({"login": login, "id": login.len(), "type": "User"})
    }

    pub fn issue(&self, title: &str) -> u64 {
        self.gh.add_issue(self.repo, title, "Please fix it.", &[])
    }

    /// `login` comments `body` on the issue; returns (delivery id, outcome).
    pub async fn comment(&self, issue: u64, login: &str, body: &str) -> (String, String) {
        let comment_id = self.gh.add_comment(self.repo, issue, login, body);
        self.deliver("issue_comment", self.comment_payload("created", issue, comment_id, login, body, None)).await
    }

    /// `login` comments `body` on pull request `pull` (an issue with a `pull_request` object).
    pub async fn pr_comment(&self, pull: u64, login: &str, body: &str) -> (String, String) {
        let comment_id = self.gh.add_comment(self.repo, pull, login, body);
        let mut payload = self.comment_payload("created", pull, comment_id, login, body, None);
        payload["issue"]["pull_request"] =
            json!({"url": format!("{}/repos/acme/widgets/pulls/{pull}", self.gh.url()), "merged_at": null});
        self.deliver("issue_comment", payload).await
    }

    pub fn comment_payload(
        &self,
        action: &str,
        issue: u64,
        comment_id: u64,
        login: &str,
        body: &str,
        from: Option<&str>,
    ) -> Value {
        let mut v = json!({
            "action": action,
            "comment": {"id": comment_id, "body": body, "user": Self::user(login)},
            "issue": {"number": issue, "title": format!("Issue {issue}"), "state": "open"},
            "repository": self.repository(),
            "installation": {"id": self.inst.0},
            "sender": Self::user(login),
        });
        if let Some(from) = from {
            v["changes"] = json!({"body": {"from": from}});
        }
        v
    }

    /// `labeled` or `unlabeled` with the trigger label, by `login`.
    pub async fn label(&self, issue: u64, login: &str, action: &str) -> (String, String) {
        let body = json!({
            "action": action,
            "label": {"id": 1, "name": "maxion", "color": "ededed"},
            "issue": {"number": issue, "title": format!("Issue {issue}"), "state": "open", "user": Self::user("acme")},
            "repository": self.repository(),
            "installation": {"id": self.inst.0},
            "sender": Self::user(login),
        });
        self.deliver("issues", body).await
    }

    /// `check_run` `rerequested` (no identifier) or `requested_action` on job's run.
    pub async fn check_run(&self, job: JobId, login: &str, identifier: Option<&str>) -> (String, String) {
        let sha = self.gh.head_sha(self.repo, "main");
        let run = self.gh.add_check_run(self.repo, "maxion", &sha, Some(&job.to_string()));
        let mut body = json!({
            "action": if identifier.is_some() { "requested_action" } else { "rerequested" },
            "check_run": {"id": run, "name": "maxion", "head_sha": sha, "external_id": job.to_string(), "status": "completed"},
            "repository": self.repository(),
            "installation": {"id": self.inst.0},
            "sender": Self::user(login),
        });
        if let Some(id) = identifier {
            body["requested_action"] = json!({"identifier": id});
        }
        self.deliver("check_run", body).await
    }

    /// Waits until the control loop has processed the delivery's request; its outcome.
    pub async fn processed(&self, delivery: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            match self.store().control_outcome(delivery).await.expect("read") {
                Some((true, outcome)) => return outcome.map(|o| o.as_str().to_owned()).unwrap_or_default(),
                Some((false, _)) => {}
                None => panic!("delivery {delivery} stored no control request"),
            }
            assert!(tokio::time::Instant::now() < deadline, "delivery {delivery} not processed in time");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Comments by the App on the issue.
    pub fn own_comments(&self, issue: u64) -> Vec<Comment> {
        self.gh.comments(self.repo, issue).into_iter().filter(|c| c.user == self.gh.bot_login()).collect()
    }

    /// The App's replies (not status comments) on the issue, oldest first.
    pub fn replies(&self, issue: u64) -> Vec<String> {
        self.own_comments(issue).into_iter().filter(|c| c.body.contains("maxion:reply:")).map(|c| c.body).collect()
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

    /// Starts a job for the issue by `alice`'s comment and waits for its admission.
    pub async fn queued_job(&self, issue: u64, instructions: &str) -> Job {
        let (d, outcome) = self.comment(issue, "alice", &format!("/maxion {instructions}")).await;
        assert_eq!(outcome, "job_created");
        assert_eq!(self.processed(&d).await, "admitted");
        let job = self.latest(issue).await.expect("a job");
        assert_eq!(job.state, JobState::Queued);
        job
    }

    /// The job is claimed by another instance, as if running there.
    pub async fn run_elsewhere(&self, job: JobId) {
        let claimed = self.store().claim_next("another-instance", Duration::from_secs(600)).await.expect("claim");
        assert_eq!(claimed.map(|j| j.id), Some(job));
    }

    pub async fn stop(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("clean stop");
        }
    }
}
