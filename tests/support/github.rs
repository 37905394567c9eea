//! Maxion's own GitHub client pointed at the fake GitHub, for the tests of
//! the parts below the service (client, reporter, brief gathering): quick
//! retries and no spacing of writes, so failures show in milliseconds.

use std::time::Duration;

use maxion::github::{GitHubApp, GitHubConfig, MutationQuota, RepoClient, RetryPolicy};
use secrecy::SecretString;

use super::fake_github::{FakeGitHub, InstallationId, RepoId};

/// The client's settings for the fake: retries within milliseconds.
pub fn fast_config(gh: &FakeGitHub) -> GitHubConfig {
    let mut c = GitHubConfig::new(gh.url(), gh.app_id(), SecretString::from(gh.private_key_pem().to_owned()));
    c.retry = RetryPolicy {
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_retries: 3,
        max_total_delay: Duration::from_secs(10),
    };
    c.quota = MutationQuota { min_interval: Duration::from_millis(1), windows: Vec::new() };
    c
}

/// The fake GitHub with the App installed on `acme/widgets`, and the client for it.
pub struct Installed {
    pub gh: FakeGitHub,
    pub inst: InstallationId,
    pub repo_id: RepoId,
    pub app: GitHubApp,
    pub repo: RepoClient,
}

impl Installed {
    pub async fn start() -> Installed {
        Self::start_with(|_| {}).await
    }

    /// With the client's settings adjusted by `config`.
    pub async fn start_with(config: impl FnOnce(&mut GitHubConfig)) -> Installed {
        let gh = FakeGitHub::start().await;
        let inst = gh.add_installation("acme");
        let repo_id = gh.add_repo(inst, "acme/widgets");
        let mut c = fast_config(&gh);
        config(&mut c);
        let app = GitHubApp::new(c).expect("client");
        let repo = app.repo(maxion::github::InstallationId(inst.0), "acme/widgets").expect("repository client");
        Installed { gh, inst, repo_id, app, repo }
    }
}
