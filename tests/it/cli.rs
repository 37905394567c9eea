//! The `maxion` binary as an operator meets it: help text, start-up errors,
//! an unconfigured start, and a clean exit on SIGTERM.

use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_maxion");

fn clean_env<'a>(cmd: &'a mut Command, dir: &std::path::Path) -> &'a mut Command {
    for var in maxion::config::RawSettings::names() {
        cmd.env_remove(var);
    }
    cmd.current_dir(dir)
}

#[test]
fn help_documents_every_setting() {
    for args in [vec!["--help"], vec!["serve", "--help"], vec!["migrate", "--help"]] {
        let out = Command::new(BIN).args(&args).output().expect("run");
        assert!(out.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        for var in maxion::config::RawSettings::names() {
            assert!(text.contains(var), "{args:?} --help does not mention {var}");
        }
    }
}

/// An operator choosing an agent learns from `serve --help` how each profile
/// takes its model and which image stage holds its program.
#[test]
fn serve_help_documents_each_profile_its_model_and_image_stage() {
    let out = Command::new(BIN).args(["serve", "--help"]).output().expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    for (profile, stage) in [
        ("claude-code", "claude-code"),
        ("codex", "codex"),
        ("mini-swe-agent", "mini-swe-agent"),
        ("pi", "pi"),
        ("custom", "base"),
    ] {
        let line = text.lines().find(|l| l.trim_start().starts_with(&format!("- `{profile}`:")));
        let line = line.unwrap_or_else(|| panic!("no line for {profile} in serve --help:\n{text}"));
        assert!(line.contains("model:") && line.contains(&format!("image stage `{stage}`")), "{line}");
    }
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_it() {
    let dir = tempfile::tempdir().expect("dir");
    for (var, value) in [
        ("GITHUB_APP_PRIVATE_KEY", "-----BEGIN RSA PRIVATE KEY-----\\nnot a key\\n-----END RSA PRIVATE KEY-----"),
        ("GITHUB_API_URL", "not a url"),
        ("MAXION_LISTEN", "localhost"),
    ] {
        let out = clean_env(&mut Command::new(BIN), dir.path()).arg("serve").env(var, value).output().expect("run");
        assert_eq!(out.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{var}: {stderr}");
        assert!(lines[0].contains(var), "{var}: {stderr}");
    }
}

/// `maxion serve` in `dir` with `env`, once `/healthz` answers: the child,
/// its port and the health answer.
fn serve(dir: &std::path::Path, env: &[(&str, &str)]) -> (std::process::Child, u16, serde_json::Value) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let child = clean_env(&mut Command::new(BIN), dir)
        .arg("serve")
        .env("MAXION_LISTEN", format!("127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let url = format!("http://127.0.0.1:{port}/healthz");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let health = runtime.block_on(async {
        for _ in 0..200 {
            if let Ok(r) = reqwest::get(&url).await {
                return r.json::<serde_json::Value>().await.ok();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    });
    (child, port, health.expect("healthz answered"))
}

/// `POST /webhook` with `body` and the given signature: (status, answer).
fn webhook(port: u16, body: &'static str, signature: Option<String>) -> (u16, String) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut request = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/webhook"))
            .header("x-github-event", "ping")
            .header("x-github-delivery", "cli-ping-1")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-hub-signature-256", signature);
        }
        let r = request.send().await.expect("webhook");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    })
}

/// SIGTERM, a clean exit; what the service wrote to stderr.
fn stop(mut child: std::process::Child) -> String {
    let killed = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "exit status {status:?}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut stderr).expect("read");
    stderr
}

#[test]
fn unconfigured_serve_answers_health_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().expect("dir");
    let (child, port, health) = serve(dir.path(), &[]);
    assert_eq!(health["configured"], false);
    let (status, body) = webhook(port, "{}", None);
    assert_eq!(status, 503);
    assert!(body.contains("GITHUB_WEBHOOK_SECRET"), "{body}");
    assert!(dir.path().join("maxion.db").exists(), "the default SQLite file is created");

    let stderr = stop(child);
    let missing: Vec<&str> = stderr.lines().filter(|l| l.contains("not configured")).collect();
    assert_eq!(missing.len(), 1, "one clear line about missing settings: {stderr}");
    assert!(missing[0].contains("GITHUB_APP_ID"));
    assert!(stderr.contains("first-run setup: open http://localhost:3000/setup"), "{stderr}");
}

#[test]
fn serve_starts_with_the_app_the_setup_stored_in_the_data_directory() {
    let dir = tempfile::tempdir().expect("dir");
    let key = secrecy::SecretString::from(include_str!("../fixtures/test-app-key.pem").to_owned());
    let secret = secrecy::SecretString::from("cli-stored-webhook-secret-0123456789".to_owned());
    let stored =
        maxion::config::env_file::AppEnv { app_id: 424_242, private_key: &key, webhook_secret: &secret, oauth: None };
    // The default MAXION_DATA_DIR, below the working directory.
    maxion::config::env_file::write_app(&dir.path().join("maxion-data"), &stored).expect("stored");
    let (child, port, health) = serve(dir.path(), &[("MAXION_WORKERS", "0"), ("MAXION_REDELIVERY_INTERVAL", "0")]);
    assert_eq!(health["configured"], true);
    let body = r#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let signature = crate::support::service::sign("cli-stored-webhook-secret-0123456789", body.as_bytes());
    let (status, answer) = webhook(port, body, Some(signature));
    assert_eq!(status, 200, "{answer}");
    let (status, _) = webhook(port, body, Some(crate::support::service::sign("another secret", body.as_bytes())));
    assert_eq!(status, 401);
    let stderr = stop(child);
    assert!(!stderr.contains("not configured") && !stderr.contains("first-run setup"), "{stderr}");
}
