//! Docker test helpers (sandbox tests): find an engine (skip with a notice
//! when none answers, fail under CI=true), find the test image built by
//! docker/build-test-image.sh, give each test its own instance id, and remove
//! every container and network a test created, even when it fails.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use maxion::sandbox::{self, OutputEvent, OutputStream, SandboxSettings};
use tokio::sync::mpsc;

/// Label on containers and networks a test creates itself (listeners etc.).
pub const TEST_LABEL: &str = "maxion.test";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The engine and the test image, or `None` after printing why `purpose`
/// is skipped (a failure under `CI=true`).
pub async fn engine_and_image(purpose: &str) -> Option<(Docker, String)> {
    let why = match (sandbox::connect().await, test_image()) {
        (Err(e), _) => e.to_string(),
        (Ok(_), None) => "no test image: run docker/build-test-image.sh (or set MAXION_TEST_IMAGE)".to_owned(),
        (Ok(docker), Some(image)) => match docker.inspect_image(&image).await {
            Ok(_) => return Some((docker, image)),
            Err(_) => format!("test image {image} is not on the engine: run docker/build-test-image.sh"),
        },
    };
    assert!(!in_ci(), "CI=true and {purpose} cannot run: {why}");
    eprintln!("SKIPPED ({purpose} need Docker and the test image): {why}");
    None
}

/// The production sandbox image (`MAXION_TEST_SANDBOX_IMAGE`, built by
/// .ci/run from one agent stage of docker/sandbox.Dockerfile) and the
/// profile whose program it holds (`MAXION_TEST_SANDBOX_AGENT`, default
/// `codex`); `None` after printing why the test is skipped (a failure under
/// `CI=true`).
pub async fn production_sandbox_image() -> Option<(String, String)> {
    let var = |name: &str| std::env::var(name).ok().map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let profile = var("MAXION_TEST_SANDBOX_AGENT").unwrap_or_else(|| "codex".into());
    let why = match (sandbox::connect().await, var("MAXION_TEST_SANDBOX_IMAGE")) {
        (Err(e), _) => e.to_string(),
        (Ok(_), None) => {
            "MAXION_TEST_SANDBOX_IMAGE is not set (.ci/run builds it from docker/sandbox.Dockerfile)".into()
        }
        (Ok(docker), Some(image)) => match docker.inspect_image(&image).await {
            Ok(_) => return Some((image, profile)),
            Err(_) => format!("MAXION_TEST_SANDBOX_IMAGE {image} is not on the engine"),
        },
    };
    assert!(!in_ci(), "CI=true and the production sandbox image test cannot run: {why}");
    eprintln!("SKIPPED (the production sandbox image test): {why}");
    None
}

/// The test image tag: $MAXION_TEST_IMAGE, or the tag file the build script writes.
pub fn test_image() -> Option<String> {
    if let Ok(tag) = std::env::var("MAXION_TEST_IMAGE")
        && !tag.trim().is_empty()
    {
        return Some(tag.trim().to_owned());
    }
    let mut dirs = Vec::new();
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        dirs.push(std::path::PathBuf::from(t));
    }
    dirs.push(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    dirs.iter()
        .filter_map(|d| std::fs::read_to_string(d.join("maxion-sandbox-test.tag")).ok())
        .map(|t| t.trim().to_owned())
        .find(|t| !t.is_empty())
}

/// One test's Docker context. Dropping it removes everything labelled with
/// its instance id (sandboxes and the test's own containers and networks).
pub struct DockerTest {
    pub docker: Docker,
    pub image: String,
    pub instance: String,
}

impl DockerTest {
    /// `None` (after printing why) when no engine or no test image is there.
    pub async fn new(name: &str) -> Option<DockerTest> {
        let (docker, image) = engine_and_image("the Docker sandbox tests").await?;
        let instance = format!("test-{name}-{}", std::process::id());
        Some(DockerTest { docker, image, instance })
    }

    /// Small, quick settings on the test image, labelled with this test's instance.
    pub fn settings(&self) -> SandboxSettings {
        SandboxSettings {
            image: self.image.clone(),
            memory_bytes: 256 << 20,
            workspace_bytes: 64 << 20,
            tmp_bytes: 16 << 20,
            home_bytes: 16 << 20,
            cpus: 1.0,
            pids_limit: 128,
            exec_timeout: Duration::from_secs(60),
            job_deadline: Duration::from_secs(300),
            instance_id: self.instance.clone(),
            ..SandboxSettings::default()
        }
    }

    fn labels(&self) -> HashMap<String, String> {
        HashMap::from([(TEST_LABEL.to_owned(), self.instance.clone())])
    }

    /// A bridge network of the test's own.
    pub async fn create_network(&self, suffix: &str) -> String {
        let name = format!("{}-{suffix}", self.instance);
        let req = NetworkCreateRequest {
            name: name.clone(),
            driver: Some("bridge".into()),
            labels: Some(self.labels()),
            ..Default::default()
        };
        self.docker.create_network(req).await.expect("create test network");
        name
    }

    /// Starts a container of the test's own on `network` running `cmd`.
    pub async fn run_container(&self, suffix: &str, network: &str, cmd: &[&str]) -> String {
        let name = format!("{}-{suffix}", self.instance);
        let body = ContainerCreateBody {
            image: Some(self.image.clone()),
            user: Some("1000:1000".into()),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            working_dir: Some("/tmp".into()),
            labels: Some(self.labels()),
            host_config: Some(HostConfig {
                network_mode: Some(network.to_owned()),
                init: Some(true),
                cap_drop: Some(vec!["ALL".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::new().name(&name).build();
        let id = self.docker.create_container(Some(opts), body).await.expect("create test container").id;
        self.docker.start_container(&id, None).await.expect("start test container");
        id
    }

    /// Whether a container exists (any state).
    pub async fn container_exists(&self, id: &str) -> bool {
        self.docker.inspect_container(id, None).await.is_ok()
    }

    /// Whether a container is running.
    pub async fn container_running(&self, id: &str) -> bool {
        let info = self.docker.inspect_container(id, None).await;
        info.ok().and_then(|i| i.state).and_then(|s| s.running).unwrap_or(false)
    }

    async fn cleanup(docker: Docker, instance: String) {
        let _ = sandbox::sweep_orphans(&docker, &instance).await;
        let filters = HashMap::from([("label".to_owned(), vec![format!("{TEST_LABEL}={instance}")])]);
        let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
        for c in docker.list_containers(Some(opts)).await.unwrap_or_default() {
            if let Some(id) = c.id {
                let opts = RemoveContainerOptionsBuilder::new().force(true).build();
                let _ = docker.remove_container(&id, Some(opts)).await;
            }
        }
        let opts = ListNetworksOptionsBuilder::new().filters(&filters).build();
        for n in docker.list_networks(Some(opts)).await.unwrap_or_default() {
            if let Some(id) = n.id {
                let _ = docker.remove_network(&id).await;
            }
        }
    }
}

impl Drop for DockerTest {
    fn drop(&mut self) {
        let docker = self.docker.clone();
        let instance = self.instance.clone();
        // Its own thread and runtime: this runs inside the test's runtime,
        // possibly while a panic unwinds, and must finish before the process ends.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(DockerTest::cleanup(docker, instance));
        });
        let _ = cleanup.join();
    }
}

/// A sink for exec output and a task collecting everything it receives.
pub fn sink() -> (mpsc::Sender<OutputEvent>, tokio::task::JoinHandle<Vec<OutputEvent>>) {
    let (tx, mut rx) = mpsc::channel(64);
    let collector = tokio::spawn(async move {
        let mut all = Vec::new();
        while let Some(e) = rx.recv().await {
            all.push(e);
        }
        all
    });
    (tx, collector)
}

/// The text of one stream (or all streams when `None`).
pub fn text_of(events: &[OutputEvent], stream: Option<OutputStream>) -> String {
    events.iter().filter(|e| stream.is_none_or(|s| e.stream == s)).map(|e| e.text.as_str()).collect()
}

/// Runs a shell command in `sb` and returns (result, all output text).
pub async fn sh(sb: &sandbox::Sandbox, script: &str) -> (Result<sandbox::ExecResult, sandbox::SandboxError>, String) {
    sh_with(sb, sandbox::ExecRequest::new(["bash", "-c", script])).await
}

/// Runs a prepared request in `sb` and returns (result, all output text).
pub async fn sh_with(
    sb: &sandbox::Sandbox,
    req: sandbox::ExecRequest,
) -> (Result<sandbox::ExecResult, sandbox::SandboxError>, String) {
    let (tx, collector) = sink();
    let r = sb.exec(req, &tx).await;
    drop(tx);
    let events = collector.await.expect("collector");
    (r, text_of(&events, None))
}

impl DockerTest {
    /// Runs argv in a container of the test's own (not a sandbox); returns
    /// (exit code, stdout+stderr).
    pub async fn exec_in(&self, id: &str, argv: &[&str]) -> (i64, String) {
        use bollard::container::LogOutput;
        use bollard::exec::StartExecResults;
        use futures_util::StreamExt;
        let config = bollard::models::ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(argv.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        };
        let exec = self.docker.create_exec(id, config).await.expect("create exec");
        let StartExecResults::Attached { mut output, .. } =
            self.docker.start_exec(&exec.id, None).await.expect("start exec")
        else {
            panic!("detached")
        };
        let mut text = String::new();
        while let Some(Ok(item)) = output.next().await {
            if let LogOutput::StdOut { message } | LogOutput::StdErr { message } = item {
                text.push_str(&String::from_utf8_lossy(&message));
            }
        }
        let code = self.docker.inspect_exec(&exec.id).await.expect("inspect exec").exit_code;
        (code.unwrap_or(-1), text)
    }

    /// A container's IP address on `network`.
    pub async fn container_ip(&self, id: &str, network: &str) -> String {
        let info = self.docker.inspect_container(id, None).await.expect("inspect");
        info.network_settings
            .and_then(|n| n.networks)
            .and_then(|mut n| n.remove(network))
            .and_then(|e| e.ip_address)
            .filter(|ip| !ip.is_empty())
            .expect("container has an address on the network")
    }

    /// How many processes a container runs now.
    pub async fn pids(&self, id: &str) -> u64 {
        use futures_util::StreamExt;
        let opts = bollard::query_parameters::StatsOptionsBuilder::new().stream(false).one_shot(true).build();
        let mut stats = self.docker.stats(id, Some(opts));
        match stats.next().await {
            Some(Ok(s)) => s.pids_stats.and_then(|p| p.current).unwrap_or(0),
            _ => 0,
        }
    }
}

/// How many containers (any state) one job of a service instance has.
pub async fn job_containers(docker: &Docker, instance: &str, job: maxion::jobs::JobId) -> usize {
    let filters = HashMap::from([("label", vec![format!("maxion.job={job}"), format!("maxion.instance={instance}")])]);
    let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    docker.list_containers(Some(opts)).await.expect("list containers").len()
}
