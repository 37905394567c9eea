//! Maxion's own execs inside a sandbox (tar for transfers, the probe that
//! tells an OOM kill or a full disk from an ordinary failure) and the helpers
//! every exec shares: exit codes, Docker errors vs. a dead sandbox, paths.

use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::container::{Sandbox, SandboxState};
use super::exec::ExecOutcome;
use super::{SANDBOX_USER, SandboxError, WORKSPACE};

/// stderr kept from internal execs (tar, probes) for error messages.
const INTERNAL_STDERR_CAP: usize = 16 * 1024;

impl Sandbox {
    /// A Docker error, unless the sandbox died meanwhile (then that reason).
    pub(crate) fn docker_or_dead<T>(
        &self,
        r: Result<T, bollard::errors::Error>,
        context: &'static str,
    ) -> Result<T, SandboxError> {
        r.map_err(|e| self.shared.dead_error().unwrap_or(SandboxError::Docker { context, source: e }))
    }

    /// The exit code, once Docker has recorded it (it may lag the stream's end).
    /// Polled quickly at first: the lag is usually a few milliseconds, and
    /// every exec of a job (transfers included) waits for it.
    pub(crate) async fn exit_code(&self, exec_id: &str) -> Result<i64, SandboxError> {
        let mut waited = Duration::ZERO;
        let mut delay = Duration::from_millis(2);
        while waited < Duration::from_secs(2) {
            let info = self.shared.docker.inspect_exec(exec_id).await;
            let info = self.docker_or_dead(info, "inspect exec")?;
            if info.running != Some(true)
                && let Some(code) = info.exit_code
            {
                return Ok(code);
            }
            tokio::time::sleep(delay).await;
            waited += delay;
            delay = (delay * 2).min(Duration::from_millis(50));
        }
        Ok(-1)
    }

    /// Tells an out-of-memory kill or a full disk from an ordinary failure.
    pub(crate) async fn classify_failure(&self, code: i64, saw_enospc: bool) -> ExecOutcome {
        let home = self.settings.home_dir.clone();
        let script = "cat /sys/fs/cgroup/memory.events /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null; \
                      df -P -B1 /workspace /tmp \"$1\" 2>/dev/null";
        let argv = ["sh", "-c", script, "sh", home.as_str()].map(str::to_owned).to_vec();
        let mut out = Vec::new();
        // A failing probe (e.g. the pids limit is still exhausted) leaves
        // `out` partial; whatever it holds is still evidence.
        let _ = self.run_internal(argv, None, &mut out, Duration::from_secs(20)).await;
        let text = String::from_utf8_lossy(&out);
        {
            let oom: u64 = text
                .lines()
                .filter_map(|l| l.strip_prefix("oom_kill "))
                .filter_map(|n| n.trim().parse::<u64>().ok())
                .max()
                .unwrap_or(0);
            let before = self.shared.oom_seen.fetch_max(oom, std::sync::atomic::Ordering::SeqCst);
            if oom > before {
                return ExecOutcome::OutOfMemory;
            }
        }
        let full = text.lines().skip_while(|l| !l.starts_with("Filesystem")).skip(1).find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (size, avail, mount) = (f.get(1)?.parse::<u64>().ok()?, f.get(3)?.parse::<u64>().ok()?, f.get(5)?);
            (avail < (size / 100).max(64 * 1024)).then(|| (*mount).to_owned())
        });
        match (full, saw_enospc) {
            (Some(mount), _) => ExecOutcome::DiskFull { mount },
            (None, true) => ExecOutcome::DiskFull { mount: "a writable mount".to_owned() },
            (None, false) => {
                if code == 137 && self.container_oom_killed().await {
                    return ExecOutcome::OutOfMemory;
                }
                ExecOutcome::Exited { code }
            }
        }
    }

    /// Docker's own OOM flag, for hosts where the cgroup counter is hidden.
    async fn container_oom_killed(&self) -> bool {
        let info = self.shared.docker.inspect_container(&self.shared.container, None).await;
        info.ok().and_then(|i| i.state).and_then(|s| s.oom_killed).unwrap_or(false)
    }

    /// Runs a Maxion-owned command (tar, probes) as the sandbox user: stdin
    /// from `stdin`, stdout into `stdout`. Returns the exit code; a non-zero
    /// one becomes a `Transfer` error carrying the start of stderr.
    pub(crate) async fn run_internal(
        &self,
        argv: Vec<String>,
        stdin: Option<mpsc::Receiver<Vec<u8>>>,
        stdout: &mut (dyn AsyncWrite + Unpin + Send),
        timeout: Duration,
    ) -> Result<(), SandboxError> {
        self.ensure_alive()?;
        let docker = &self.shared.docker;
        let what = argv.first().cloned().unwrap_or_default();
        let config = ExecConfig {
            attach_stdin: Some(stdin.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(argv),
            user: Some(SANDBOX_USER.to_owned()),
            working_dir: Some(WORKSPACE.to_owned()),
            ..Default::default()
        };
        let exec = docker.create_exec(&self.shared.container, config).await;
        let exec = self.docker_or_dead(exec, "create exec")?;
        let started = docker.start_exec(&exec.id, None::<StartExecOptions>).await;
        let StartExecResults::Attached { mut output, mut input } = self.docker_or_dead(started, "start exec")? else {
            return Err(SandboxError::Transfer("exec started detached".to_owned()));
        };
        let feed = async move {
            if let Some(mut rx) = stdin {
                while let Some(chunk) = rx.recv().await {
                    if input.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
                let _ = input.shutdown().await;
            }
        };
        let mut stderr = Vec::new();
        let read = async {
            while let Some(item) = output.next().await {
                match item {
                    Ok(LogOutput::StdOut { message } | LogOutput::Console { message }) => {
                        stdout.write_all(&message).await.map_err(|e| SandboxError::Transfer(e.to_string()))?;
                    }
                    Ok(LogOutput::StdErr { message }) => {
                        let room = INTERNAL_STDERR_CAP.saturating_sub(stderr.len());
                        stderr.extend_from_slice(&message[..message.len().min(room)]);
                    }
                    Ok(LogOutput::StdIn { .. }) => {}
                    Err(e) => {
                        return Err(SandboxError::Docker { context: "exec output", source: e });
                    }
                }
            }
            stdout.flush().await.map_err(|e| SandboxError::Transfer(e.to_string()))
        };
        let mut state_rx = self.shared.state.subscribe();
        tokio::select! {
            r = async { tokio::join!(feed, read).1 } => r?,
            _ = async { let _ = state_rx.wait_for(|s| *s != SandboxState::Alive).await; } => {
                return Err(self.shared.dead_error_after_kill().await);
            }
            _ = tokio::time::sleep(timeout) => {
                return Err(SandboxError::Transfer(format!("`{what}` did not finish within {} s", timeout.as_secs())));
            }
        }
        let code = self.exit_code(&exec.id).await?;
        if code != 0 {
            let msg = String::from_utf8_lossy(&stderr);
            return Err(SandboxError::Transfer(format!("`{what}` exited with {code}: {}", msg.trim())));
        }
        Ok(())
    }
}

/// Paths inside the sandbox must be absolute and free of `..`.
pub(crate) fn check_path(path: &str) -> Result<(), SandboxError> {
    if !path.starts_with('/') || path.split('/').any(|c| c == "..") {
        return Err(SandboxError::InvalidPath(path.to_owned()));
    }
    Ok(())
}
