//! The container spec of a sandbox (pure: no Docker calls). Each setting
//! carries the reason it is there; docs/ARCHITECTURE.md repeats them.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, ResourcesUlimits};

use super::settings::SandboxSettings;
use super::{LABEL_INSTANCE, LABEL_JOB, SANDBOX_USER, WORKSPACE};

/// The create body for a job's container. `network` is the Docker network
/// mode: `none`, or the name of the job's own network. `extra_env` must hold
/// nothing secret (`docker inspect` shows it): the proxy variables of mode
/// `filtered`.
pub fn container_spec(
    settings: &SandboxSettings,
    job_id: &str,
    network: &str,
    extra_env: &[(String, String)],
) -> ContainerCreateBody {
    let labels = HashMap::from([
        (LABEL_JOB.to_owned(), job_id.to_owned()),
        (LABEL_INSTANCE.to_owned(), settings.instance_id.clone()),
    ]);
    let cgroup_memory = i64::try_from(settings.cgroup_memory_bytes()).unwrap_or(i64::MAX);
    let nofile = i64::try_from(settings.nofile_limit).unwrap_or(i64::MAX);
    let host = HostConfig {
        // Tini as PID 1 reaps the zombies a build leaves and forwards signals.
        init: Some(true),
        // Nothing outside the three tmpfs mounts below can be written.
        readonly_rootfs: Some(true),
        // No capability at all: no chown, no raw sockets, no mount, no setuid games.
        cap_drop: Some(vec!["ALL".to_owned()]),
        // setuid binaries (su, sudo, mount) cannot raise privileges. No
        // `seccomp=` entry: Docker's default profile stays in force.
        security_opt: Some(vec!["no-new-privileges:true".to_owned()]),
        privileged: Some(false),
        // tmpfs pages are charged to the container, so the cgroup limit covers
        // process memory plus every tmpfs; swap equal to memory means no swap.
        memory: Some(cgroup_memory),
        memory_swap: Some(cgroup_memory),
        oom_kill_disable: Some(false),
        nano_cpus: Some((settings.cpus * 1e9) as i64),
        // A fork bomb hits this instead of the host's process table.
        pids_limit: Some(settings.pids_limit),
        ulimits: Some(vec![ResourcesUlimits {
            name: Some("nofile".to_owned()),
            soft: Some(nofile),
            hard: Some(nofile),
        }]),
        // The only writable places, each size-limited. The workspace and home
        // allow exec (builds run ./configure, ~/.local/bin); /tmp does not.
        tmpfs: Some(HashMap::from([
            (
                WORKSPACE.to_owned(),
                format!("rw,exec,nosuid,nodev,size={},uid=1000,gid=1000,mode=0755", settings.workspace_bytes),
            ),
            (
                settings.home_dir.clone(),
                format!("rw,exec,nosuid,nodev,size={},uid=1000,gid=1000,mode=0700", settings.home_bytes),
            ),
            ("/tmp".to_owned(), format!("rw,noexec,nosuid,nodev,size={},mode=1777", settings.tmp_bytes)),
        ])),
        // No /dev/shm: it would be a fourth writable place.
        ipc_mode: Some("none".to_owned()),
        network_mode: Some(network.to_owned()),
        // No IPv6 at all on a filtered network: the egress rules are
        // IPv4-checked and nothing else may be reachable.
        sysctls: (settings.network == super::NetworkMode::Filtered)
            .then(|| HashMap::from([("net.ipv6.conf.all.disable_ipv6".to_owned(), "1".to_owned())])),
        // Explicitly nothing from the host: no binds, no volumes, no socket.
        binds: Some(Vec::new()),
        mounts: Some(Vec::new()),
        auto_remove: Some(false),
        ..Default::default()
    };
    ContainerCreateBody {
        image: Some(settings.image.clone()),
        user: Some(SANDBOX_USER.to_owned()),
        hostname: Some("sandbox".to_owned()),
        working_dir: Some(WORKSPACE.to_owned()),
        // Only non-secret values: `docker inspect` shows the container's env.
        // Secrets go to the one exec that needs them.
        env: Some(
            [format!("HOME={}", settings.home_dir), "LANG=C.UTF-8".to_owned()]
                .into_iter()
                .chain(extra_env.iter().map(|(n, v)| format!("{n}={v}")))
                .collect(),
        ),
        // The container only idles; work happens in execs.
        entrypoint: Some(vec!["sleep".to_owned()]),
        cmd: Some(vec!["infinity".to_owned()]),
        labels: Some(labels),
        network_disabled: Some(network == "none"),
        host_config: Some(host),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_is_locked_down_and_labelled() {
        let s = SandboxSettings { instance_id: "inst".into(), ..Default::default() };
        let spec = container_spec(&s, "job-1", "none", &[]);
        let h = spec.host_config.as_ref().unwrap();
        assert_eq!(spec.user.as_deref(), Some("1000:1000"));
        assert_eq!(h.readonly_rootfs, Some(true));
        assert_eq!(h.init, Some(true));
        assert_eq!(h.cap_drop.as_deref(), Some(&["ALL".to_owned()][..]));
        let sec = h.security_opt.as_ref().unwrap();
        assert!(sec.iter().any(|o| o == "no-new-privileges:true"));
        assert!(!sec.iter().any(|o| o.starts_with("seccomp")));
        assert_eq!(h.memory, h.memory_swap);
        assert_eq!(h.pids_limit, Some(512));
        assert!(h.binds.as_ref().unwrap().is_empty() && h.mounts.as_ref().unwrap().is_empty());
        assert!(h.tmpfs.as_ref().unwrap()["/tmp"].contains("noexec"));
        assert!(h.tmpfs.as_ref().unwrap()["/workspace"].contains("size=4294967296"));
        let labels = spec.labels.as_ref().unwrap();
        assert_eq!(labels["maxion.job"], "job-1");
        assert_eq!(labels["maxion.instance"], "inst");
        assert!(spec.env.as_ref().unwrap().iter().all(|e| e.starts_with("HOME=") || e.starts_with("LANG=")));
    }
}
