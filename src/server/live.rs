//! The GitHub App as the running service holds it: absent until it is
//! configured, then present for good. The first-run setup (`web::setup`)
//! creates or imports the App while the service runs, so everything that
//! needs the App reads it from one [`AppSlot`] at the moment it needs it
//! instead of from the settings read at start-up: the webhook handler (503
//! before, verified after), the API's writes, the pages' sign-in, and
//! `service`, which watches the slot to start the control loop and workers.

use std::sync::Arc;

use anyhow::Context;
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use tokio::sync::watch;

use crate::config::{AppCredentials, OAuthCredentials, Settings};
use crate::github::{GitHubApp, GitHubConfig, OAuthClient};

/// A configured App: its client and what verifies its webhooks.
pub struct LiveApp {
    pub app_id: u64,
    pub github: GitHubApp,
    /// HMAC keyed with the webhook secret; cloned per request.
    pub(super) webhook_mac: Hmac<Sha256>,
    /// "Sign in with GitHub" with the App's OAuth client, when it has one.
    pub oauth: Option<OAuthClient>,
}

impl LiveApp {
    /// The App's clients from its credentials and the instance's settings.
    pub fn build(
        settings: &Settings,
        creds: &AppCredentials,
        oauth: Option<&OAuthCredentials>,
    ) -> anyhow::Result<LiveApp> {
        let mut config = GitHubConfig::new(&settings.github_api_url, creds.app_id, creds.private_key.clone());
        config.quota.min_interval = settings.github_mutation_interval;
        let github = GitHubApp::new(config).context("building the GitHub client")?;
        let webhook_mac = Hmac::<Sha256>::new_from_slice(creds.webhook_secret.expose_secret().as_bytes())
            .context("GITHUB_WEBHOOK_SECRET: not usable as an HMAC key")?;
        let oauth = oauth.map(|o| {
            OAuthClient::new(&settings.web.github_url, &settings.github_api_url, &o.client_id, o.client_secret.clone())
        });
        Ok(LiveApp { app_id: creds.app_id, github, webhook_mac, oauth })
    }
}

/// Where the App lives while the service runs; cheap to clone.
#[derive(Clone)]
pub struct AppSlot(Arc<watch::Sender<Option<Arc<LiveApp>>>>);

impl AppSlot {
    pub fn new(app: Option<LiveApp>) -> AppSlot {
        AppSlot(Arc::new(watch::Sender::new(app.map(Arc::new))))
    }

    /// The App, if configured.
    pub fn current(&self) -> Option<Arc<LiveApp>> {
        self.0.borrow().clone()
    }

    /// Puts the App in place, unless one is there already (then `false`:
    /// a second setup never replaces a running App).
    pub fn install(&self, app: LiveApp) -> bool {
        let app = Arc::new(app);
        self.0.send_if_modified(|slot| {
            if slot.is_some() {
                return false;
            }
            *slot = Some(app);
            true
        })
    }

    /// A receiver told when the App arrives.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<LiveApp>>> {
        self.0.subscribe()
    }
}
