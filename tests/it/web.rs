//! The pages, through the real service against the fake GitHub: who gets in,
//! what the job page shows, and what its buttons do.

use maxion::jobs::{JobEvent, JobState, OutputStream};
use reqwest::redirect::Policy;

use crate::support::service::API_TOKEN;
use crate::support::service::TestService;
use crate::support::wait::eventually;
use crate::support::web::wait_state;

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(Policy::none()).build().expect("client")
}

/// Signs in with the API token; the session cookie (`name=value`).
async fn sign_in(base: &str) -> String {
    let response = browser()
        .post(format!("{base}/signin"))
        .form(&[("token", API_TOKEN), ("next", "/jobs")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/jobs");
    let cookie = response.headers()["set-cookie"].to_str().expect("ascii").to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains(API_TOKEN), "the cookie must not be the token");
    cookie.split(';').next().expect("name=value").to_owned()
}

async fn page(base: &str, path: &str, cookie: &str) -> (u16, String) {
    let response = browser().get(format!("{base}{path}")).header("cookie", cookie).send().await.expect("page");
    let status = response.status().as_u16();
    (status, response.text().await.expect("html"))
}

fn csrf(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a form with a CSRF token") + 19;
    html[at..].split('"').next().expect("value").to_owned()
}

#[tokio::test]
async fn pages_need_the_token_and_the_session_only_opens_reads() {
    let ctl = TestService::start(|_| {}).await;
    let base = ctl.url.as_str().to_owned();
    for path in ["/", "/jobs", "/jobs/1", "/jobs/1/log.txt"] {
        let response = browser().get(format!("{base}{path}")).send().await.expect("page");
        assert_eq!(response.status(), 303, "{path}");
        assert!(response.headers()["location"].to_str().expect("ascii").starts_with("/signin?next=%2F"), "{path}");
    }
    let wrong = browser().post(format!("{base}/signin")).form(&[("token", "guess")]).send().await.expect("sign in");
    assert_eq!(wrong.status(), 401);
    // An open redirect is not offered after sign-in.
    let away = browser()
        .post(format!("{base}/signin"))
        .form(&[("token", API_TOKEN), ("next", "//evil.example/")])
        .send()
        .await
        .expect("sign in");
    assert_eq!(away.headers()["location"], "/");
    let cookie = sign_in(&base).await;
    let (status, html) = page(&base, "/jobs", &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("No jobs yet"), "{html}");
    // The cookie opens the API's reads (the live log's stream) but no write.
    let issue = ctl.issue("Session");
    let job = ctl.queued_job(issue, "").await.id;
    let read = browser().get(format!("{base}/api/jobs/{job}")).header("cookie", &cookie).send().await.expect("read");
    assert_eq!(read.status(), 200);
    let write =
        browser().post(format!("{base}/api/jobs/{job}/cancel")).header("cookie", &cookie).send().await.expect("write");
    assert_eq!(write.status(), 401);
    // A form without the CSRF token does nothing.
    let forged = browser()
        .post(format!("{base}/jobs/{job}/cancel"))
        .header("cookie", &cookie)
        .form(&[("csrf", "forged")])
        .send()
        .await
        .expect("post");
    assert_eq!(forged.status(), 403);
    assert_eq!(ctl.job(job).await.state, JobState::Queued);
    ctl.stop().await;
}

#[tokio::test]
async fn the_job_page_shows_steps_coloured_log_lines_with_permalinks_and_cancels() {
    let ctl = TestService::start(|_| {}).await;
    let base = ctl.url.as_str().to_owned();
    let issue = ctl.issue("Page me");
    let job = ctl.queued_job(issue, "").await.id;
    ctl.run_elsewhere(job).await;
    let store = ctl.store();
    let events = [
        JobEvent::StepStarted { step: "setup".into() },
        JobEvent::Output { step: "setup".into(), stream: OutputStream::Stdout, text: "installing\n".into() },
        JobEvent::StepFinished { step: "setup".into(), ok: true, exit_code: Some(0), duration_ms: 1500, stopped: None },
        JobEvent::StepStarted { step: "verify".into() },
        JobEvent::Output {
            step: "verify".into(),
            stream: OutputStream::Stderr,
            text: "\u{1b}[1;31merror\u{1b}[0m: <script>alert(1)</script>\n".into(),
        },
        JobEvent::StepFinished {
            step: "verify".into(),
            ok: false,
            exit_code: Some(101),
            duration_ms: 20,
            stopped: None,
        },
    ];
    for e in &events {
        store.append_event(job, e).await.expect("append");
    }
    let cookie = sign_in(&base).await;
    let (status, html) = page(&base, &format!("/jobs/{job}"), &cookie).await;
    assert_eq!(status, 200);
    assert!(html.contains("acme/widgets#"), "header");
    assert!(html.contains("running (verify)") || html.contains("running"), "state");
    assert!(html.contains("setup — passed · 1.5 s"), "timeline: {html}");
    assert!(html.contains("failed (exit 101)"), "verification table");
    // ANSI colours become classes; the log's markup is escaped, never run.
    assert!(html.contains(r#"<span class="fg1 b">error</span>"#), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert"));
    // Lines have permalinks; the failing step is open.
    assert!(html.contains(r##"href="#L3""##) && html.contains(r#"id="L3""#), "{html}");
    assert!(html.contains(r#"class="step failed" data-step="verify" open"#), "{html}");
    let (status, raw) = page(&base, &format!("/jobs/{job}/log.txt"), &cookie).await;
    assert_eq!(status, 200);
    assert!(raw.contains("installing\n") && raw.contains("error"), "{raw}");
    assert_eq!(page(&base, "/jobs/999", &cookie).await.0, 404);

    // Cancel from the page: the running job is asked to stop, as by `/maxion cancel`.
    let token = csrf(&html);
    let response = browser()
        .post(format!("{base}/jobs/{job}/cancel"))
        .header("cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .expect("cancel");
    assert_eq!(response.status(), 303);
    crate::support::wait::until(std::time::Duration::from_secs(30), async || {
        match store.cancel_requested_by(job).await.expect("read") {
            Some(_) => Ok(()),
            None => Err("the cancellation was never requested".to_owned()),
        }
    })
    .await;
    ctl.gh.assert_ok();
    ctl.stop().await;
}

#[tokio::test]
async fn a_queued_job_cancelled_from_the_page_says_the_operator_did_it() {
    let ctl = TestService::start(|_| {}).await;
    let base = ctl.url.as_str().to_owned();
    let issue = ctl.issue("Cancel me");
    let job = ctl.queued_job(issue, "").await.id;
    let cookie = sign_in(&base).await;
    let (_, html) = page(&base, &format!("/jobs/{job}"), &cookie).await;
    let token = csrf(&html);
    let response = browser()
        .post(format!("{base}/jobs/{job}/cancel"))
        .header("cookie", &cookie)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .expect("cancel");
    assert_eq!(response.status(), 303);
    wait_state(ctl.store(), job, JobState::Cancelled).await;
    eventually("the status comment says the operator cancelled", || {
        ctl.status_comment(issue, job).body.contains("requested by the operator")
    })
    .await;
    let (_, html) = page(&base, &format!("/jobs/{job}"), &cookie).await;
    assert!(html.contains("id=\"retry\""), "a finished job offers Retry");
    ctl.stop().await;
}

#[tokio::test]
async fn without_an_app_the_front_page_says_what_to_set() {
    let service = TestService::intake(|raw| {
        raw.github_app_id = None;
        raw.github_webhook_secret = None;
    })
    .await;
    let response = browser().get(format!("{}/", service.url)).send().await.expect("page");
    assert_eq!(response.status(), 200);
    let html = response.text().await.expect("html");
    assert!(html.contains("GITHUB_APP_ID") && html.contains("GITHUB_WEBHOOK_SECRET"), "{html}");
    service.stop().await;
}
