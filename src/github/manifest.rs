//! GitHub's App manifest flow: the manifest Maxion asks GitHub to create its
//! App from (`app-manifest.yml` with this instance's addresses), where the
//! browser posts it (`{github}/settings/apps/new`, or an organization's), and
//! the exchange of the one-time code GitHub hands back for the new App's
//! credentials (`POST /app-manifests/{code}/conversions`, unauthenticated).
//!
//! The credentials are registered with the masker the moment they arrive.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::GitHubError;
use super::user::{decode, form_encode, rest_api, transport};

/// The manifest shipped with Maxion (the permissions and events it needs).
pub const MANIFEST_YAML: &str = include_str!("../../app-manifest.yml");

const TIMEOUT: Duration = Duration::from_secs(30);

/// The manifest for an instance reached at `public_url`: GitHub delivers
/// webhooks to `/webhook`, sends the browser back to `/setup/callback` with
/// the code, signs users in through `/auth/github/callback`, and after an
/// installation returns them to the job list.
pub fn manifest(public_url: &str) -> Result<Value, GitHubError> {
    let mut m: Value = serde_saphyr::from_str(MANIFEST_YAML)
        .map_err(|e| GitHubError::Config(format!("app-manifest.yml does not parse: {e}")))?;
    let base = public_url.trim_end_matches('/');
    m["url"] = json!(base);
    m["hook_attributes"]["url"] = json!(format!("{base}/webhook"));
    m["hook_attributes"]["active"] = json!(true);
    m["redirect_url"] = json!(format!("{base}/setup/callback"));
    m["callback_urls"] = json!([format!("{base}/auth/github/callback")]);
    m["setup_url"] = json!(format!("{base}/"));
    m["setup_on_update"] = json!(false);
    m["request_oauth_on_install"] = json!(false);
    Ok(m)
}

/// Whether `name` can be a GitHub organization's login.
pub fn valid_org(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 39
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Where the setup page's form posts the manifest: the user's own account,
/// or the organization `org` (checked with [`valid_org`] by the caller).
pub fn new_app_url(github_url: &str, org: Option<&str>, state: &str) -> String {
    let base = github_url.trim_end_matches('/');
    match org {
        Some(org) => format!("{base}/organizations/{org}/settings/apps/new?state={}", form_encode(state)),
        None => format!("{base}/settings/apps/new?state={}", form_encode(state)),
    }
}

/// The App GitHub created, with its credentials.
#[derive(Deserialize)]
pub struct CreatedApp {
    pub id: u64,
    pub slug: String,
    /// The App's page on GitHub; `/installations/new` installs it.
    pub html_url: String,
    pub pem: SecretString,
    /// GitHub answers `null` when the manifest set no webhook.
    pub webhook_secret: Option<SecretString>,
    pub client_id: String,
    pub client_secret: SecretString,
}

impl std::fmt::Debug for CreatedApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedApp").field("id", &self.id).field("slug", &self.slug).finish_non_exhaustive()
    }
}

/// Whether `code` may be put into the conversion's path as it is.
pub fn valid_code(code: &str) -> bool {
    !code.is_empty() && code.len() <= 128 && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `POST {api}/app-manifests/{code}/conversions`: the new App's id, key,
/// webhook secret and OAuth client. The code works once, within an hour.
pub async fn convert(api_url: &str, code: &str) -> Result<CreatedApp, GitHubError> {
    if !valid_code(code) {
        return Err(GitHubError::Validation { message: "not a manifest code".into(), errors: Vec::new() });
    }
    let http = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("maxion/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(transport)?;
    let url = format!("{}/app-manifests/{code}/conversions", api_url.trim_end_matches('/'));
    let response = rest_api(http.post(url)).send().await.map_err(transport)?;
    let status = response.status().as_u16();
    crate::metrics::github_request("POST /app-manifests/{code}/conversions", status);
    match status {
        201 => {
            let app: CreatedApp = response.json().await.map_err(|e| decode("the created App", e))?;
            register(&app);
            Ok(app)
        }
        404 => Err(GitHubError::NotFound { what: "the manifest code (used already, or older than an hour)".into() }),
        422 => Err(GitHubError::Validation { message: "GitHub refused the manifest code".into(), errors: Vec::new() }),
        _ => Err(GitHubError::Api { status, message: "POST /app-manifests/{code}/conversions".into() }),
    }
}

/// Nothing of the new App's secrets may reach a log line or a page.
fn register(app: &CreatedApp) {
    let masker = crate::masker::global();
    for secret in [Some(&app.pem), app.webhook_secret.as_ref(), Some(&app.client_secret)].into_iter().flatten() {
        let _ = masker.add(secret);
    }
    register_pem_lines(&app.pem);
}

/// The PEM's body lines are what would appear if the key leaked in pieces.
pub fn register_pem_lines(pem: &SecretString) {
    for line in pem.expose_secret().lines().filter(|l| !l.starts_with("-----") && l.len() >= 16) {
        let _ = crate::masker::global().add(&SecretString::from(line.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_points_github_at_this_instance() {
        let m = manifest("https://maxion.example/").expect("parses");
        assert_eq!(m["hook_attributes"]["url"], "https://maxion.example/webhook");
        assert_eq!(m["redirect_url"], "https://maxion.example/setup/callback");
        assert_eq!(m["callback_urls"][0], "https://maxion.example/auth/github/callback");
        assert_eq!(m["default_permissions"]["contents"], "write");
        assert!(m["default_events"].as_array().is_some_and(|e| e.iter().any(|e| e == "issue_comment")));
    }

    #[test]
    fn the_form_goes_to_the_account_or_the_organization() {
        assert_eq!(new_app_url("https://github.com", None, "a b"), "https://github.com/settings/apps/new?state=a%20b");
        assert_eq!(
            new_app_url("https://ghe.example", Some("acme"), "s"),
            "https://ghe.example/organizations/acme/settings/apps/new?state=s"
        );
        assert!(valid_org("acme-1") && !valid_org("-acme") && !valid_org("a/b") && !valid_org(""));
        assert!(valid_code("0123abcDEF") && !valid_code("../app") && !valid_code(""));
    }
}
