//! Runs the system `git` binary for the host side of the pipeline, in an
//! environment nothing on the host can influence, and is the only place where
//! an installation token meets a git process.
//!
//! The token travels as an `http.extraHeader` through `GIT_CONFIG_COUNT`/
//! `GIT_CONFIG_KEY_0`/`GIT_CONFIG_VALUE_0` in the environment of that one
//! process: never argv (visible to every user through `ps`), never a URL
//! (git writes remote URLs into config files and error messages), never a
//! file. Everything git prints goes through the process-wide masker before it
//! can reach an error message. Touches: child processes only.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::io::AsyncWriteExt;
use tokio::process::{ChildStdout, Command};

use super::GitError;
use super::retry::GitRetry;

/// How many argv vectors [`Git::argv_log`] keeps.
const ARGV_LOG_LEN: usize = 512;
/// How much of git's stderr an error message carries (the tail, where git
/// puts the reason).
const STDERR_TAIL: usize = 2000;

/// Host variables a git process may still see: proxies and CA bundles a host
/// needs to reach GitHub at all. Everything else (notably `GIT_TRACE*`,
/// `GIT_CURL_VERBOSE`, which would print the auth header, `GIT_DIR`, and the
/// user's own config) is dropped.
const PASSTHROUGH_ENV: &[&str] = &[
    "PATH",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "all_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "GIT_SSL_CAINFO",
    "TMPDIR",
];

/// Config for every network operation, on the command line because none of
/// it is secret: only http(s) transports (never `ext::`, `file://` or ssh from
/// a URL someone else chose); no redirects, so the auth header is never
/// replayed to another host; a stalled transfer fails instead of hanging.
const NETWORK_CONFIG: &[&str] = &[
    "protocol.allow=never",
    "protocol.https.allow=always",
    "protocol.http.allow=always",
    "http.followRedirects=false",
    "http.lowSpeedLimit=1000",
    "http.lowSpeedTime=60",
    "credential.helper=",
    "core.askPass=",
];

/// Config for every command that looks at a working tree the sandbox wrote:
/// nothing in it may make the host run a program (fsmonitor and hooks are
/// the usual carriers; the repository config they would come from is the
/// host's own anyway, see `workcopy.rs`).
const HARDENING_CONFIG: &[&str] =
    &["core.fsmonitor=false", "core.hooksPath=/dev/null", "core.untrackedCache=false", "gc.auto=0"];

/// One git command to run.
#[derive(Default)]
pub(crate) struct GitCmd<'a> {
    args: Vec<OsString>,
    cwd: Option<&'a Path>,
    token: Option<&'a SecretString>,
    env: Vec<(&'static str, OsString)>,
    stdin: Option<Vec<u8>>,
    network: bool,
    op: String,
}

impl<'a> GitCmd<'a> {
    /// `op` names the operation in errors ("fetch owner/name").
    pub(crate) fn new(op: impl Into<String>) -> Self {
        GitCmd { op: op.into(), ..Default::default() }
    }
    pub(crate) fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }
    pub(crate) fn args<I: IntoIterator<Item = S>, S: Into<OsString>>(mut self, it: I) -> Self {
        self.args.extend(it.into_iter().map(Into::into));
        self
    }
    pub(crate) fn cwd(mut self, dir: &'a Path) -> Self {
        self.cwd = Some(dir);
        self
    }
    /// Authenticates this one process with an installation token; also marks
    /// the command as a network operation.
    pub(crate) fn token(mut self, token: &'a SecretString) -> Self {
        self.token = Some(token);
        self.network = true;
        self
    }
    pub(crate) fn env(mut self, key: &'static str, value: impl Into<OsString>) -> Self {
        self.env.push((key, value.into()));
        self
    }
    pub(crate) fn stdin(mut self, bytes: Vec<u8>) -> Self {
        self.stdin = Some(bytes);
        self
    }
}

/// What a successful git command printed.
pub(crate) struct GitOutput {
    pub(crate) stdout: Vec<u8>,
}

impl GitOutput {
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).trim().to_owned()
    }
}

/// The git runner: program, isolated home, timeout, and a record of every
/// argv it started (so tests can prove no token ever reached one).
#[derive(Clone)]
pub struct Git {
    inner: Arc<Inner>,
}

struct Inner {
    program: PathBuf,
    home: PathBuf,
    timeout: Duration,
    retry: GitRetry,
    argv_log: Mutex<VecDeque<Vec<String>>>,
}

impl std::fmt::Debug for Git {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Git").field("program", &self.inner.program).field("home", &self.inner.home).finish()
    }
}

impl Git {
    /// `home` must be a directory Maxion owns and keeps empty: it becomes
    /// `HOME` and `XDG_CONFIG_HOME` of every git process, so no user or
    /// global git config applies.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        Self::with_options("git", home, Duration::from_secs(600))
    }

    /// A runner with an explicit program and per-command timeout.
    pub fn with_options(program: impl Into<PathBuf>, home: impl Into<PathBuf>, timeout: Duration) -> Self {
        Git {
            inner: Arc::new(Inner {
                program: program.into(),
                home: home.into(),
                timeout,
                retry: GitRetry::default(),
                argv_log: Mutex::new(VecDeque::new()),
            }),
        }
    }

    /// The same runner with another retry policy for network operations.
    pub fn with_retry(self, retry: GitRetry) -> Self {
        let inner = &self.inner;
        Git {
            inner: Arc::new(Inner {
                program: inner.program.clone(),
                home: inner.home.clone(),
                timeout: inner.timeout,
                retry,
                argv_log: Mutex::new(inner.argv_log.lock().unwrap_or_else(|e| e.into_inner()).clone()),
            }),
        }
    }

    /// How network operations are retried.
    pub fn retry_policy(&self) -> &GitRetry {
        &self.inner.retry
    }

    /// The argv of the most recent git processes (oldest first), exactly as
    /// started, program excluded.
    pub fn argv_log(&self) -> Vec<Vec<String>> {
        self.inner.argv_log.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
    }

    fn log_argv(&self, argv: Vec<String>) {
        let mut log = self.inner.argv_log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() == ARGV_LOG_LEN {
            log.pop_front();
        }
        log.push_back(argv);
    }

    fn command(&self, cmd: &GitCmd<'_>) -> Result<(Command, Vec<String>), GitError> {
        let mut args: Vec<OsString> = Vec::new();
        let config = HARDENING_CONFIG.iter().chain(if cmd.network { NETWORK_CONFIG } else { &[] });
        for c in config {
            args.push("-c".into());
            args.push((*c).into());
        }
        args.extend(cmd.args.iter().cloned());

        let mut command = Command::new(&self.inner.program);
        command.args(&args).env_clear();
        for key in PASSTHROUGH_ENV {
            if let Some(v) = std::env::var_os(key) {
                command.env(key, v);
            }
        }
        let home = &self.inner.home;
        command
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ASKPASS", "")
            .env("SSH_ASKPASS", "")
            // Stable English messages: error classification reads them.
            .env("LC_ALL", "C")
            .env("LANG", "C");
        if let Some(token) = cmd.token {
            command
                .env("GIT_CONFIG_COUNT", "1")
                .env("GIT_CONFIG_KEY_0", "http.extraHeader")
                .env("GIT_CONFIG_VALUE_0", auth_header(token)?.expose_secret());
        }
        for (k, v) in &cmd.env {
            command.env(k, v);
        }
        if let Some(dir) = cmd.cwd {
            command.current_dir(dir);
        }
        command
            .stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let argv = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        Ok((command, argv))
    }

    /// Runs a command; a non-zero exit becomes a classified [`GitError`]
    /// carrying git's masked stderr.
    pub(crate) async fn run(&self, cmd: GitCmd<'_>) -> Result<GitOutput, GitError> {
        let (mut command, argv) = self.command(&cmd)?;
        self.log_argv(argv);
        let mut child = command
            .spawn()
            .map_err(|source| GitError::Io { context: format!("git {}: cannot start git", cmd.op), source })?;
        let writer = match (cmd.stdin, child.stdin.take()) {
            (Some(bytes), Some(mut pipe)) => Some(tokio::spawn(async move {
                // A broken pipe here means git exited early; its exit
                // status says why, so the write error itself is not kept.
                let _ = pipe.write_all(&bytes).await;
            })),
            _ => None,
        };
        let secs = self.inner.timeout.as_secs();
        let output = match tokio::time::timeout(self.inner.timeout, child.wait_with_output()).await {
            Ok(out) => out.map_err(|source| GitError::Io { context: format!("git {}", cmd.op), source })?,
            Err(_) => return Err(GitError::Timeout { op: cmd.op, secs }),
        };
        if let Some(w) = writer {
            let _ = w.await;
        }
        if output.status.success() {
            return Ok(GitOutput { stdout: output.stdout });
        }
        let stderr = masked_tail(&output.stderr);
        Err(classify(cmd.op, cmd.network, output.status.code(), stderr))
    }
}

/// A running git process whose stdout the caller reads as a stream (e.g.
/// `git archive` straight into the sandbox); [`GitStream::finish`] reports
/// how it ended.
pub struct GitStream {
    child: tokio::process::Child,
    op: String,
    timeout: Duration,
}

impl Git {
    /// Starts a local (token-less) command and hands back its stdout.
    pub(crate) fn spawn_stdout(&self, cmd: GitCmd<'_>) -> Result<(GitStream, ChildStdout), GitError> {
        if cmd.token.is_some() || cmd.stdin.is_some() {
            return Err(GitError::Invalid(format!("git {}: streamed commands take no token or stdin", cmd.op)));
        }
        let (mut command, argv) = self.command(&cmd)?;
        self.log_argv(argv);
        let mut child = command
            .spawn()
            .map_err(|source| GitError::Io { context: format!("git {}: cannot start git", cmd.op), source })?;
        let stdout = child.stdout.take().ok_or_else(|| GitError::Invalid(format!("git {}: no stdout", cmd.op)))?;
        Ok((GitStream { child, op: cmd.op, timeout: self.inner.timeout }, stdout))
    }
}

impl GitStream {
    /// Waits for the process (after its stdout was read to the end or
    /// dropped); a non-zero exit is a [`GitError`] with git's masked stderr.
    pub async fn finish(self) -> Result<(), GitError> {
        let GitStream { child, op, timeout } = self;
        let output = match tokio::time::timeout(timeout, child.wait_with_output()).await {
            Ok(out) => out.map_err(|source| GitError::Io { context: format!("git {op}"), source })?,
            Err(_) => return Err(GitError::Timeout { op, secs: timeout.as_secs() }),
        };
        if output.status.success() {
            return Ok(());
        }
        Err(classify(op, false, output.status.code(), masked_tail(&output.stderr)))
    }
}

/// `Authorization: Basic base64(x-access-token:TOKEN)`, with the token and
/// its encoded form registered with the masker first.
fn auth_header(token: &SecretString) -> Result<SecretString, GitError> {
    let masker = crate::masker::global();
    masker.add(token).map_err(|e| GitError::Invalid(format!("installation token: {e}")))?;
    let encoded = crate::github::git_basic_credential(token);
    masker.add(&encoded).map_err(|e| GitError::Invalid(format!("installation token: {e}")))?;
    Ok(SecretString::from(format!("Authorization: Basic {}", encoded.expose_secret())))
}

fn masked_tail(stderr: &[u8]) -> String {
    let text = crate::masker::global().mask(&String::from_utf8_lossy(stderr));
    let text = text.trim();
    if text.len() <= STDERR_TAIL {
        return text.to_owned();
    }
    let mut start = text.len() - STDERR_TAIL;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

/// Sorts a failed command into the kinds callers branch on, by the messages
/// git (with `LC_ALL=C`) and curl print.
fn classify(op: String, network: bool, code: Option<i32>, stderr: String) -> GitError {
    if network {
        let lower = stderr.to_ascii_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
        if has(&[
            "authentication failed",
            "could not read username",
            "could not read password",
            "terminal prompts disabled",
            "returned error: 401",
            "returned error: 403",
            "http 401",
            "http 403",
            "permission to",
            "access denied",
        ]) {
            return GitError::Auth { op, stderr };
        }
        if has(&["[rejected]", "[remote rejected]", "stale info", "non-fast-forward", "failed to push some refs"]) {
            return GitError::Rejected { op, stderr };
        }
        if has(&[
            "could not resolve host",
            "failed to connect",
            "couldn't connect",
            "connection refused",
            "connection reset",
            "timed out",
            "operation too slow",
            "rpc failed",
            "early eof",
            "unable to access",
            "hung up unexpectedly",
            "returned error: 5",
            "ssl",
            "tls",
        ]) {
            return GitError::Network { op, stderr };
        }
    }
    GitError::Failed { op, code, stderr }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_git_messages() {
        let c = |s: &str| classify("push".into(), true, Some(128), s.into());
        assert!(matches!(c("fatal: Authentication failed for 'https://x/'"), GitError::Auth { .. }));
        assert!(matches!(
            c("fatal: unable to access 'https://x/': The requested URL returned error: 403"),
            GitError::Auth { .. }
        ));
        assert!(matches!(c(" ! [rejected]        b -> b (stale info)"), GitError::Rejected { .. }));
        assert!(matches!(
            c("fatal: unable to access 'https://x/': Failed to connect to x port 443"),
            GitError::Network { .. }
        ));
        assert!(matches!(c("fatal: bad object"), GitError::Failed { .. }));
        // A local command is never mistaken for a network failure.
        assert!(matches!(
            classify("add".into(), false, Some(1), "authentication failed".into()),
            GitError::Failed { .. }
        ));
    }

    #[test]
    fn stderr_tail_is_capped_on_a_char_boundary() {
        let long = "é".repeat(STDERR_TAIL);
        let tail = masked_tail(long.as_bytes());
        assert!(tail.len() <= STDERR_TAIL + 4);
        assert!(tail.starts_with('…'));
    }
}
