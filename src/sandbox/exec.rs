//! Running one step inside a sandbox: as the sandbox user, in a working
//! directory, with per-exec environment (the only place secrets go), output
//! streamed through the mask/UTF-8/cap pipeline to the caller's sink, a
//! per-exec timeout that kills the whole process group, and a clear outcome
//! (exit code, timed out, out of memory, disk full).

use std::sync::Arc;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use futures_util::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::container::{Sandbox, SandboxState};
use super::internal::check_path;
use super::output::{OutputEvent, OutputPipeline, OutputStats, OutputStream};
use super::retry::retrying;
use super::{SANDBOX_USER, SandboxError, WORKSPACE};
use crate::masker::Masker;

/// How long after its timeout an exec may still hold its output stream open
/// before the sandbox is killed as the last resort.
const BACKSTOP_GRACE: Duration = Duration::from_secs(10);
/// Runs `timeout -s KILL <duration> argv...` (duration in `$0`) in its own
/// process group, waits for it, kills the rest of the group, keeps its status.
const PROCESS_GROUP_WRAPPER: &str =
    r#"timeout -s KILL "$0" "$@" & pid=$!; wait "$pid" 2>/dev/null; rc=$?; kill -KILL -"$pid" 2>/dev/null; exit "$rc""#;

/// One command to run in the sandbox.
pub struct ExecRequest {
    argv: Vec<String>,
    workdir: String,
    env: Vec<(String, String)>,
    secret_env: Vec<(String, SecretString)>,
    timeout: Option<Duration>,
    masker: Arc<Masker>,
}

impl std::fmt::Debug for ExecRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecRequest")
            .field("argv", &self.argv)
            .field("workdir", &self.workdir)
            .field("env", &self.env)
            .field("secret_env", &self.secret_env.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl ExecRequest {
    /// A command as argv (no shell unless you run one); runs in `/workspace`
    /// with the settings' exec timeout and the process-wide masker
    /// ([`crate::masker::global`]) unless [`ExecRequest::masker`] is given.
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            argv: argv.into_iter().map(Into::into).collect(),
            workdir: WORKSPACE.to_owned(),
            env: Vec::new(),
            secret_env: Vec::new(),
            timeout: None,
            masker: crate::masker::global().masker(),
        }
    }

    /// Working directory (absolute).
    pub fn workdir(mut self, dir: impl Into<String>) -> Self {
        self.workdir = dir.into();
        self
    }

    /// A non-secret environment variable for this exec only.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// A secret environment variable for this exec only. The caller's masker
    /// must know the value (it is not added automatically).
    pub fn secret_env(mut self, key: impl Into<String>, value: SecretString) -> Self {
        self.secret_env.push((key.into(), value));
        self
    }

    /// Overrides the settings' per-exec timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The masker every output byte passes through.
    pub fn masker(mut self, masker: Arc<Masker>) -> Self {
        self.masker = masker;
        self
    }
}

/// How an exec ended, when the sandbox itself survived it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutcome {
    /// The command exited on its own (0 = success).
    Exited { code: i64 },
    /// The per-exec timeout passed; its whole process group was killed.
    TimedOut { after: Duration },
    /// A process was killed by the sandbox's memory limit.
    OutOfMemory,
    /// A writable mount (`/workspace`, `/tmp`, `$HOME`) ran out of space.
    DiskFull { mount: String },
}

impl ExecOutcome {
    pub fn succeeded(&self) -> bool {
        matches!(self, ExecOutcome::Exited { code: 0 })
    }
}

/// The result of an exec the sandbox survived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    pub outcome: ExecOutcome,
    pub output: OutputStats,
    pub duration: Duration,
}

enum End {
    Closed,
    Dead,
    Backstop,
    Stream(bollard::errors::Error),
}

async fn deliver(sink: &mpsc::Sender<OutputEvent>, events: Vec<OutputEvent>) {
    for e in events {
        // A gone receiver must not stop the exec; output is then discarded.
        let _ = sink.send(e).await;
    }
}

impl Sandbox {
    /// Runs a command and streams its output to `sink`. Errors mean the
    /// sandbox is unusable (cancelled, job deadline, gone) or Docker failed;
    /// a failing command is an `Ok` with its [`ExecOutcome`].
    pub async fn exec(&self, req: ExecRequest, sink: &mpsc::Sender<OutputEvent>) -> Result<ExecResult, SandboxError> {
        self.ensure_alive()?;
        check_path(&req.workdir)?;
        // GNU timeout reads a zero duration as "no limit"; never send one.
        let timeout = req.timeout.unwrap_or(self.settings.exec_timeout).max(Duration::from_millis(1));
        // `timeout` puts the command in a process group of its own and
        // SIGKILLs the whole group when time is up; when the command ends on
        // its own, the wrapper kills what it left running in that group
        // (background jobs, a fork bomb), so nothing outlives its step.
        let mut cmd = vec![
            "sh".to_owned(),
            "-c".to_owned(),
            PROCESS_GROUP_WRAPPER.to_owned(),
            format!("{:.3}s", timeout.as_secs_f64()),
        ];
        cmd.extend(req.argv);
        let mut env: Vec<String> = req.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.extend(req.secret_env.iter().map(|(k, v)| format!("{k}={}", v.expose_secret())));
        let started = Instant::now();
        let docker = &self.shared.docker;
        let config = ExecConfig {
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            cmd: Some(cmd),
            env: Some(env),
            user: Some(SANDBOX_USER.to_owned()),
            working_dir: Some(req.workdir),
            ..Default::default()
        };
        // An exec created by a lost attempt is never started: harmless.
        let exec = retrying("create exec", |_| docker.create_exec(&self.shared.container, config.clone())).await;
        let exec = self.docker_or_dead(exec, "create exec")?;
        // Docker starts an exec at most once (a second start is a 409), so a
        // retry never runs the command twice.
        let started_exec = retrying("start exec", |_| docker.start_exec(&exec.id, None::<StartExecOptions>)).await;
        let StartExecResults::Attached { mut output, .. } = self.docker_or_dead(started_exec, "start exec")? else {
            return Err(SandboxError::Transfer("exec started detached".to_owned()));
        };

        let mut pipeline = OutputPipeline::new(&req.masker, self.settings.output_cap_bytes);
        let mut state_rx = self.shared.state.subscribe();
        let backstop = tokio::time::sleep(timeout + BACKSTOP_GRACE);
        tokio::pin!(backstop);
        let end = loop {
            tokio::select! {
                biased;
                _ = async { let _ = state_rx.wait_for(|s| *s != SandboxState::Alive).await; } => break End::Dead,
                _ = &mut backstop => break End::Backstop,
                item = output.next() => match item {
                    Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                        deliver(sink, pipeline.push(OutputStream::Stdout, &message)).await;
                    }
                    Some(Ok(LogOutput::StdErr { message })) => {
                        deliver(sink, pipeline.push(OutputStream::Stderr, &message)).await;
                    }
                    Some(Ok(LogOutput::StdIn { .. })) => {}
                    Some(Err(e)) => break End::Stream(e),
                    None => break End::Closed,
                },
            }
        };
        drop(output);
        let (rest, stats) = pipeline.finish();
        deliver(sink, rest).await;
        if self.shared.dead_error().is_some() {
            return Err(self.shared.dead_error_after_kill().await);
        }
        let code = match end {
            End::Dead => return Err(self.shared.dead_error_after_kill().await),
            End::Stream(e) => {
                return Err(SandboxError::Docker { context: "exec output", source: e });
            }
            End::Backstop => {
                let running = docker.inspect_exec(&exec.id).await.ok().and_then(|i| i.running).unwrap_or(true);
                if running {
                    // `timeout` itself did not end: nothing short of killing
                    // the container stops it.
                    self.shared.kill(SandboxState::Lost("an exec outlived its timeout".to_owned())).await;
                    return Err(self.shared.dead_error().unwrap_or(SandboxError::Cancelled));
                }
                // The command is dead; an escaped background process held the stream.
                return Ok(ExecResult {
                    outcome: ExecOutcome::TimedOut { after: timeout },
                    output: stats,
                    duration: started.elapsed(),
                });
            }
            End::Closed => self.exit_code(&exec.id).await?,
        };
        let duration = started.elapsed();
        let outcome = if code == 0 {
            ExecOutcome::Exited { code }
        } else if duration >= timeout && (code == 137 || code == 124) {
            ExecOutcome::TimedOut { after: timeout }
        } else {
            self.classify_failure(code, stats.saw_enospc).await
        };
        Ok(ExecResult { outcome, output: stats, duration })
    }
}
