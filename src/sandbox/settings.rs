//! Sandbox settings: one struct with the defaults. Pure data; `config` and
//! the pipeline map settings (`MAXION_SANDBOX_IMAGE`, ...) onto it.

use std::time::Duration;

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

/// How a sandbox reaches the network: the one type for the setting
/// (`MAXION_SANDBOX_NETWORK`, `MAXION_ALLOWED_NETWORK_MODES`), a repository's
/// `network:` and the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum NetworkMode {
    /// No interface but loopback (Docker network mode `none`).
    #[default]
    None,
    /// A bridge network of its own, created for the job and removed with it,
    /// with outbound access through the host's NAT. Jobs never share it.
    Open,
    /// An internal network of the job's own (no route out, IPv6 off): the
    /// only peer is Maxion's egress listener at the network's gateway address
    /// (`SandboxSettings::egress_port`), which the container's proxy
    /// variables point at. Outside names do not resolve inside.
    Filtered,
}

impl NetworkMode {
    /// The accepted spellings, for error messages.
    pub const CHOICES: &'static str = "none, open or filtered";

    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Open => "open",
            NetworkMode::Filtered => "filtered",
        }
    }

    pub fn parse(v: &str) -> Option<Self> {
        match v {
            "none" => Some(NetworkMode::None),
            "open" => Some(NetworkMode::Open),
            "filtered" => Some(NetworkMode::Filtered),
            _ => None,
        }
    }
}

impl std::fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything a sandbox container is created with.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// Image to run; never pulled. Must provide `tar`, `timeout`, `df`, `sleep`, `sh`.
    pub image: String,
    /// Memory for processes, in bytes. The container's cgroup limit is this
    /// plus the tmpfs sizes, because tmpfs pages are charged to the container.
    pub memory_bytes: u64,
    /// CPUs (fractional allowed).
    pub cpus: f64,
    /// Maximum number of processes and threads.
    pub pids_limit: i64,
    /// `RLIMIT_NOFILE` (soft = hard).
    pub nofile_limit: u64,
    /// Size of the `/workspace` tmpfs.
    pub workspace_bytes: u64,
    /// Size of the `/tmp` tmpfs (noexec).
    pub tmp_bytes: u64,
    /// Size of the `$HOME` tmpfs.
    pub home_bytes: u64,
    /// Home directory of the sandbox user (uid/gid 1000).
    pub home_dir: String,
    /// Network access.
    pub network: NetworkMode,
    /// Port of the egress listener on a `filtered` job network's gateway.
    pub egress_port: u16,
    /// Hard deadline for the whole job, counted from sandbox start.
    pub job_deadline: Duration,
    /// Default per-exec timeout (an exec may ask for a shorter or longer one).
    pub exec_timeout: Duration,
    /// Output kept per exec: head and tail halves of this many bytes.
    pub output_cap_bytes: usize,
    /// Labels every container with `maxion.instance=<id>` so a restarted
    /// instance can sweep what its crashed predecessor left.
    pub instance_id: String,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            image: "maxion-sandbox:latest".to_owned(),
            memory_bytes: 4 * GIB,
            cpus: 2.0,
            pids_limit: 512,
            nofile_limit: 8192,
            workspace_bytes: 4 * GIB,
            tmp_bytes: 512 * MIB,
            home_bytes: 1024 * MIB,
            home_dir: "/home/sandbox".to_owned(),
            network: NetworkMode::None,
            egress_port: super::filtered::DEFAULT_EGRESS_PORT,
            job_deadline: Duration::from_secs(30 * 60),
            exec_timeout: Duration::from_secs(15 * 60),
            output_cap_bytes: 10 * MIB as usize,
            instance_id: "default".to_owned(),
        }
    }
}

impl SandboxSettings {
    /// The container's memory cgroup limit: process memory plus every tmpfs,
    /// so files in `/workspace` never eat into what the build may allocate.
    pub fn cgroup_memory_bytes(&self) -> u64 {
        self.memory_bytes + self.workspace_bytes + self.tmp_bytes + self.home_bytes
    }
}
