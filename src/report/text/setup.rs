//! The first-run setup's words: the log lines at start-up, the `/setup` page,
//! and what its callback and import say when something is wrong.

/// The one start-up line while no App is configured.
pub fn not_configured_log(missing: &[&str]) -> String {
    format!(
        "GitHub App not configured (missing: {}); webhooks answer 503 until the first-run setup at /setup \
         creates or imports one",
        missing.join(", ")
    )
}

/// Where to open the setup, with the one-time code for a browser elsewhere.
pub fn code_log(public_url: &str, code: &str) -> String {
    format!(
        "first-run setup: open {public_url}/setup on this machine (http://localhost), or from another one \
         {public_url}/setup?code={code} (the code works once)"
    )
}

/// The setup configured the App.
pub fn configured_log(app_id: u64, slug: &str, file: &str) -> String {
    format!("GitHub App {slug} (id {app_id}) configured by the first-run setup; its credentials are in {file}")
}

pub const PARTS_STARTED: &str = "the App from the first-run setup is in place: control loop and workers started";
pub fn parts_failed(error: &str) -> String {
    format!("the App is configured, but jobs cannot run until Maxion is restarted: {error}")
}

pub const TITLE: &str = "Set up Maxion";
pub const INTRO: &str = "No GitHub App is configured yet, so Maxion cannot receive webhooks or run jobs. \
     Create one on GitHub from Maxion's manifest (app-manifest.yml: its permissions and events, with this \
     instance's addresses), or import an App you already have. Either way its credentials are written to";
pub const INTRO_AFTER: &str = "(readable by this user only) and Maxion starts taking webhooks at once, \
     without a restart.";
pub const START: &str = "Start the setup";
pub const MISSING: &str = "Or set these settings (environment, .env or --config file) and restart:";

pub const CREATE_TITLE: &str = "Create a new GitHub App";
pub fn create_intro(public_url: &str) -> String {
    format!(
        "GitHub will create the App with its webhook at {public_url}/webhook, then send you back here to \
         install it on your repositories."
    )
}
pub const OWNER_LABEL: &str = "Owner: your personal account, or an organization:";
pub const OWNER_PLACEHOLDER: &str = "organization (empty: your account)";
pub const OWNER_BUTTON: &str = "Use";
pub fn owner_is(owner: Option<&str>) -> String {
    match owner {
        Some(org) => format!("The App will belong to the organization {org}."),
        None => "The App will belong to your personal account.".to_owned(),
    }
}
pub const CREATE_BUTTON: &str = "Create the GitHub App on GitHub";
pub const BAD_ORG: &str = "That is not an organization name (letters, digits and single hyphens).";

/// Why an App cannot be created for this public URL.
pub fn unreachable_public_url(public_url: &str) -> String {
    format!(
        "MAXION_PUBLIC_URL is {public_url}: GitHub cannot deliver webhooks to a localhost, loopback or private \
         address. Set MAXION_PUBLIC_URL to an address GitHub can reach (your host name behind a TLS proxy, or a \
         tunnel) and restart Maxion, then create the App."
    )
}

pub const IMPORT_TITLE: &str = "Or import an App you already have";
pub const IMPORT_INTRO: &str = "From the App's page on GitHub: its App ID, a private key (Generate a private key), \
     the webhook secret you set, and for sign-in with GitHub its client id and a client secret. Maxion checks \
     them with GitHub (GET /app) before saving anything.";
pub const IMPORT_ID: &str = "App ID";
pub const IMPORT_KEY: &str = "Private key (PEM)";
pub const IMPORT_SECRET: &str = "Webhook secret";
pub const IMPORT_CLIENT_ID: &str = "Client ID (optional)";
pub const IMPORT_CLIENT_SECRET: &str = "Client secret (optional)";
pub const IMPORT_BUTTON: &str = "Check and import";

pub const BAD_APP_ID: &str = "The App ID is a number (on the App's page, \"App ID\").";
pub const BAD_KEY: &str = "The private key is not an RSA private key in PEM form \
     (-----BEGIN RSA PRIVATE KEY----- or -----BEGIN PRIVATE KEY-----, as GitHub's download).";
pub const BAD_SECRET: &str = "The webhook secret must not be empty, nor hold quotes or line breaks.";
pub const BAD_CLIENT: &str = "Give both the client id and the client secret, or neither (no quotes or line breaks).";
pub fn not_this_app(error: &str) -> String {
    format!(
        "GitHub did not accept this App ID with this private key (GET /app: {error}). Check that the key \
         belongs to the App and was not deleted."
    )
}

pub const FORBIDDEN: &str = "The setup opens only on the machine Maxion runs on (http://localhost), or with the \
     one-time setup code Maxion printed in its log at start-up: open /setup?code=… as that line says.";
pub const CODE_USED: &str = "That setup code is not valid (it works once). Restart Maxion for a new one, \
     or open the setup on the machine it runs on.";
pub const STALE: &str = "That setup link was stale or used already. Start again from /setup.";
pub const ALREADY: &str = "A GitHub App is configured already; nothing was changed.";
pub const DENIED: &str = "GitHub did not create the App.";
pub fn conversion_failed(error: &str) -> String {
    format!(
        "GitHub did not hand over the new App's credentials ({error}). The code from GitHub works once and \
         for an hour: start again from /setup (delete the half-made App on GitHub if one was created)."
    )
}
pub fn no_webhook_secret() -> &'static str {
    "GitHub created the App without a webhook secret. Set one on the App's page, then import the App here."
}
pub fn not_saved(error: &str) -> String {
    format!("The App's credentials could not be saved in the data directory: {error}. Nothing was changed.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording() {
        insta::assert_snapshot!(unreachable_public_url("http://localhost:3000"), @"MAXION_PUBLIC_URL is http://localhost:3000: GitHub cannot deliver webhooks to a localhost, loopback or private address. Set MAXION_PUBLIC_URL to an address GitHub can reach (your host name behind a TLS proxy, or a tunnel) and restart Maxion, then create the App.");
        insta::assert_snapshot!(code_log("https://maxion.example", "c0de"), @"first-run setup: open https://maxion.example/setup on this machine (http://localhost), or from another one https://maxion.example/setup?code=c0de (the code works once)");
        insta::assert_snapshot!(not_configured_log(&["GITHUB_APP_ID", "GITHUB_WEBHOOK_SECRET"]), @"GitHub App not configured (missing: GITHUB_APP_ID, GITHUB_WEBHOOK_SECRET); webhooks answer 503 until the first-run setup at /setup creates or imports one");
        insta::assert_snapshot!(conversion_failed("GitHub: not found: the manifest code"), @"GitHub did not hand over the new App's credentials (GitHub: not found: the manifest code). The code from GitHub works once and for an hour: start again from /setup (delete the half-made App on GitHub if one was created).");
        insta::assert_snapshot!(not_this_app("GitHub: unauthorized: A JSON web token could not be decoded"), @"GitHub did not accept this App ID with this private key (GET /app: GitHub: unauthorized: A JSON web token could not be decoded). Check that the key belongs to the App and was not deleted.");
    }
}
