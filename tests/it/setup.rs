//! The first run: `maxion serve` without an App serves `/setup`, which
//! creates the App from the manifest through the fake GitHub's manifest flow
//! (or imports one), writes it to the data directory's `.env` and starts
//! taking webhooks without a restart; the next start reads that `.env`.

use maxion::config::env_file;
use reqwest::redirect::Policy;
use serde_json::Value;

use crate::support::logs::Capture;
use crate::support::service::{TestService, has, without_app};

const PUBLIC_URL: &str = "https://maxion.example";

/// The service with no App; GitHub's web host is the fake too.
async fn first_run(tweak: impl FnOnce(&mut maxion::config::RawSettings)) -> TestService {
    TestService::start(|raw| {
        without_app(raw);
        raw.maxion_github_url = raw.github_api_url.clone();
        tweak(raw);
    })
    .await
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().expect("client")
}

/// A request as it arrives through a reverse proxy from another machine.
fn remote(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request.header("x-forwarded-for", "203.0.113.9")
}

/// `(status, body)` of a GET.
async fn get(request: reqwest::RequestBuilder) -> (u16, String) {
    let response = request.send().await.expect("request");
    (response.status().as_u16(), response.text().await.expect("body"))
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'").replace("&amp;", "&")
}

/// The value of `attribute` on the first tag after `marker` in `html`.
fn attribute(html: &str, marker: &str, attribute: &str) -> String {
    let at = html.find(marker).unwrap_or_else(|| panic!("no {marker} in:\n{html}"));
    let rest = &html[at..];
    let start = rest.find(&format!("{attribute}=\"")).expect("attribute") + attribute.len() + 2;
    let end = rest[start..].find('"').expect("closing quote");
    unescape(&rest[start..start + end])
}

/// The create form of `/setup`: (where it posts, the manifest).
fn create_form(html: &str) -> (String, String) {
    (attribute(html, "id=\"create-app\"", "action"), attribute(html, "name=\"manifest\"", "value"))
}

fn import_token(html: &str) -> String {
    attribute(html, "id=\"import-app\"", "value")
}

/// The browser posts the manifest to GitHub and is sent back: the callback's path and query.
async fn create_on_github(action: &str, manifest: &str) -> String {
    let created = browser().post(action).form(&[("manifest", manifest)]).send().await.expect("to GitHub");
    assert_eq!(created.status(), 302, "{:?}", created.text().await);
    let back = created.headers()["location"].to_str().expect("ascii").to_owned();
    back.strip_prefix(PUBLIC_URL).expect("back to the public URL").to_owned()
}

async fn configured(svc: &TestService) -> bool {
    let (status, health) = svc.api("/healthz").await;
    assert_eq!(status, 200);
    health["configured"].as_bool().expect("configured")
}

#[tokio::test]
async fn the_first_run_creates_the_app_and_takes_webhooks_without_a_restart() {
    let (log, _guard) = Capture::install();
    let mut svc = first_run(|_| {}).await;
    assert!(!configured(&svc).await);
    let issue = svc.issue("Add a flag");
    let (status, _) = svc.deliver("ping", "before-setup", b"{}").await;
    assert_eq!(status, 503, "no App yet");
    let (status, welcome) = get(svc.client.get(&svc.url)).await;
    assert_eq!(status, 200);
    has(&welcome, "href=\"/setup\"");

    // On this machine the page opens as it is.
    let opened = svc.client.get(format!("{}/setup", svc.url)).send().await.expect("setup");
    assert_eq!(opened.headers()["cache-control"], "no-store");
    let status = opened.status().as_u16();
    let page = opened.text().await.expect("page");
    assert_eq!(status, 200, "{page}");
    let (action, manifest) = create_form(&page);
    let prefix = format!("{}/settings/apps/new?state=", svc.gh.url());
    assert!(action.starts_with(&prefix), "{action}");
    let manifest_json: Value = serde_json::from_str(&manifest).expect("manifest JSON");
    assert_eq!(manifest_json["hook_attributes"]["url"], format!("{PUBLIC_URL}/webhook"));
    assert_eq!(manifest_json["redirect_url"], format!("{PUBLIC_URL}/setup/callback"));
    assert_eq!(manifest_json["callback_urls"][0], format!("{PUBLIC_URL}/auth/github/callback"));

    // GitHub creates the App and sends the browser back, through the public URL.
    let back = create_on_github(&action, &manifest).await;
    assert!(back.starts_with("/setup/callback?code="), "{back}");
    let done = remote(browser().get(format!("{}{back}", svc.url))).send().await.expect("callback");
    assert_eq!(done.status(), 303, "{:?}", done.text().await);
    let slug = svc.gh.app_slug();
    assert_eq!(done.headers()["location"], format!("{}/apps/{slug}/installations/new", svc.gh.url()));

    // The credentials, kept for the owner only.
    let secret = svc.gh.app_webhook_secret().expect("GitHub made a webhook secret");
    let file = env_file::path(&svc.data_dir());
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).expect(".env").permissions());
    assert_eq!(mode & 0o777, 0o600);
    let stored = env_file::read(&svc.data_dir()).expect("readable");
    assert_eq!(stored["GITHUB_APP_ID"], svc.gh.app_id().to_string());
    assert_eq!(stored["GITHUB_WEBHOOK_SECRET"], secret);
    assert_eq!(stored["GITHUB_APP_PRIVATE_KEY"].replace("\\n", "\n"), svc.gh.private_key_pem().trim());
    assert_eq!(stored["GITHUB_APP_CLIENT_ID"], svc.gh.app_client_id());
    assert_eq!(stored["GITHUB_APP_CLIENT_SECRET"], svc.gh.oauth_client_secret());

    // Webhooks now, and the control loop acting on them: no restart.
    assert!(configured(&svc).await);
    svc.webhook_secret = secret.clone();
    let job = svc.queued_job(issue, "").await;
    has(&svc.only_comment(issue).body, &format!("{PUBLIC_URL}/jobs/{}", job.id));
    let after = browser().get(format!("{}/setup", svc.url)).send().await.expect("setup");
    assert_eq!((after.status().as_u16(), after.headers()["location"].to_str().ok()), (303, Some("/")));
    let (status, _) = get(browser().get(format!("{}{back}", svc.url))).await;
    assert_eq!(status, 409, "the callback does nothing twice");

    let text = log.text();
    has(&text, "first-run setup: open https://maxion.example/setup");
    has(&text, "configured by the first-run setup");
    let pem_lines = svc.gh.private_key_pem().lines().filter(|l| !l.starts_with("-----")).collect::<Vec<_>>();
    for secret in [secret.as_str(), svc.gh.oauth_client_secret()].into_iter().chain(pem_lines) {
        assert!(!text.contains(secret), "a secret reached the log:\n{text}");
    }

    // The next start reads the data directory's .env.
    svc.running.take().expect("running").stop().await.expect("stop");
    svc.boot(without_app).await;
    assert!(configured(&svc).await);
    let again = svc.issue("Another one");
    svc.queued_job(again, "").await;
    svc.finish().await;
}

#[tokio::test]
async fn a_wrong_missing_or_used_state_is_refused_and_nothing_is_written() {
    let svc = first_run(|_| {}).await;
    let (_, page) = get(svc.client.get(format!("{}/setup", svc.url))).await;
    let (action, manifest) = create_form(&page);
    let back = create_on_github(&action, &manifest).await;
    let code = back.split("code=").nth(1).and_then(|r| r.split('&').next()).expect("code").to_owned();
    let state = action.split("state=").nth(1).expect("state").to_owned();
    let callback = |query: String| browser().get(format!("{}/setup/callback?{query}", svc.url));

    for query in [format!("code={code}"), format!("code={code}&state=made-up"), format!("state={state}")] {
        let (status, body) = get(callback(query.clone())).await;
        assert_eq!(status, 400, "{query}: {body}");
        has(&body, "stale or used already");
    }
    // A code GitHub does not know spends the state.
    let (status, body) = get(callback(format!("code=0123456789abcdef&state={state}"))).await;
    assert_eq!(status, 502, "{body}");
    let (status, _) = get(callback(format!("code={code}&state={state}"))).await;
    assert_eq!(status, 400, "the state works once");
    assert!(!env_file::path(&svc.data_dir()).exists(), "nothing written");
    assert!(!configured(&svc).await);
    let (status, _) = svc.deliver("ping", "still-nothing", b"{}").await;
    assert_eq!(status, 503);

    // GitHub's codes work once and for an hour.
    let api = svc.gh.url().to_owned();
    let fresh = svc.gh.issue_manifest_code(serde_json::from_str(&manifest).expect("json"));
    assert!(maxion::github::manifest::convert(&api, &fresh).await.is_ok());
    let used = maxion::github::manifest::convert(&api, &fresh).await.expect_err("used");
    assert_eq!(used.status(), Some(404));
    let old = svc.gh.issue_manifest_code(serde_json::from_str(&manifest).expect("json"));
    svc.gh.advance_clock(std::time::Duration::from_secs(3601));
    let expired = maxion::github::manifest::convert(&api, &old).await.expect_err("expired");
    assert_eq!(expired.status(), Some(404));
    svc.finish().await;
}

#[tokio::test]
async fn another_machine_needs_the_one_time_code_from_the_log() {
    let (log, _guard) = Capture::install();
    let svc = first_run(|_| {}).await;
    let setup = format!("{}/setup", svc.url);
    let (status, body) = get(remote(browser().get(&setup))).await;
    assert_eq!(status, 403);
    has(&body, "one-time setup code");
    let (status, _) = get(remote(browser().get(format!("{setup}?code=0000")))).await;
    assert_eq!(status, 403);
    let form = [("state", "x"), ("app_id", "1"), ("private_key", "k"), ("webhook_secret", "s")];
    let (status, _) = get(remote(browser().post(format!("{setup}/import")).form(&form))).await;
    assert_eq!(status, 403, "the import is guarded too");

    let text = log.text();
    let code = text
        .split("/setup?code=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_hexdigit()).next())
        .expect("the code in the log")
        .to_owned();
    let entered = remote(browser().get(format!("{setup}?code={code}"))).send().await.expect("with the code");
    assert_eq!(entered.status(), 303);
    let cookie = entered.headers()["set-cookie"].to_str().expect("ascii").to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/setup"] {
        has(&cookie, attribute);
    }
    let session = cookie.split(';').next().expect("name=value").to_owned();
    let (status, page) = get(remote(browser().get(&setup)).header("cookie", &session)).await;
    assert_eq!(status, 200);
    create_form(&page);
    let (status, _) = get(remote(browser().get(format!("{setup}?code={code}")))).await;
    assert_eq!(status, 403, "the code works once");
    svc.finish().await;
}

#[tokio::test]
async fn a_public_url_github_cannot_reach_is_refused() {
    let svc = first_run(|raw| raw.maxion_public_url = Some("http://localhost:3000".into())).await;
    let (status, page) = get(svc.client.get(format!("{}/setup", svc.url))).await;
    assert_eq!(status, 200);
    has(&page, &maxion::report::text::setup::unreachable_public_url("http://localhost:3000"));
    assert!(!page.contains("id=\"create-app\""), "no form to create an App with:\n{page}");
    svc.finish().await;
}

#[tokio::test]
async fn an_existing_app_is_imported_and_a_bad_one_writes_nothing() {
    let mut svc = first_run(|_| {}).await;
    let setup = format!("{}/setup", svc.url);
    let import = |token: String, id: String, key: &str| {
        let form = [
            ("state", token),
            ("app_id", id),
            ("private_key", key.to_owned()),
            ("webhook_secret", "imported-webhook-secret-0123456789".to_owned()),
            ("client_id", String::new()),
            ("client_secret", String::new()),
        ];
        browser().post(format!("{setup}/import")).form(&form)
    };
    let token = async || import_token(&get(svc.client.get(&setup)).await.1);

    let (status, page) = get(import(token().await, "1".into(), "not a key")).await;
    assert_eq!(status, 422);
    has(&page, "not an RSA private key");
    let (status, page) = get(import(token().await, "424243".into(), svc.gh.private_key_pem())).await;
    assert_eq!(status, 422);
    has(&page, "GitHub did not accept this App ID with this private key");
    let refused = svc.gh.take_violations();
    assert!(!refused.is_empty() && refused.iter().all(|v| v.contains("GET /app") && v.contains("401")), "{refused:?}");
    assert!(!env_file::path(&svc.data_dir()).exists(), "nothing written");
    assert!(!configured(&svc).await);

    let used = token().await;
    let done =
        import(used.clone(), svc.gh.app_id().to_string(), svc.gh.private_key_pem()).send().await.expect("import");
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()["location"], format!("{}/apps/{}/installations/new", svc.gh.url(), svc.gh.app_slug()));
    let stored = env_file::read(&svc.data_dir()).expect("written");
    assert_eq!(stored["GITHUB_WEBHOOK_SECRET"], "imported-webhook-secret-0123456789");
    assert!(!stored.contains_key("GITHUB_APP_CLIENT_ID"));
    assert!(configured(&svc).await);
    svc.webhook_secret = "imported-webhook-secret-0123456789".into();
    let issue = svc.issue("Imported");
    svc.queued_job(issue, "").await;
    let (status, _) = get(import(used, "1".into(), "k")).await;
    assert_eq!(status, 409, "a configured App is never replaced");
    svc.finish().await;
}
