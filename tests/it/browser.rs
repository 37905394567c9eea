//! A real browser (Debian's `chromium`, driven through `chromium-driver` with
//! fantoccini) on the job page: sign in with GitHub against the fake's OAuth
//! endpoints, watch log lines appear as the job writes them, force the event
//! stream to reconnect and check no line was lost or repeated, cancel from
//! the page, and see a user without access get the 404 page. A screenshot
//! of the job page is kept under `target/browser/`.
//!
//! Without chromium and chromium-driver the test prints a notice and passes,
//! except under `CI=true` (`.ci/run` installs both).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use maxion::jobs::{JobEvent, OutputStream};
use serde_json::json;

use crate::support::fake_github::UserType;
use crate::support::service::TestService;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// chromedriver, killed when dropped.
struct Driver(tokio::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

async fn start_driver() -> Option<(Driver, String)> {
    let present = std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists();
    if !present {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "CI must have chromium and chromium-driver");
        eprintln!("SKIPPED browser test: install chromium and chromium-driver to run it");
        return None;
    }
    let port = free_port();
    let child = tokio::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "chromedriver did not listen");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some((driver, url))
}

async fn browser(driver_url: &str) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": CHROMIUM, "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                                            "--disable-gpu", "--window-size=1280,1600"]}),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(driver_url)
        .await
        .expect("a browser session")
}

fn screenshot_dir() -> PathBuf {
    let target =
        std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target").into());
    PathBuf::from(target).join("browser")
}

/// The log lines the page shows, in order: `(number, text)`.
async fn shown_lines(client: &Client) -> Vec<(u64, String)> {
    let value = client
        .execute(
            "return Array.from(document.querySelectorAll('#log div.l')).map(function (l) {\
               return [parseInt(l.id.slice(1), 10), l.querySelector('.t').textContent]; });",
            vec![],
        )
        .await
        .expect("read the log");
    serde_json::from_value(value).expect("pairs")
}

async fn wait_for_text(client: &Client, text: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if shown_lines(client).await.iter().any(|(_, t)| t == text) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the page never showed {text:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_signed_in_user_follows_a_running_job_live_and_cancels_it() {
    let Some((_driver, driver_url)) = start_driver().await else { return };
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let public = base.clone();
    let ctl = TestService::start(move |raw| {
        raw.maxion_listen = Some(format!("127.0.0.1:{port}"));
        raw.maxion_public_url = Some(public);
        raw.github_app_client_id = Some("Iv23liFakeMaxionTest".into());
        raw.github_app_client_secret = Some("fake-oauth-client-secret-0123456789abcdef".into());
        raw.maxion_github_url = raw.github_api_url.clone();
    })
    .await;
    ctl.gh.set_oauth_callback(&format!("{base}/auth/github/callback"));
    ctl.gh.set_private(ctl.repo, true);
    ctl.gh.add_user("bob", UserType::User);
    ctl.gh.set_browser_user("alice");
    let issue = ctl.issue("Watch me");
    let job = ctl.queued_job(issue, "").await.id;
    ctl.run_elsewhere(job).await;
    let store = ctl.store().clone();
    let say = |text: String| {
        let store = store.clone();
        async move {
            let e = JobEvent::Output { step: "agent".into(), stream: OutputStream::Stdout, text: format!("{text}\n") };
            store.append_event(job, &e).await.expect("append");
        }
    };
    store.append_event(job, &JobEvent::StepStarted { step: "agent".into() }).await.expect("append");
    say("\u{1b}[32mline 1\u{1b}[0m".into()).await;

    let client = browser(&driver_url).await;
    // Not signed in: the sign-in page, then GitHub (the fake), then back to the job.
    client.goto(&format!("{base}/jobs/{job}")).await.expect("open");
    client
        .wait()
        .for_element(Locator::Css("#github-signin"))
        .await
        .expect("sign-in page")
        .click()
        .await
        .expect("click");
    client.wait().for_element(Locator::Css("#log")).await.expect("the job page");
    assert_eq!(client.current_url().await.expect("url").path(), format!("/jobs/{job}"));
    wait_for_text(&client, "line 1").await;

    // Lines appear as the job writes them.
    for n in 2..=3 {
        say(format!("line {n}")).await;
        wait_for_text(&client, &format!("line {n}")).await;
    }
    // The stream reconnects while lines are being written.
    client.execute("window.maxionReconnect();", vec![]).await.expect("reconnect");
    for n in 4..=6 {
        say(format!("line {n}")).await;
    }
    client.execute("window.maxionReconnect();", vec![]).await.expect("reconnect again");
    say("line 7".into()).await;
    wait_for_text(&client, "line 7").await;
    let lines = shown_lines(&client).await;
    let texts: Vec<&str> = lines.iter().map(|(_, t)| t.as_str()).filter(|t| t.starts_with("line ")).collect();
    assert_eq!(texts, ["line 1", "line 2", "line 3", "line 4", "line 5", "line 6", "line 7"], "{lines:?}");
    let numbers: Vec<u64> = lines.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>(), "line numbers run without gaps");

    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let png = client.screenshot().await.expect("screenshot");
    std::fs::write(dir.join("job-page.png"), &png).expect("keep the screenshot");
    assert!(png.starts_with(b"\x89PNG"));

    // Cancel from the page: asked as alice, carried out by the control loop.
    client.find(Locator::Css("#cancel")).await.expect("Cancel button").click().await.expect("click");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if store.cancel_requested_by(job).await.expect("read").as_deref() == Some("alice") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "cancel never requested");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // bob cannot read the repository: the job's page is the 404 page.
    client
        .wait()
        .for_element(Locator::Css("form.signout button"))
        .await
        .expect("sign-out")
        .click()
        .await
        .expect("click");
    client.wait().for_element(Locator::Css("#github-signin")).await.expect("signed out");
    ctl.gh.set_browser_user("bob");
    client.goto(&format!("{base}/jobs/{job}")).await.expect("open");
    client
        .wait()
        .for_element(Locator::Css("#github-signin"))
        .await
        .expect("sign-in page")
        .click()
        .await
        .expect("click");
    let message = client.wait().for_element(Locator::Css("p.message")).await.expect("a message page");
    assert!(message.text().await.expect("text").contains("No such page"));
    client.close().await.expect("close the browser");
    ctl.gh.assert_ok();
    ctl.stop().await;
}
