//! `maxion doctor` as an operator runs it, against the fake GitHub, the fake
//! model upstream and the real Docker Engine: one line per check, the fix for
//! each failure, exit 0 only when all pass.

use std::process::Output;

use crate::support::docker::test_image;
use crate::support::fake_github::FakeGitHub;
use crate::support::fake_model::{ANTHROPIC_KEY, FakeModel};
use crate::support::service::WEBHOOK_SECRET;

const BIN: &str = env!("CARGO_BIN_EXE_maxion");

async fn doctor(gh: &FakeGitHub, dir: &std::path::Path, image: &str, args: &[&str]) -> Output {
    doctor_with(gh, dir, image, args, &[("MAXION_AGENT", "claude-code")]).await
}

async fn doctor_with(
    gh: &FakeGitHub,
    dir: &std::path::Path,
    image: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
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
        .envs(env.iter().copied())
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

/// Docker and the test image are there, or (outside CI) the test is skipped.
fn image_or_skip(what: &str) -> Option<String> {
    let image = test_image();
    if image.is_none() {
        assert_ne!(std::env::var("CI").as_deref(), Ok("true"), "CI has Docker and the test image");
        eprintln!("SKIPPED {what}: no Docker or no test image here");
    }
    image
}

#[tokio::test]
async fn doctor_names_the_agent_program_the_image_lacks_and_checks_filtered_dns() {
    let Some(image) = image_or_skip("the doctor's image checks") else { return };
    let gh = FakeGitHub::start().await;
    gh.set_hook_url("https://maxion.example/webhook");
    let dir = tempfile::tempdir().expect("dir");
    assert!(doctor(&gh, dir.path(), &image, &["migrate"]).await.status.success());

    // The default profile is pi, which the test image does not hold; its
    // default network is `filtered`, so the DNS isolation check runs.
    let out = doctor_with(&gh, dir.path(), &image, &["doctor"], &[]).await;
    let found = lines(&out);
    assert_eq!(out.status.code(), Some(1), "{found:#?}");
    let missing = line(&found, &format!("✘ sandbox image {image} lacks `pi`, the program of agent profile pi"));
    assert!(missing.contains("(it holds claude, codex, mini)"), "{missing}");
    assert!(missing.contains("fix: build the image from the `pi` stage of docker/sandbox.Dockerfile"), "{missing}");
    // This engine does not resolve outside names on internal networks (checked by trying).
    line(&found, "✔ internal networks resolve no outside names");

    // A profile whose program is there passes and lists what the image holds.
    let out = doctor(&gh, dir.path(), &image, &["doctor"]).await;
    let found = lines(&out);
    assert_eq!(
        line(&found, &format!("✔ sandbox image {image} holds")),
        format!("✔ sandbox image {image} holds claude, codex, mini; not pi (agent profile claude-code runs `claude`)")
    );
    line(&found, "✔ internal networks resolve no outside names");
    assert_eq!(out.status.code(), Some(0), "{found:#?}");

    // Without `filtered` configured or allowed, no container is started for it.
    let custom = [("MAXION_AGENT", "custom"), ("MAXION_AGENT_COMMAND", "true")];
    let out = doctor_with(&gh, dir.path(), &image, &["doctor"], &custom).await;
    let found = lines(&out);
    assert!(found.iter().all(|l| !l.contains("outside names")), "{found:#?}");
    line(&found, &format!("✔ sandbox image {image} holds claude, codex, mini; not pi (agent profile custom"));
    gh.assert_ok();
}

#[tokio::test]
async fn doctor_checks_each_configured_model_provider_with_its_real_key() {
    let gh = FakeGitHub::start().await;
    gh.set_hook_url("https://maxion.example/webhook");
    let model = FakeModel::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let anthropic_url = model.anthropic_url();
    let openai_url = model.openai_url();
    let env = [
        ("MAXION_AGENT", "claude-code"),
        ("ANTHROPIC_API_KEY", ANTHROPIC_KEY),
        ("MAXION_ANTHROPIC_URL", anthropic_url.as_str()),
        // Not the key the fake expects.
        ("OPENAI_API_KEY", "sk-proj-revoked-0000"),
        ("MAXION_OPENAI_URL", openai_url.as_str()),
    ];
    let out = doctor_with(&gh, dir.path(), "x", &["doctor"], &env).await;
    let found = lines(&out);
    assert_eq!(out.status.code(), Some(1), "{found:#?}");
    assert_eq!(
        line(&found, "✔ Anthropic"),
        format!("✔ Anthropic answers with the configured key (GET {anthropic_url}/v1/models)")
    );
    assert_eq!(
        line(&found, "✘ OpenAI"),
        format!(
            "✘ OpenAI refused the configured key: 401 from GET {openai_url}/models — fix: check OPENAI_API_KEY \
             (or OPENAI_API_KEY_FILE): the key is wrong, revoked or lacks access"
        )
    );
    let seen = model.requests();
    let anthropic = seen.iter().find(|r| r.path == "/v1/models").expect("the Anthropic models call");
    assert!(anthropic.key_ok && anthropic.method == "GET", "{anthropic:?}");
    assert!(seen.iter().all(|r| r.path.ends_with("/models")), "only the models lists are asked: {seen:?}");

    // Nothing listens at the URL: the line names the URL setting.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}/v1", closed.local_addr().expect("addr"));
    drop(closed);
    let env = [("MAXION_AGENT", "codex"), ("OPENAI_API_KEY", "sk-proj-x"), ("MAXION_OPENAI_URL", dead.as_str())];
    let out = doctor_with(&gh, dir.path(), "x", &["doctor"], &env).await;
    let found = lines(&out);
    let down = line(&found, &format!("✘ OpenAI unreachable at {dead}/models: "));
    assert!(
        down.ends_with("fix: check MAXION_OPENAI_URL (the provider's API base URL) and that this host can reach it"),
        "{down}"
    );
    assert!(found.iter().all(|l| !l.contains("Anthropic")), "no key, no line: {found:#?}");
    gh.assert_ok();
}
