//! Sign-in with GitHub: the App's OAuth web flow (exchanging the code for a
//! user-to-server token) and the calls made with that token: who the user
//! is, and which of the App's repositories they can read, with what role.
//!
//! These calls are few (one sign-in, then a repository list cached by the
//! pages) and always made on behalf of a waiting browser, so they are not
//! retried: a failure becomes a page asking to try again.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::error::GitHubError;
use super::ids::RepoId;
use super::types::{RepoPermission, User};

const TIMEOUT: Duration = Duration::from_secs(15);
/// Bounds the repository walk: 20 pages of 100 per installation.
const MAX_PAGES: u32 = 20;

/// The App's OAuth credentials and GitHub's web host (`https://github.com`,
/// or a GitHub Enterprise Server).
#[derive(Clone)]
pub struct OAuthClient {
    http: reqwest::Client,
    github_url: String,
    api_url: String,
    client_id: String,
    client_secret: SecretString,
}

/// A repository the signed-in user can read, and their role on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRepo {
    pub id: RepoId,
    pub full_name: String,
    pub permission: RepoPermission,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Deserialize)]
struct Installations {
    installations: Vec<IdOnly>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: u64,
}

#[derive(Deserialize)]
struct Repositories {
    repositories: Vec<RepoEntry>,
}

#[derive(Deserialize)]
struct RepoEntry {
    id: RepoId,
    full_name: String,
    permissions: Option<Permissions>,
}

#[derive(Deserialize, Default)]
struct Permissions {
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    maintain: bool,
    #[serde(default)]
    push: bool,
    #[serde(default)]
    triage: bool,
    #[serde(default)]
    pull: bool,
}

impl Permissions {
    fn strongest(&self) -> RepoPermission {
        match self {
            p if p.admin => RepoPermission::Admin,
            p if p.maintain => RepoPermission::Maintain,
            p if p.push => RepoPermission::Write,
            p if p.triage => RepoPermission::Triage,
            p if p.pull => RepoPermission::Read,
            _ => RepoPermission::None,
        }
    }
}

impl OAuthClient {
    pub fn new(github_url: &str, api_url: &str, client_id: &str, client_secret: SecretString) -> Self {
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .user_agent(concat!("maxion/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        OAuthClient {
            http,
            github_url: github_url.trim_end_matches('/').to_owned(),
            api_url: api_url.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret,
        }
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// Where the browser is sent to authorize: `GET {github}/login/oauth/authorize`.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        format!(
            "{}/login/oauth/authorize?client_id={}&redirect_uri={}&state={}&allow_signup=false",
            self.github_url,
            form_encode(&self.client_id),
            form_encode(redirect_uri),
            form_encode(state)
        )
    }

    /// `POST {github}/login/oauth/access_token`: the code for a user-to-server
    /// token. GitHub answers errors with 200 and an `error` field.
    pub async fn exchange(&self, code: &str, redirect_uri: &str) -> Result<SecretString, GitHubError> {
        let url = format!("{}/login/oauth/access_token", self.github_url);
        let response = self
            .http
            .post(url)
            .header("accept", "application/json")
            .form(&[
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose_secret()),
                ("code", code),
                ("redirect_uri", redirect_uri),
            ])
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let answer: TokenAnswer = response.json().await.map_err(|e| decode("the OAuth token answer", e))?;
        match (answer.access_token, answer.error) {
            (Some(token), None) => {
                let token = SecretString::from(token);
                let _ = crate::masker::global().add(&token);
                Ok(token)
            }
            (_, error) => Err(GitHubError::Api {
                status,
                message: format!(
                    "{}: {}",
                    error.unwrap_or_else(|| "no token".into()),
                    answer.error_description.unwrap_or_default()
                ),
            }),
        }
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, token: &SecretString, path: &str) -> Result<T, GitHubError> {
        let request = self.http.get(format!("{}{path}", self.api_url)).bearer_auth(token.expose_secret());
        let response = rest_api(request).send().await.map_err(transport)?;
        let status = response.status().as_u16();
        crate::metrics::github_request(&format!("GET user {}", path.split('?').next().unwrap_or(path)), status);
        match status {
            200 => response.json().await.map_err(|e| decode(path, e)),
            401 => Err(GitHubError::Unauthorized { message: "the user's token was refused".into() }),
            _ => Err(GitHubError::Api { status, message: format!("GET {path}") }),
        }
    }

    /// `GET /user`: who holds the token.
    pub async fn user(&self, token: &SecretString) -> Result<User, GitHubError> {
        self.get(token, "/user").await
    }

    /// Every repository of the App's installations the user can read:
    /// `GET /user/installations`, then each installation's repositories.
    pub async fn readable_repos(&self, token: &SecretString) -> Result<Vec<UserRepo>, GitHubError> {
        let installations: Installations = self.get(token, "/user/installations?per_page=100").await?;
        let mut repos = Vec::new();
        for inst in installations.installations {
            for page in 1..=MAX_PAGES {
                let path = format!("/user/installations/{}/repositories?per_page=100&page={page}", inst.id);
                let list: Repositories = self.get(token, &path).await?;
                let n = list.repositories.len();
                repos.extend(list.repositories.into_iter().map(|r| UserRepo {
                    id: r.id,
                    full_name: r.full_name,
                    permission: r.permissions.unwrap_or_default().strongest(),
                }));
                if n < 100 {
                    break;
                }
            }
        }
        Ok(repos)
    }
}

/// The headers of a call to GitHub's REST API made with reqwest.
pub(super) fn rest_api(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.header("accept", "application/vnd.github+json").header("x-github-api-version", "2022-11-28")
}

pub(super) fn transport(e: reqwest::Error) -> GitHubError {
    GitHubError::Transport { message: crate::masker::global().mask(&e.to_string()), not_sent: e.is_connect() }
}

pub(super) fn decode(what: &str, e: reqwest::Error) -> GitHubError {
    GitHubError::Decode { what: what.to_owned(), message: e.to_string() }
}

pub(super) fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
