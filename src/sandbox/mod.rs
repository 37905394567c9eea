//! One hardened Docker container per job, driven through bollard.
//!
//! The untrusted parts of a job (the coding agent, the repository's build
//! scripts) run only inside a [`Sandbox`]. This module never touches the job
//! store: output goes to a sink the caller gives (`mpsc::Sender<OutputEvent>`),
//! already masked, cut at UTF-8 boundaries and capped.
//!
//! - [`settings`]: [`SandboxSettings`] and [`NetworkMode`].
//! - [`spec`]: the container spec (pure; why each setting is there).
//! - [`container`]: start, watchdog (cancel, job deadline), removal guard.
//! - [`sweep`]: removing what a crashed run left behind.
//! - [`filtered`]: the internal job network of mode `filtered`, its proxy
//!   variables, and the embedded-DNS check.
//! - [`exec`]: running a step: timeout, output streaming, outcomes.
//! - `internal`: Maxion's own execs (tar, the OOM / disk-full probe).
//! - [`transfer`]: files in and out as tar streams over exec stdin/stdout.
//! - [`output`]: the mask -> UTF-8 -> cap pipeline.

pub mod container;
pub mod exec;
pub mod filtered;
pub mod firewall;
mod internal;
pub mod output;
mod probe;
mod retry;
pub mod settings;
pub mod spec;
pub mod sweep;
pub mod transfer;

use std::time::Duration;

pub use container::{Sandbox, SandboxState, connect};
pub use exec::{ExecOutcome, ExecRequest, ExecResult};
pub use filtered::{DnsCheck, check_internal_dns, docker_subnets, proxy_env};
pub use output::{OutputEvent, OutputStats, OutputStream};
pub use probe::programs_in_image;
pub use settings::{NetworkMode, SandboxSettings};
pub use sweep::sweep_orphans;

/// Label naming the job a container belongs to.
pub const LABEL_JOB: &str = "maxion.job";
/// Label naming the Maxion instance that created a container.
pub const LABEL_INSTANCE: &str = "maxion.instance";
/// uid:gid every process in a sandbox runs as.
pub const SANDBOX_USER: &str = "1000:1000";
/// The repository's home inside the sandbox.
pub const WORKSPACE: &str = "/workspace";

/// Why a sandbox operation failed. Callers branch on these: a job ends
/// `cancelled`, `timed_out` or `failed` with the message as its reason.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(
        "sandbox image `{image}` is not on the Docker Engine and Maxion never pulls images; \
         build it with `docker build -f docker/sandbox.Dockerfile -t {image} docker/` \
         or set MAXION_SANDBOX_IMAGE to an image that exists"
    )]
    ImageMissing { image: String },
    #[error("no Docker Engine answers (DOCKER_HOST or the local socket): {0}")]
    Unavailable(#[source] bollard::errors::Error),
    #[error("the job was cancelled; its sandbox was killed")]
    Cancelled,
    #[error("the job passed its deadline of {} s; its sandbox was killed", .0.as_secs())]
    TimedOut(Duration),
    #[error("the sandbox is gone ({0}); it is never re-created within a job")]
    Gone(String),
    #[error("invalid sandbox path {0:?}: it must be absolute and must not contain `..`")]
    InvalidPath(String),
    #[error("docker: {context}: {source}")]
    Docker {
        context: &'static str,
        #[source]
        source: bollard::errors::Error,
    },
    #[error("file transfer failed: {0}")]
    Transfer(String),
}

impl SandboxError {
    pub(crate) fn docker(context: &'static str) -> impl FnOnce(bollard::errors::Error) -> Self {
        move |source| SandboxError::Docker { context, source }
    }
}

/// Status code of a Docker API error, if it is one.
pub(crate) fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}
