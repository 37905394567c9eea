//! `GitHubApp`: the App-level client. Owns the one octocrab HTTP client, the
//! JWT signer, the installation-token cache and the mutation limiter; mints
//! repository-scoped installation tokens and hands out [`RepoClient`]s.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::Method;
use octocrab::Octocrab;
use secrecy::SecretString;
use serde::Deserialize;

use super::error::GitHubError;
use super::ids::InstallationId;
use super::jwt::AppSigner;
use super::limiter::{MutationLimiter, MutationQuota};
use super::repo::RepoClient;
use super::tokens::{Permissions, TokenCache, TokenKey};
use super::transport::{Auth, Call, Safety};
use super::types::AppInfo;

/// When and how long to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First backoff delay (doubles per retry, with jitter).
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Retries after the first attempt.
    pub max_retries: usize,
    /// Upper bound on all waiting for one call, `Retry-After` included; a rate
    /// limit that lasts longer surfaces as [`GitHubError::RateLimited`].
    pub max_total_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_retries: 4,
            max_total_delay: Duration::from_secs(300),
        }
    }
}

/// What the App client needs to run.
#[derive(Debug, Clone)]
pub struct GitHubConfig {
    /// `GITHUB_API_URL`: `https://api.github.com`, `https://ghe.example/api/v3`, or the fake.
    pub api_url: String,
    pub app_id: u64,
    /// The App's private key, PEM (PKCS#1 or PKCS#8).
    pub private_key: SecretString,
    pub retry: RetryPolicy,
    pub quota: MutationQuota,
    pub connect_timeout: Duration,
    /// Per-read timeout; a slow GitHub answer beyond it is a transport error.
    pub read_timeout: Duration,
}

impl GitHubConfig {
    /// Production defaults for everything but the three required values.
    pub fn new(api_url: impl Into<String>, app_id: u64, private_key: SecretString) -> Self {
        Self {
            api_url: api_url.into(),
            app_id,
            private_key,
            retry: RetryPolicy::default(),
            quota: MutationQuota::default(),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
        }
    }
}

pub(crate) struct Inner {
    pub(crate) octo: Octocrab,
    pub(crate) signer: AppSigner,
    pub(crate) tokens: TokenCache,
    pub(crate) limiter: MutationLimiter,
    pub(crate) retry: RetryPolicy,
    pub(crate) app_info: tokio::sync::OnceCell<AppInfo>,
    pub(crate) bot: tokio::sync::OnceCell<super::types::BotIdentity>,
}

/// The App-level client; cheap to clone.
#[derive(Clone)]
pub struct GitHubApp {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApp").field("app_id", &self.inner.signer.app_id()).finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct AccessTokenResponse {
    token: String,
    expires_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct InstallationResponse {
    id: InstallationId,
}

impl GitHubApp {
    pub fn new(config: GitHubConfig) -> Result<Self, GitHubError> {
        let signer = AppSigner::new(config.app_id, &config.private_key)?;
        let _ = crate::masker::global().add(&config.private_key);
        let base = config.api_url.trim_end_matches('/').to_owned();
        let octo = Octocrab::builder()
            .base_uri(base.as_str())
            .map_err(|e| GitHubError::Config(format!("GITHUB_API_URL {base:?} is not a URL: {e}")))?
            .set_connect_timeout(Some(config.connect_timeout))
            .set_read_timeout(Some(config.read_timeout))
            .build()
            .map_err(|e| GitHubError::Config(format!("building the HTTP client failed: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                octo,
                signer,
                tokens: TokenCache::default(),
                limiter: MutationLimiter::new(config.quota),
                retry: config.retry,
                app_info: tokio::sync::OnceCell::new(),
                bot: tokio::sync::OnceCell::new(),
            }),
        })
    }

    pub fn app_id(&self) -> u64 {
        self.inner.signer.app_id()
    }

    /// A client for one repository of one installation. `full_name` is `owner/name`.
    pub fn repo(&self, installation_id: InstallationId, full_name: &str) -> Result<RepoClient, GitHubError> {
        RepoClient::new(self.clone(), installation_id, full_name)
    }

    /// `GET /app` (once; cached): the App's id and slug.
    pub async fn app_info(&self) -> Result<AppInfo, GitHubError> {
        self.inner
            .app_info
            .get_or_try_init(|| async {
                let call = Call::new(Method::GET, "/app".to_owned(), "the App", Safety::Read);
                self.call(Auth::App, &call).await?.json::<AppInfo>("GET /app")
            })
            .await
            .cloned()
    }

    /// `GET /repos/{owner}/{repo}/installation`: which installation covers a repository.
    pub async fn repo_installation_id(&self, full_name: &str) -> Result<InstallationId, GitHubError> {
        let (owner, name) = super::repo::split_full_name(full_name)?;
        let call = Call::new(
            Method::GET,
            format!("/repos/{owner}/{name}/installation"),
            "the App's installation on the repository",
            Safety::Read,
        );
        Ok(self.call(Auth::App, &call).await?.json::<InstallationResponse>("installation")?.id)
    }

    /// A token for `key`, from the cache or freshly minted: restricted to the
    /// one repository and the permissions in `key`. Registered with the masker.
    pub(crate) async fn installation_token(&self, key: &TokenKey) -> Result<SecretString, GitHubError> {
        if let Some(t) = self.inner.tokens.get(key, Utc::now()) {
            return Ok(t);
        }
        // Concurrent calls needing the same token wait for one mint.
        let lock = self.inner.tokens.mint_lock(key);
        let _minting = lock.lock().await;
        if let Some(t) = self.inner.tokens.get(key, Utc::now()) {
            return Ok(t);
        }
        // Every mint first drops the tokens that have expired, so the
        // masker's registry stays bounded however long the process runs.
        super::tokens::unregister(self.inner.tokens.take_expired(Utc::now()));
        let body = serde_json::json!({
            "repositories": [key.repo],
            "permissions": key.permissions,
        });
        let call = Call::new(
            Method::POST,
            format!("/app/installations/{}/access_tokens", key.installation_id),
            "the installation",
            // Minting twice is harmless: the first token simply goes unused.
            Safety::Idempotent,
        )
        .body(body);
        // Boxed: `call` can lead back here for installation-authenticated calls.
        let resp = Box::pin(self.call(Auth::App, &call)).await?;
        let minted: AccessTokenResponse = resp.json("installation access token")?;
        let token = SecretString::from(minted.token);
        if let Err(e) = crate::masker::global().add(&token) {
            // A token too short to mask is not one GitHub would issue; refuse it
            // rather than risk printing it.
            return Err(GitHubError::Decode { what: "installation access token".into(), message: e.to_string() });
        }
        self.inner.tokens.insert(key.clone(), token.clone(), minted.expires_at);
        Ok(token)
    }

    /// A token for pushing/cloning on the host (`git` over HTTPS), narrowed to
    /// `permissions`. Mint one per use; do not hold it for a whole job.
    pub async fn token_for(
        &self,
        installation_id: InstallationId,
        repo_name: &str,
        permissions: Permissions,
    ) -> Result<SecretString, GitHubError> {
        let key = TokenKey { installation_id, repo: repo_name.to_owned(), permissions };
        self.installation_token(&key).await
    }

    /// Forgets a cached token (a `git push` with it was refused).
    pub fn evict_token(&self, installation_id: InstallationId, repo_name: &str, permissions: Permissions) {
        self.inner.tokens.evict(&TokenKey { installation_id, repo: repo_name.to_owned(), permissions });
    }
}
