//! Proof that the locks hold (issue #4 §5): hostile commands inside a real
//! sandbox are contained, the host and other sandboxes stay healthy, and the
//! step ends with a clear reason. Traffic goes only to loopback or to
//! containers these tests create.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::docker::{DockerTest, sh, sh_with};
use maxion::sandbox::{ExecOutcome, ExecRequest, NetworkMode, Sandbox, SandboxSettings};
use tokio_util::sync::CancellationToken;

async fn start(t: &DockerTest, settings: &SandboxSettings, job: &str) -> Sandbox {
    Sandbox::start(&t.docker, settings, job, CancellationToken::new()).await.unwrap()
}

/// `key=value` lines printed by a probe script.
fn fields(out: &str) -> HashMap<String, String> {
    out.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect()
}

fn failed(f: &HashMap<String, String>, key: &str) -> bool {
    f.get(key).is_some_and(|code| code != "0")
}

#[tokio::test]
async fn only_workspace_home_and_tmp_are_writable_and_tmp_is_noexec() {
    let Some(t) = DockerTest::new("writes").await else { return };
    let sb = start(&t, &t.settings(), "job-writes").await;
    let script = r#"
        for p in /x /usr/x /usr/bin/x /etc/x /var/x /root/x /dev/shm/x; do
            touch "$p" 2>/dev/null; echo "touch $p=$?"
        done
        touch /workspace/ok && touch /tmp/ok && touch "$HOME/ok"; echo "writable=$?"
        cp /bin/true /tmp/t && chmod +x /tmp/t; /tmp/t 2>/dev/null; echo "exec-tmp=$?"
        cp /bin/true /workspace/t && /workspace/t; echo "exec-workspace=$?"
    "#;
    let (r, out) = sh(&sb, script).await;
    assert!(r.unwrap().outcome.succeeded(), "{out}");
    let f = fields(&out);
    for p in ["/x", "/usr/x", "/usr/bin/x", "/etc/x", "/var/x", "/root/x", "/dev/shm/x"] {
        assert!(failed(&f, &format!("touch {p}")), "could write {p}:\n{out}");
    }
    assert_eq!(f["writable"], "0", "{out}");
    assert!(failed(&f, "exec-tmp"), "{out}");
    assert_eq!(f["exec-workspace"], "0", "{out}");
    sb.remove().await.unwrap();
}

#[tokio::test]
async fn root_cannot_be_gained_through_sudo_su_or_setuid() {
    let Some(t) = DockerTest::new("root").await else { return };
    let sb = start(&t, &t.settings(), "job-root").await;
    let script = r#"
        sudo -n id -u </dev/null >/dev/null 2>&1; echo "sudo=$?"
        su -c 'id -u' root </dev/null >/dev/null 2>&1; echo "su=$?"
        python3 -c 'import os; os.setuid(0)' 2>/dev/null; echo "setuid=$?"
        echo "setuid-binaries=$(find / -xdev -perm -4000 -type f 2>/dev/null | wc -l)"
        grep -E '^(CapEff|CapPrm|CapBnd|NoNewPrivs):' /proc/self/status | tr -d '\t' | sed 's/:/=/'
        echo "uid=$(id -u)"
    "#;
    let (r, out) = sh(&sb, script).await;
    assert!(r.unwrap().outcome.succeeded(), "{out}");
    let f = fields(&out);
    assert!(failed(&f, "sudo") && failed(&f, "su") && failed(&f, "setuid"), "{out}");
    // The image has setuid binaries (so the attempts above were real ones)...
    assert_ne!(f["setuid-binaries"], "0", "{out}");
    // ...and they gain nothing: no capabilities, no_new_privs set.
    assert_eq!(f["CapEff"], "0000000000000000", "{out}");
    assert_eq!(f["CapPrm"], "0000000000000000", "{out}");
    assert_eq!(f["CapBnd"], "0000000000000000", "{out}");
    assert_eq!(f["NoNewPrivs"], "1", "{out}");
    assert_eq!(f["uid"], "1000");
    sb.remove().await.unwrap();
}

#[tokio::test]
async fn mount_and_new_namespaces_are_refused() {
    let Some(t) = DockerTest::new("mount").await else { return };
    let sb = start(&t, &t.settings(), "job-mount").await;
    let script = r#"
        mkdir -p /workspace/m
        mount -t tmpfs none /workspace/m 2>/dev/null; echo "mount=$?"
        unshare -r -m true 2>/dev/null; echo "unshare=$?"
        mountpoint -q /workspace/m; echo "mountpoint=$?"
    "#;
    let (r, out) = sh(&sb, script).await;
    assert!(r.unwrap().outcome.succeeded(), "{out}");
    let f = fields(&out);
    assert!(failed(&f, "mount") && failed(&f, "unshare"), "{out}");
    assert!(failed(&f, "mountpoint"), "{out}");
    sb.remove().await.unwrap();
}

#[tokio::test]
async fn raw_sockets_cannot_be_opened() {
    let Some(t) = DockerTest::new("rawsock").await else { return };
    let sb = start(&t, &t.settings(), "job-raw").await;
    let script = r#"
        for fam in AF_INET AF_PACKET; do
            python3 -c "import socket; socket.socket(socket.$fam, socket.SOCK_RAW, 1)" 2>&1 | tail -n1
            echo "$fam=${PIPESTATUS[0]}"
        done
    "#;
    let (r, out) = sh(&sb, script).await;
    assert!(r.unwrap().outcome.succeeded(), "{out}");
    let f = fields(&out);
    assert!(failed(&f, "AF_INET") && failed(&f, "AF_PACKET"), "{out}");
    assert_eq!(out.matches("PermissionError").count(), 2, "{out}");
    sb.remove().await.unwrap();
}

#[tokio::test]
async fn no_docker_socket_is_reachable() {
    let Some(t) = DockerTest::new("dockersock").await else { return };
    let sb = start(&t, &t.settings(), "job-sock").await;
    let script = r#"
        find / \( -path /proc -o -path /sys \) -prune -o \( -type s -o -name '*.sock' \) -print 2>/dev/null
        env | grep -i docker
        python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("/var/run/docker.sock"); print("CONNECTED")
except OSError as e:
    print("refused", type(e).__name__)'
    "#;
    let (r, out) = sh(&sb, script).await;
    r.unwrap();
    assert_eq!(out.trim(), "refused FileNotFoundError", "{out}");
    sb.remove().await.unwrap();
}

#[tokio::test]
async fn a_fork_bomb_hits_the_pids_limit_and_leaves_others_unharmed() {
    let Some(t) = DockerTest::new("forkbomb").await else { return };
    let settings = SandboxSettings { pids_limit: 64, ..t.settings() };
    let bomb_sb = start(&t, &settings, "job-bomb").await;
    let other = start(&t, &t.settings(), "job-bystander").await;
    // The shell waits long enough for the bomb to saturate its pids limit;
    // the exec timeout then ends the step, which therefore fails.
    let bomb =
        ExecRequest::new(["bash", "-c", "bomb() { bomb | bomb & }; bomb; sleep 60"]).timeout(Duration::from_secs(10));
    let done = std::sync::atomic::AtomicBool::new(false);
    let bomb_run = async {
        let r = sh_with(&bomb_sb, bomb).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    };
    let watch = async {
        let mut peak = 0;
        while peak < 60 && !done.load(std::sync::atomic::Ordering::SeqCst) {
            peak = peak.max(t.pids(bomb_sb.container_id()).await);
            tokio::task::yield_now().await;
        }
        let (r, out) = sh(&other, "echo alive; for i in $(seq 20); do true & done; wait; echo spawned").await;
        let host = std::process::Command::new("true").status().unwrap();
        let bomb_pids = peak.max(t.pids(bomb_sb.container_id()).await);
        (r.unwrap().outcome, out, host.success(), bomb_pids)
    };
    let ((bomb_r, _), (other_outcome, other_out, host_ok, bomb_pids)) = tokio::join!(bomb_run, watch);
    assert!(bomb_pids >= 60, "the bomb never filled its process table: {bomb_pids}");
    assert!(bomb_pids <= 64, "pids {bomb_pids}");
    assert!(other_outcome.succeeded() && other_out == "alive\nspawned\n", "{other_out}");
    assert!(host_ok);
    let bomb_outcome = bomb_r.unwrap().outcome;
    assert!(!bomb_outcome.succeeded(), "{bomb_outcome:?}");
    // The whole bomb died with the exec; the sandbox works again.
    let (r, out) = sh(&bomb_sb, "echo recovered").await;
    assert!(r.unwrap().outcome.succeeded(), "{out}");
    assert_eq!(out, "recovered\n");
    bomb_sb.remove().await.unwrap();
    other.remove().await.unwrap();
}

#[tokio::test]
async fn allocating_past_the_memory_limit_is_reported_as_out_of_memory() {
    let Some(t) = DockerTest::new("oom").await else { return };
    let settings = SandboxSettings { memory_bytes: 64 << 20, workspace_bytes: 16 << 20, ..t.settings() };
    let sb = start(&t, &settings, "job-oom").await;
    let hog = "python3 -c 'b = bytearray(1024 * 1024 * 1024); print(len(b))'";
    for _ in 0..2 {
        let (r, out) = sh(&sb, hog).await;
        let outcome = r.unwrap().outcome;
        assert_eq!(outcome, ExecOutcome::OutOfMemory, "{out}");
        assert!(maxion::report::text::exec_outcome(&outcome).contains("out of memory"));
    }
    // An ordinary failure afterwards is not blamed on memory.
    let (r, _) = sh(&sb, "exit 5").await;
    assert_eq!(r.unwrap().outcome, ExecOutcome::Exited { code: 5 });
    sb.remove().await.unwrap();
}

#[tokio::test]
async fn filling_the_workspace_is_reported_as_disk_full() {
    let Some(t) = DockerTest::new("diskfull").await else { return };
    let settings = SandboxSettings { workspace_bytes: 16 << 20, ..t.settings() };
    let sb = start(&t, &settings, "job-disk").await;
    let (r, out) = sh(&sb, "head -c 64M /dev/zero > /workspace/big").await;
    let outcome = r.unwrap().outcome;
    assert_eq!(outcome, ExecOutcome::DiskFull { mount: "/workspace".into() }, "{out}");
    assert!(out.contains("No space left on device"), "{out}");
    // Space freed: an ordinary failure is reported as such.
    let (r, _) = sh(&sb, "rm /workspace/big; exit 7").await;
    assert_eq!(r.unwrap().outcome, ExecOutcome::Exited { code: 7 });
    sb.remove().await.unwrap();
}

const CONNECT: &str = r#"
import socket, sys, time
host, deadline = sys.argv[1], time.time() + 15
while True:
    try:
        s = socket.create_connection((host, 8080), timeout=3)
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        print(s.recv(64).split(b"\r\n")[0].decode())
        break
    except OSError as e:
        # Retrying only makes sense while the route exists but the listener is not up.
        if isinstance(e, ConnectionRefusedError) and time.time() < deadline:
            time.sleep(0.2)
            continue
        print("failed", type(e).__name__, e.errno)
        sys.exit(1)
"#;

#[tokio::test]
async fn network_none_cannot_reach_a_listener_that_open_can() {
    let Some(t) = DockerTest::new("network").await else { return };
    let net = t.create_network("net").await;
    let listener = t.run_container("listener", &net, &["python3", "-m", "http.server", "8080"]).await;
    let (code, out) = t.exec_in(&listener, &["python3", "-c", CONNECT, "127.0.0.1"]).await;
    assert_eq!(code, 0, "listener not serving: {out}");
    let listener_ip = t.container_ip(&listener, &net).await;

    let none = start(&t, &t.settings(), "job-net-none").await;
    assert!(none.network_name().is_none());
    let (r, out) = sh_with(&none, ExecRequest::new(["python3", "-c", CONNECT, &listener_ip])).await;
    assert_eq!(r.unwrap().outcome, ExecOutcome::Exited { code: 1 }, "{out}");
    assert!(out.starts_with("failed"), "{out}");
    none.remove().await.unwrap();

    let settings = SandboxSettings { network: NetworkMode::Open, ..t.settings() };
    let open = start(&t, &settings, "job-net-open").await;
    let job_net = open.network_name().unwrap().to_owned();
    let req = bollard::models::NetworkConnectRequest { container: listener.clone(), endpoint_config: None };
    t.docker.connect_network(&job_net, req).await.unwrap();
    let ip_on_job_net = t.container_ip(&listener, &job_net).await;
    let (r, out) = sh_with(&open, ExecRequest::new(["python3", "-c", CONNECT, &ip_on_job_net])).await;
    assert!(r.unwrap().outcome.succeeded(), "{out}");
    assert!(out.starts_with("HTTP/1.0 200"), "{out}");
    let req = bollard::models::NetworkDisconnectRequest { container: listener.clone(), force: Some(true) };
    t.docker.disconnect_network(&job_net, req).await.unwrap();
    open.remove().await.unwrap();
    // The job's own network went with it.
    assert!(t.docker.inspect_network(&job_net, None).await.is_err());
}
