//! The start-up sweep: removes what a crashed or SIGKILLed run of this
//! instance left behind (containers and networks carrying its label, and the
//! host firewall guards of networks that no longer exist).

use std::collections::HashMap;

use bollard::Docker;
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
};

use super::{LABEL_INSTANCE, SandboxError, status_of};

/// Removes every container (and network) labelled with `instance_id`: what a
/// crashed or SIGKILLed run of this instance left behind. Call it at start-up,
/// before any sandbox of this run exists. Returns how many containers went.
pub async fn sweep_orphans(docker: &Docker, instance_id: &str) -> Result<usize, SandboxError> {
    let filters = HashMap::from([("label".to_owned(), vec![format!("{LABEL_INSTANCE}={instance_id}")])]);
    let opts = ListContainersOptionsBuilder::new().all(true).filters(&filters).build();
    let containers = docker.list_containers(Some(opts)).await.map_err(SandboxError::docker("list containers"))?;
    let mut removed = 0;
    for c in containers {
        let Some(id) = c.id else { continue };
        let opts = RemoveContainerOptionsBuilder::new().force(true).v(true).build();
        match docker.remove_container(&id, Some(opts)).await {
            Ok(()) => removed += 1,
            Err(e) if status_of(&e) == Some(404) => {}
            Err(e) => return Err(SandboxError::docker("remove orphan container")(e)),
        }
    }
    let opts = ListNetworksOptionsBuilder::new().filters(&filters).build();
    let networks = docker.list_networks(Some(opts)).await.map_err(SandboxError::docker("list networks"))?;
    for n in networks {
        if let Some(id) = n.id
            && let Err(e) = docker.remove_network(&id).await
            && status_of(&e) != Some(404)
        {
            return Err(SandboxError::docker("remove orphan network")(e));
        }
    }
    if super::firewall::available().await {
        // Guards of networks that are gone (this instance's just went).
        let all = docker
            .list_networks(None::<bollard::query_parameters::ListNetworksOptions>)
            .await
            .map_err(SandboxError::docker("list networks"))?;
        let live: Vec<String> = all.into_iter().filter_map(|n| n.id).collect();
        super::firewall::sweep(&live).await;
    }
    Ok(removed)
}
