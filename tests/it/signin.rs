//! Sign in with GitHub, through the fake GitHub's OAuth endpoints: who sees
//! which job, who may cancel it, and what a stale or forged callback gets.

use maxion::jobs::{JobId, JobState};
use reqwest::redirect::Policy;

use crate::support::fake_github::UserType;
use crate::support::service::TestService;
use crate::support::wait::eventually;
use crate::support::web::wait_state;

const CALLBACK: &str = "https://maxion.example/auth/github/callback";

async fn start() -> TestService {
    let ctl = TestService::start(|raw| {
        raw.github_app_client_id = Some("Iv23liFakeMaxionTest".into());
        raw.github_app_client_secret = Some("fake-oauth-client-secret-0123456789abcdef".into());
        // GitHub's web host is the fake too (sign-in happens there).
        raw.maxion_github_url = raw.github_api_url.clone();
    })
    .await;
    ctl.gh.set_oauth_callback(CALLBACK);
    ctl.gh.set_private(ctl.repo, true);
    ctl
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().expect("client")
}

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// The whole dance as a browser does it; the session cookie (`name=value`).
async fn sign_in_as(ctl: &TestService, login: &str, next: &str) -> String {
    ctl.gh.set_browser_user(login);
    let base = ctl.url.as_str();
    let start = browser().get(format!("{base}/auth/github?next={next}")).send().await.expect("start");
    assert_eq!(start.status(), 303);
    let state_cookie = set_cookie(&start, "maxion_oauth_state").expect("state cookie");
    let to_github = start.headers()["location"].to_str().expect("ascii").to_owned();
    assert!(to_github.starts_with(&format!("{}/login/oauth/authorize?client_id=", ctl.gh.url())), "{to_github}");
    let approved = browser().get(&to_github).send().await.expect("authorize");
    assert_eq!(approved.status(), 302);
    let back = approved.headers()["location"].to_str().expect("ascii").to_owned();
    let path = back.strip_prefix("https://maxion.example").expect("back to the public URL");
    let state = state_cookie.split(';').next().expect("name=value").to_owned();
    let done = browser().get(format!("{base}{path}")).header("cookie", &state).send().await.expect("callback");
    assert_eq!(done.status(), 303, "{:?}", done.text().await);
    assert_eq!(done.headers()["location"], next);
    let session = set_cookie(&done, "maxion_user").expect("session cookie");
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(session.contains(attribute), "{session}");
    }
    session.split(';').next().expect("name=value").to_owned()
}

async fn get(ctl: &TestService, path: &str, cookie: &str) -> (u16, String) {
    let r = browser().get(format!("{}{path}", ctl.url.as_str())).header("cookie", cookie).send().await.expect("get");
    let status = r.status().as_u16();
    (status, r.text().await.expect("body"))
}

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form") + 19;
    html[at..].split('"').next().expect("value").to_owned()
}

#[tokio::test]
async fn users_see_and_cancel_only_what_github_lets_them() {
    let ctl = start().await;
    ctl.gh.add_user("bob", UserType::User);
    ctl.gh.add_user("carol", UserType::User);
    ctl.gh.set_permission(ctl.repo, "carol", "read");
    let issue = ctl.issue("Private work");
    let job: JobId = ctl.queued_job(issue, "").await.id;
    let page = format!("/jobs/{job}");

    // bob cannot read the private repository: the job does not exist for him.
    let bob = sign_in_as(&ctl, "bob", "/jobs").await;
    assert_eq!(get(&ctl, &page, &bob).await.0, 404);
    assert_eq!(get(&ctl, &format!("{page}/log.txt"), &bob).await.0, 404);
    assert_eq!(get(&ctl, &format!("{page}/stream"), &bob).await.0, 404);
    let (status, list) = get(&ctl, "/jobs", &bob).await;
    assert_eq!(status, 200);
    assert!(!list.contains(&format!("href=\"{page}\"")), "{list}");
    // The user's session opens no API route.
    let api = browser().get(format!("{}/api/jobs", ctl.url.as_str())).header("cookie", &bob).send().await.expect("api");
    assert_eq!(api.status(), 401);

    // carol reads it but may not cancel it.
    let carol = sign_in_as(&ctl, "carol", &page).await;
    let (status, html) = get(&ctl, &page, &carol).await;
    assert_eq!(status, 200);
    assert!(!html.contains("id=\"cancel\""), "no Cancel for a reader");
    let refused = browser()
        .post(format!("{}{page}/cancel", ctl.url.as_str()))
        .header("cookie", &carol)
        .form(&[("csrf", csrf(&html).as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 403);

    // alice has write: she sees it in her list and cancels it from the page.
    let alice = sign_in_as(&ctl, "alice", &page).await;
    let (_, list) = get(&ctl, "/jobs", &alice).await;
    assert!(list.contains(&format!("href=\"{page}\"")), "{list}");
    let (status, html) = get(&ctl, &page, &alice).await;
    assert_eq!(status, 200);
    assert!(html.contains("@alice") && html.contains("id=\"cancel\""), "{html}");
    let cancelled = browser()
        .post(format!("{}{page}/cancel", ctl.url.as_str()))
        .header("cookie", &alice)
        .form(&[("csrf", csrf(&html).as_str())])
        .send()
        .await
        .expect("post");
    assert_eq!(cancelled.status(), 303);
    wait_state(ctl.store(), job, JobState::Cancelled).await;
    eventually("the status comment names @alice", || ctl.status_comment(issue, job).body.contains("@alice")).await;

    // Sign-out ends the session on the server, not only in the browser.
    let (_, html) = get(&ctl, &page, &alice).await;
    let out = browser()
        .post(format!("{}/signout", ctl.url.as_str()))
        .header("cookie", &alice)
        .form(&[("csrf", csrf(&html).as_str())])
        .send()
        .await
        .expect("sign out");
    assert_eq!(out.status(), 303);
    assert_eq!(get(&ctl, &page, &alice).await.0, 303);
    ctl.gh.assert_ok();
    ctl.stop().await;
}

#[tokio::test]
async fn a_callback_not_started_by_this_browser_or_denied_signs_nobody_in() {
    let ctl = start().await;
    ctl.gh.set_browser_user("alice");
    let base = ctl.url.as_str().to_owned();
    let start = browser().get(format!("{base}/auth/github")).send().await.expect("start");
    let to_github = start.headers()["location"].to_str().expect("ascii").to_owned();
    let approved = browser().get(&to_github).send().await.expect("authorize");
    let back = approved.headers()["location"].to_str().expect("ascii").to_owned();
    let path = back.strip_prefix("https://maxion.example").expect("public URL").to_owned();
    // Without the state cookie (a link someone else started): refused, and the code unused.
    let forged = browser().get(format!("{base}{path}")).send().await.expect("callback");
    assert_eq!(forged.status(), 400);
    assert!(set_cookie(&forged, "maxion_user").is_none());
    assert!(ctl.gh.requests().iter().all(|r| r.path != "/login/oauth/access_token"));
    // Denied on GitHub's page.
    ctl.gh.set_oauth_denied(true);
    let start = browser().get(format!("{base}/auth/github")).send().await.expect("start");
    let state = set_cookie(&start, "maxion_oauth_state").expect("cookie").split(';').next().expect("kv").to_owned();
    let to_github = start.headers()["location"].to_str().expect("ascii").to_owned();
    let denied = browser().get(&to_github).send().await.expect("authorize");
    let back = denied.headers()["location"].to_str().expect("ascii").to_owned();
    let path = back.strip_prefix("https://maxion.example").expect("public URL").to_owned();
    let refused = browser().get(format!("{base}{path}")).header("cookie", state).send().await.expect("callback");
    assert_eq!(refused.status(), 400);
    assert!(set_cookie(&refused, "maxion_user").is_none());
    ctl.gh.assert_ok();
    ctl.stop().await;
}
