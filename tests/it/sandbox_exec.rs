//! Sandbox behaviour against a real Docker Engine: exec basics, files in and
//! out, timeouts, the job deadline, cancellation, huge output, secret masking
//! and the sweep of containers a killed process left behind.

use std::sync::Arc;
use std::time::Duration;

use crate::support::docker::{DockerTest, sh, sh_with, sink, text_of};
use maxion::masker::Masker;
use maxion::sandbox::{ExecOutcome, ExecRequest, OutputStream, Sandbox, SandboxError, SandboxState, sweep_orphans};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn exec_runs_as_sandbox_user_with_env_workdir_and_exit_code() {
    let Some(t) = DockerTest::new("basics").await else { return };
    let sb = Sandbox::start(&t.docker, &t.settings(), "job-basics", CancellationToken::new()).await.unwrap();
    let secret = SecretString::from("tok-0123456789abcdef");
    let req = ExecRequest::new(["bash", "-c", "id -u; id -g; pwd; echo \"$GREETING\"; echo to-stderr >&2; exit 3"])
        .workdir("/tmp")
        .env("GREETING", "hello there")
        .secret_env("API_TOKEN", secret);
    let (tx, collector) = sink();
    let r = sb.exec(req, &tx).await.unwrap();
    drop(tx);
    let events = collector.await.unwrap();
    assert_eq!(r.outcome, ExecOutcome::Exited { code: 3 });
    assert_eq!(text_of(&events, Some(OutputStream::Stdout)), "1000\n1000\n/tmp\nhello there\n");
    assert_eq!(text_of(&events, Some(OutputStream::Stderr)), "to-stderr\n");

    // The secret went to that exec only: not into the container's own environment.
    let info = t.docker.inspect_container(sb.container_id(), None).await.unwrap();
    let config = info.config.unwrap();
    let labels = config.labels.unwrap_or_default();
    assert_eq!(labels["maxion.job"], "job-basics");
    assert_eq!(labels["maxion.instance"], t.instance);
    let env = config.env.unwrap_or_default();
    assert!(env.iter().all(|e| !e.contains("tok-0123456789abcdef")), "{env:?}");
    let (r, out) = sh(&sb, "echo \"token=[$API_TOKEN]\"").await;
    assert!(r.unwrap().outcome.succeeded());
    assert_eq!(out, "token=[]\n");
    sb.remove().await.unwrap();
    assert!(!t.container_exists(sb.container_id()).await);
}

#[tokio::test]
async fn missing_image_is_a_clear_error_and_nothing_is_pulled() {
    let Some(t) = DockerTest::new("noimage").await else { return };
    let settings =
        maxion::sandbox::SandboxSettings { image: "maxion-sandbox-does-not-exist:never".into(), ..t.settings() };
    let err = Sandbox::start(&t.docker, &settings, "job-x", CancellationToken::new()).await.unwrap_err();
    assert!(matches!(err, SandboxError::ImageMissing { .. }));
    let msg = err.to_string();
    assert!(msg.contains("maxion-sandbox-does-not-exist:never") && msg.contains("docker build"), "{msg}");
    assert!(t.docker.inspect_image("maxion-sandbox-does-not-exist:never").await.is_err());
}

#[tokio::test]
async fn files_go_in_and_out_as_tar_streams() {
    let Some(t) = DockerTest::new("transfer").await else { return };
    let sb = Sandbox::start(&t.docker, &t.settings(), "job-tar", CancellationToken::new()).await.unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("sub dir")).unwrap();
    std::fs::write(src.path().join("sub dir/it's \"quoted\" $HOME.txt"), "content\n").unwrap();
    std::fs::write(src.path().join("run.sh"), "#!/bin/sh\necho ran\n").unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(src.path().join("run.sh")).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(src.path().join("run.sh"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", src.path().join("link")).unwrap();
    sb.upload_dir(src.path(), "/workspace/repo").await.unwrap();

    // 300 KiB: more than one argument may hold, so it cannot have gone via argv.
    let prompt = "p".repeat(300 * 1024);
    sb.upload_file("/workspace/prompt/prompt.md", prompt.as_bytes(), 0o644).await.unwrap();

    let (r, out) = sh(
        &sb,
        "cd /workspace/repo && cat \"sub dir/it's \\\"quoted\\\" \\$HOME.txt\" && ./run.sh && readlink link \
         && stat -c '%u %s' /workspace/prompt/prompt.md",
    )
    .await;
    assert!(r.unwrap().outcome.succeeded(), "{out}");
    assert_eq!(out, format!("content\nran\n/etc/passwd\n1000 {}\n", prompt.len()));

    let (r, _) = sh(&sb, "mkdir -p /workspace/repo/new && echo made > /workspace/repo/new/file").await;
    assert!(r.unwrap().outcome.succeeded());
    let dest = tempfile::tempdir().unwrap();
    sb.download_to_dir("/workspace/repo", dest.path()).await.unwrap();
    assert_eq!(std::fs::read_to_string(dest.path().join("repo/new/file")).unwrap(), "made\n");
    assert_eq!(
        std::fs::read_to_string(dest.path().join("repo/sub dir/it's \"quoted\" $HOME.txt")).unwrap(),
        "content\n"
    );

    let err = sb.download_to_dir("/workspace/nope", dest.path()).await.unwrap_err();
    assert!(matches!(err, SandboxError::Transfer(_)), "{err}");
    sb.remove().await.unwrap();
}

#[tokio::test]
async fn exec_timeout_kills_the_whole_process_tree() {
    let Some(t) = DockerTest::new("exectimeout").await else { return };
    let sb = Sandbox::start(&t.docker, &t.settings(), "job-timeout", CancellationToken::new()).await.unwrap();
    let req =
        ExecRequest::new(["bash", "-c", "sleep 600 & sleep 601 & echo started; wait"]).timeout(Duration::from_secs(2));
    let (r, out) = sh_with(&sb, req).await;
    let r = r.unwrap();
    assert_eq!(r.outcome, ExecOutcome::TimedOut { after: Duration::from_secs(2) }, "{out}");
    assert_eq!(out, "started\n");
    // Neither background sleep survived, and the sandbox still works.
    let (r, out) = sh(&sb, "ps -eo args | grep -c '^sleep 60[01]' || true").await;
    assert!(r.unwrap().outcome.succeeded());
    assert_eq!(out.trim(), "0");
    sb.remove().await.unwrap();
}

#[tokio::test]
async fn background_processes_die_with_their_step() {
    let Some(t) = DockerTest::new("leftovers").await else { return };
    let sb = Sandbox::start(&t.docker, &t.settings(), "job-leftovers", CancellationToken::new()).await.unwrap();
    let (r, _) = sh(&sb, "sleep 602 >/dev/null 2>&1 & echo started").await;
    assert!(r.unwrap().outcome.succeeded());
    let (r, out) = sh(&sb, "ps -eo args | grep -c '^sleep 602' || true").await;
    assert!(r.unwrap().outcome.succeeded());
    assert_eq!(out.trim(), "0");
    sb.remove().await.unwrap();
}

#[tokio::test]
async fn job_deadline_kills_the_sandbox_and_refuses_later_steps() {
    let Some(t) = DockerTest::new("deadline").await else { return };
    let settings = maxion::sandbox::SandboxSettings { job_deadline: Duration::from_secs(3), ..t.settings() };
    let sb = Sandbox::start(&t.docker, &settings, "job-deadline", CancellationToken::new()).await.unwrap();
    let (r, _) = sh(&sb, "sleep 600").await;
    assert!(matches!(r, Err(SandboxError::TimedOut(d)) if d == Duration::from_secs(3)), "{r:?}");
    assert_eq!(sb.state(), SandboxState::TimedOut);
    assert!(!t.container_running(sb.container_id()).await);
    let (r, _) = sh(&sb, "echo again").await;
    assert!(matches!(r, Err(SandboxError::TimedOut(_))), "{r:?}");
    sb.remove().await.unwrap();
    assert!(!t.container_exists(sb.container_id()).await);
}

#[tokio::test]
async fn cancellation_stops_the_exec_and_kills_the_container_quickly() {
    let Some(t) = DockerTest::new("cancel").await else { return };
    let cancel = CancellationToken::new();
    let sb = Sandbox::start(&t.docker, &t.settings(), "job-cancel", cancel.clone()).await.unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let exec = sb.exec(ExecRequest::new(["bash", "-c", "echo running; exec sleep 600"]), &tx);
    tokio::pin!(exec);
    // Cancel once the command has visibly started (its first output arrived),
    // or when the exec ends without output (the placeholder masker holds all).
    let cancelled_at = tokio::select! {
        _ = rx.recv() => { cancel.cancel(); tokio::time::Instant::now() }
        r = &mut exec => panic!("exec ended before cancellation: {r:?}"),
        _ = async { loop { if t.docker.top_processes(sb.container_id(), None::<bollard::query_parameters::TopOptions>).await
                .ok().and_then(|p| p.processes).is_some_and(|p| p.iter().any(|row| row.iter().any(|c| c.contains("sleep 600"))))
                { break } tokio::task::yield_now().await } } => { cancel.cancel(); tokio::time::Instant::now() }
    };
    let r = exec.await;
    let took = cancelled_at.elapsed();
    assert!(matches!(r, Err(SandboxError::Cancelled)), "{r:?}");
    assert!(!t.container_running(sb.container_id()).await);
    assert!(took < Duration::from_secs(2), "cancel took {took:?}");
    // A cancelled sandbox is never silently re-created.
    let (r, _) = sh(&sb, "echo again").await;
    assert!(matches!(r, Err(SandboxError::Cancelled)), "{r:?}");
    sb.remove().await.unwrap();
}

#[tokio::test]
async fn cancellation_between_steps_kills_the_idle_container() {
    let Some(t) = DockerTest::new("cancelidle").await else { return };
    let cancel = CancellationToken::new();
    let sb = Sandbox::start(&t.docker, &t.settings(), "job-cancel-idle", cancel.clone()).await.unwrap();
    let (r, _) = sh(&sb, "true").await;
    assert!(r.unwrap().outcome.succeeded());
    cancel.cancel();
    assert_eq!(sb.wait_dead().await, SandboxState::Cancelled);
    let err = sb.upload_file("/workspace/x", b"late", 0o644).await.unwrap_err();
    assert!(matches!(err, SandboxError::Cancelled), "{err}");
    // The watchdog's kill reached the engine: the exec refusal waited for it.
    let (r, _) = sh(&sb, "true").await;
    assert!(matches!(r, Err(SandboxError::Cancelled)), "{r:?}");
    // The kill was sent; wait for the engine to report the container stopped.
    let opts = bollard::query_parameters::WaitContainerOptionsBuilder::new().condition("not-running").build();
    let mut waited = t.docker.wait_container(sb.container_id(), Some(opts));
    use futures_util::StreamExt;
    let stopped = tokio::time::timeout(Duration::from_secs(2), waited.next()).await;
    assert!(stopped.is_ok(), "the container still runs 2 s after cancellation");
    assert!(!t.container_running(sb.container_id()).await);
    sb.remove().await.unwrap();
    assert!(!t.container_exists(sb.container_id()).await);
}

#[tokio::test]
async fn dropping_a_sandbox_removes_its_container() {
    let Some(t) = DockerTest::new("guard").await else { return };
    let sb = Sandbox::start(&t.docker, &t.settings(), "job-guard", CancellationToken::new()).await.unwrap();
    let id = sb.container_id().to_owned();
    let sb = Arc::new(sb);
    // A panic in the job's task drops the sandbox during unwinding.
    let held = Arc::clone(&sb);
    drop(sb);
    let panicked = tokio::spawn(async move {
        let _sb = held;
        panic!("job task panics");
    })
    .await;
    assert!(panicked.is_err());
    let mut events = t.docker.events(Some(
        bollard::query_parameters::EventsOptionsBuilder::new()
            .filters(&std::collections::HashMap::from([
                ("container".to_owned(), vec![id.clone()]),
                ("event".to_owned(), vec!["destroy".to_owned()]),
            ]))
            .since("0")
            .build(),
    ));
    use futures_util::StreamExt;
    let destroyed = tokio::time::timeout(Duration::from_secs(30), events.next()).await;
    assert!(matches!(destroyed, Ok(Some(Ok(_)))), "{destroyed:?}");
    assert!(!t.container_exists(&id).await);
}

/// Peak memory is a per-process figure, so the measurement runs in a process
/// of its own: under `cargo test` other tests share this one.
#[test]
fn a_gigabyte_of_output_is_capped_with_bounded_memory() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "sandbox_exec::gigabyte_child", "--ignored", "--nocapture", "--test-threads=1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the measured child failed:\n{stderr}");
    // The child skips (and says so) without Docker, failing instead under CI=true.
    assert!(
        stderr.contains("peak RSS grew by") || stderr.contains("SKIPPED"),
        "the child did not run the measurement:\n{stderr}"
    );
}

#[tokio::test]
#[ignore = "run only as the child of a_gigabyte_of_output_is_capped_with_bounded_memory"]
async fn gigabyte_child() {
    let Some(t) = DockerTest::new("bigout").await else { return };
    let sb = Sandbox::start(&t.docker, &t.settings(), "job-bigout", CancellationToken::new()).await.unwrap();
    let before = peak_rss_kib();
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let collector = tokio::spawn(async move {
        let (mut kept, mut notices, mut head, mut tail) = (0usize, Vec::new(), String::new(), String::new());
        while let Some(e) = rx.recv().await {
            let e: maxion::sandbox::OutputEvent = e;
            kept += e.text.len();
            if e.stream == OutputStream::Notice {
                notices.push(e.text.clone());
            } else if head.len() < 64 {
                head.push_str(&e.text[..e.text.len().min(64)]);
            }
            tail.push_str(&e.text);
            if tail.len() > 128 {
                tail.drain(..tail.len() - 64);
            }
        }
        (kept, notices, head, tail)
    });
    let req = ExecRequest::new(["bash", "-c", "echo BEGIN; head -c 1G /dev/zero | tr '\\0' 'a'; echo; echo END"]);
    let r = sb.exec(req, &tx).await.unwrap();
    drop(tx);
    let (kept, notices, head, tail) = collector.await.unwrap();
    assert!(r.outcome.succeeded());
    let cap = t.settings().output_cap_bytes;
    let total = (1u64 << 30) + "BEGIN\n\nEND\n".len() as u64;
    assert_eq!(r.output.raw_bytes, total);
    assert_eq!(r.output.dropped_bytes, total - cap as u64);
    assert_eq!(notices.len(), 1);
    assert!(notices[0].contains(&format!("{} bytes of output dropped", total - cap as u64)), "{notices:?}");
    assert_eq!(kept, cap + notices[0].len());
    assert!(head.starts_with("BEGIN\naaaa"), "{head}");
    assert!(tail.ends_with("aaaa\nEND\n"), "{tail}");
    let grown_mib = (peak_rss_kib() - before) / 1024;
    eprintln!("peak RSS grew by {grown_mib} MiB while streaming 1 GiB");
    assert!(grown_mib < 200, "peak memory grew by {grown_mib} MiB while streaming 1 GiB");
    sb.remove().await.unwrap();
}

fn peak_rss_kib() -> i64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test]
async fn a_planted_secret_never_reaches_the_sink_in_any_form() {
    let Some(t) = DockerTest::new("secret").await else { return };
    let sb = Sandbox::start(&t.docker, &t.settings(), "job-secret", CancellationToken::new()).await.unwrap();
    let value = "ghp_S3cr3t/V@lue+With=Odd&Chars";
    let secret = SecretString::from(value);
    let masker = Arc::new(Masker::new([&secret]).unwrap());
    // Half of the value, a pause so it leaves in its own chunk, the other
    // half; then base64 and URL-encoded forms, on both streams.
    let script = r#"
        half=$(( ${#SECRET} / 2 ))
        printf '%s' "${SECRET:0:$half}"; sleep 0.3; printf '%s\n' "${SECRET:$half}"
        printf '%s' "$SECRET" | base64 -w0; echo
        printf 'x%s' "$SECRET" | base64 -w0; echo
        printf 'xy%s' "$SECRET" | base64 -w0 >&2; echo >&2
        python3 -c 'import os, urllib.parse; print(urllib.parse.quote(os.environ["SECRET"], safe=""))'
        echo done
    "#;
    let req = ExecRequest::new(["bash", "-c", script]).secret_env("SECRET", secret).masker(masker);
    let (tx, collector) = sink();
    let r = sb.exec(req, &tx).await.unwrap();
    drop(tx);
    let events = collector.await.unwrap();
    assert!(r.outcome.succeeded());
    let all = text_of(&events, None);
    assert!(all.contains("done"), "{all}");
    // Each of the five forms printed shows the mask instead.
    assert!(all.matches(maxion::masker::MASK).count() >= 5, "{all}");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let forms = [
        value.to_owned(),
        value[..value.len() / 2].to_owned() + &value[value.len() / 2..],
        b64.encode(value),
        b64.encode(format!("x{value}")),
        b64.encode(format!("xy{value}")),
        "ghp_S3cr3t%2FV%40lue%2BWith%3DOdd%26Chars".to_owned(),
    ];
    for f in &forms {
        // The stable middle of each encoded form (alignment changes its ends).
        let probe = &f[4..f.len() - 4];
        assert!(!all.contains(probe), "secret form {f:?} reached the sink:\n{all}");
    }
    sb.remove().await.unwrap();
}

/// Child half of the orphan test: creates a sandbox, reports it, waits to be killed.
#[tokio::test]
#[ignore = "run only as the child of sigkilled_process_leaves_an_orphan_that_the_sweep_removes"]
async fn orphan_child() {
    let Ok(instance) = std::env::var("MAXION_ORPHAN_INSTANCE") else {
        return;
    };
    let docker = maxion::sandbox::connect().await.unwrap();
    let settings = maxion::sandbox::SandboxSettings {
        image: crate::support::docker::test_image().unwrap(),
        instance_id: instance,
        ..Default::default()
    };
    let sb = Sandbox::start(&docker, &settings, "job-orphan", CancellationToken::new()).await.unwrap();
    println!("READY {}", sb.container_id());
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn sigkilled_process_leaves_an_orphan_that_the_sweep_removes() {
    use std::io::BufRead;
    let Some(t) = DockerTest::new("orphan").await else { return };
    /// Kills the child however this test ends, so a failure leaves no process behind.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = KillOnDrop(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "sandbox_exec::orphan_child", "--ignored", "--nocapture"])
            .env("MAXION_ORPHAN_INSTANCE", &t.instance)
            .env("MAXION_TEST_IMAGE", &t.image)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let stdout = child.0.stdout.take().unwrap();
    let id = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("READY ").map(str::to_owned))
    })
    .await
    .unwrap()
    .expect("child reported its sandbox");
    // SIGKILL: no destructor, no guard runs in the child.
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    assert!(t.container_running(&id).await, "the orphan should outlive its process");
    let removed = sweep_orphans(&t.docker, &t.instance).await.unwrap();
    assert_eq!(removed, 1);
    assert!(!t.container_exists(&id).await);
}
