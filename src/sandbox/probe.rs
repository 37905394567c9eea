//! Throwaway containers that answer one question about the engine or an
//! image by their exit status: the DNS isolation check of `filtered`, and
//! which agent programs an image holds (`maxion doctor`). Each is removed
//! when it ends and carries the instance's label, so the orphan sweep
//! finds one a crash left behind.

use std::collections::HashMap;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions, WaitContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::{LABEL_INSTANCE, SandboxError};

/// Runs `argv` in a container `name` of `image` on `network` (as the sandbox
/// user, no capabilities, read-only root) and returns its exit status.
pub(crate) async fn exit_code(
    docker: &Docker,
    image: &str,
    name: &str,
    network: &str,
    argv: &[&str],
    labels: HashMap<String, String>,
) -> Result<i64, SandboxError> {
    let result = run(docker, image, name, network, argv, labels).await;
    let opts = RemoveContainerOptionsBuilder::new().force(true).build();
    let _ = docker.remove_container(name, Some(opts)).await;
    result
}

async fn run(
    docker: &Docker,
    image: &str,
    name: &str,
    network: &str,
    argv: &[&str],
    labels: HashMap<String, String>,
) -> Result<i64, SandboxError> {
    let (entrypoint, cmd) = argv.split_first().ok_or_else(|| SandboxError::Gone("an empty probe command".into()))?;
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        user: Some(super::SANDBOX_USER.to_owned()),
        entrypoint: Some(vec![(*entrypoint).to_owned()]),
        cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
        labels: Some(labels),
        host_config: Some(HostConfig {
            network_mode: Some(network.to_owned()),
            cap_drop: Some(vec!["ALL".to_owned()]),
            security_opt: Some(vec!["no-new-privileges:true".to_owned()]),
            readonly_rootfs: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::new().name(name).build();
    docker.create_container(Some(opts), body).await.map_err(SandboxError::docker("create probe container"))?;
    docker
        .start_container(name, None::<StartContainerOptions>)
        .await
        .map_err(SandboxError::docker("start probe container"))?;
    let opts = WaitContainerOptionsBuilder::new().build();
    let mut wait = docker.wait_container(name, Some(opts));
    match tokio::time::timeout(Duration::from_secs(30), wait.next()).await {
        Ok(Some(Ok(r))) => Ok(r.status_code),
        // bollard reports a non-zero exit as an error carrying the code.
        Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => Ok(code),
        Ok(Some(Err(e))) => Err(SandboxError::docker("wait for probe container")(e)),
        Ok(None) | Err(_) => Err(SandboxError::Gone("the probe container did not end within 30 s".into())),
    }
}

/// Which of `programs` the image has on its `PATH` (for the sandbox user),
/// in the order given. A throwaway container without network answers.
pub async fn programs_in_image(
    docker: &Docker,
    image: &str,
    programs: &[&str],
    instance: &str,
) -> Result<Vec<bool>, SandboxError> {
    // One bit of the exit status per missing program (at most 7 programs).
    let script: String = programs
        .iter()
        .take(7)
        .enumerate()
        .map(|(i, p)| format!("command -v '{p}' >/dev/null 2>&1 || m=$((m | {})); ", 1 << i))
        .collect();
    let script = format!("m=0; {script}exit $m");
    let name = format!(
        "maxion-programs-{}-{:x}",
        instance.chars().filter(char::is_ascii_alphanumeric).take(30).collect::<String>(),
        std::process::id()
    );
    let labels = HashMap::from([(LABEL_INSTANCE.to_owned(), instance.to_owned())]);
    let code = exit_code(docker, image, &name, "none", &["sh", "-c", &script], labels).await?;
    if !(0..128).contains(&code) {
        return Err(SandboxError::Gone(format!("the program probe ended with status {code}")));
    }
    Ok((0..programs.len()).map(|i| i < 7 && code & (1 << i) == 0).collect())
}
