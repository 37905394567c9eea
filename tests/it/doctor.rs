//! `maxion doctor` as an operator runs it, against the fake GitHub: one line
//! per check, the fix for each failure, exit 0 only when all pass.

use std::process::Output;

use crate::support::docker::test_image;
use crate::support::fake_github::FakeGitHub;
use crate::support::service::WEBHOOK_SECRET;

const BIN: &str = env!("CARGO_BIN_EXE_maxion");

async fn doctor(gh: &FakeGitHub, dir: &std::path::Path, image: &str, args: &[&str]) -> Output {
    let mut cmd = tokio::process::Command::new(BIN);
    for var in maxion::config::RawSettings::names() {
        cmd.env_remove(var);
    }
    cmd.current_dir(dir)
        .args(args)
        .env("DATABASE_URL", format!("sqlite://{}", dir.join("maxion.db").display()))
        .env("MAXION_DATA_DIR", dir.join("data"))
        .env("GITHUB_APP_ID", gh.app_id().to_string())
        .env("GITHUB_APP_PRIVATE_KEY", gh.private_key_pem())
        .env("GITHUB_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("GITHUB_API_URL", gh.url())
        .env("MAXION_PUBLIC_URL", "https://maxion.example")
        .env("MAXION_SANDBOX_IMAGE", image)
        .output()
        .await
        .expect("run maxion")
}

fn lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
}

fn line<'a>(lines: &'a [String], start: &str) -> &'a str {
    lines.iter().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no line starting {start:?} in {lines:#?}"))
}

#[tokio::test]
async fn doctor_names_each_failure_with_its_fix_and_passes_once_they_are_fixed() {
    let gh = FakeGitHub::start().await;
    let dir = tempfile::tempdir().expect("dir");
    gh.set_hook_url("https://old-host.example/webhook");
    let out = doctor(&gh, dir.path(), "maxion-doctor-no-such-image:1", &["doctor"]).await;
    let first = lines(&out);
    assert_eq!(out.status.code(), Some(1), "{first:#?}");
    assert!(first.iter().all(|l| l.starts_with('✔') || l.starts_with('✘')), "{first:#?}");
    assert_eq!(line(&first, "✔ settings"), "✔ settings parse");
    assert!(line(&first, "✘ database:").contains("fix: run `maxion migrate`"));
    assert!(line(&first, "✔ data directory").contains("writable"));
    assert!(line(&first, "✔ GitHub App maxion-test").contains("authenticates"));
    assert!(
        line(&first, "✘ App webhook URL is https://old-host.example/webhook, not https://maxion.example/webhook")
            .contains("fix: set the App's webhook URL to https://maxion.example/webhook")
    );
    // Docker is optional on a developer's machine, required under CI.
    let docker_line = first.iter().find(|l| l.contains("Docker")).expect("a Docker line");
    if docker_line.starts_with('✔') {
        assert!(line(&first, "✘ sandbox image maxion-doctor-no-such-image:1 not found").contains("fix:"));
    }

    // Fix what it said: migrate, correct the webhook URL, name an existing image.
    let migrated = doctor(&gh, dir.path(), "x", &["migrate"]).await;
    assert!(migrated.status.success());
    gh.set_hook_url("https://maxion.example/webhook");
    let image = test_image();
    let out = doctor(&gh, dir.path(), image.as_deref().unwrap_or("maxion-doctor-no-such-image:1"), &["doctor"]).await;
    let second = lines(&out);
    assert!(line(&second, "✔ database migrations current").contains("applied"));
    assert_eq!(line(&second, "✔ App webhook URL"), "✔ App webhook URL is https://maxion.example/webhook");
    match image {
        Some(_) if second.iter().all(|l| l.starts_with('✔')) => assert_eq!(out.status.code(), Some(0), "{second:#?}"),
        _ if std::env::var("CI").as_deref() == Ok("true") => panic!("CI has Docker and the test image: {second:#?}"),
        _ => {
            eprintln!("SKIPPED the all-pass half of the doctor test: no Docker or no test image here");
            assert_eq!(out.status.code(), Some(1));
        }
    }
    // A setting that does not parse is the one failing line.
    let mut bad = tokio::process::Command::new(BIN);
    for var in maxion::config::RawSettings::names() {
        bad.env_remove(var);
    }
    let out = bad.current_dir(dir.path()).arg("doctor").env("MAXION_LISTEN", "nowhere").output().await.expect("run");
    assert_eq!(out.status.code(), Some(1));
    assert!(lines(&out)[0].starts_with("✘ settings: MAXION_LISTEN"), "{:?}", lines(&out));
    gh.assert_ok();
}
