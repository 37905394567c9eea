//! A smart-HTTP git server for tests: an axum server on 127.0.0.1:0 in front
//! of `git http-backend` (CGI, ships with git) serving bare repositories
//! under a temp root, so clone, fetch and push run over real HTTP with real
//! authentication. Only Basic auth `x-access-token:<token>` with a token the
//! test registered for that repository gets in; anything else is a 401 with
//! `WWW-Authenticate: Basic`, as GitHub answers. Bodies are streamed both
//! ways (pushes can be large). Every request is logged (method, URI, status)
//! so tests can assert what travelled in URLs.
//!
//! Also usable from examples through `#[path]`. Touches: its temp root, git
//! processes.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub method: String,
    /// Path and query, exactly as requested.
    pub uri: String,
    pub status: u16,
}

struct Shared {
    root: PathBuf,
    home: PathBuf,
    backend: PathBuf,
    tokens: Mutex<HashMap<String, HashSet<String>>>,
    log: Mutex<Vec<LoggedRequest>>,
}

/// The running server; stops when dropped.
pub struct GitHttp {
    url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl GitHttp {
    pub async fn start() -> GitHttp {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("repos");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&root).expect("root");
        std::fs::create_dir_all(&home).expect("home");
        let exec_path = std::process::Command::new("git").arg("--exec-path").output().expect("git --exec-path");
        let backend = PathBuf::from(String::from_utf8_lossy(&exec_path.stdout).trim()).join("git-http-backend");
        assert!(backend.is_file(), "git-http-backend not found at {}", backend.display());
        let shared =
            Arc::new(Shared { root, home, backend, tokens: Mutex::new(HashMap::new()), log: Mutex::new(Vec::new()) });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let app = router(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GitHttp { url, shared, server, _dir: dir }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The URL GitHub would report as `clone_url`.
    pub fn clone_url(&self, full_name: &str) -> String {
        format!("{}/{full_name}.git", self.url)
    }

    /// The bare repository on disk.
    pub fn repo_path(&self, full_name: &str) -> PathBuf {
        self.shared.root.join(format!("{full_name}.git"))
    }

    /// Lets `token` (as the password of `x-access-token`) read and push.
    pub fn allow_token(&self, full_name: &str, token: &str) {
        self.shared.tokens.lock().unwrap().entry(full_name.to_owned()).or_default().insert(token.to_owned());
    }

    /// The routes, for nesting into another test server (the fake GitHub).
    pub fn router(&self) -> Router {
        router(Arc::clone(&self.shared))
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Creates a bare repository with one commit on `main` holding `files`.
    pub async fn create_repo(&self, full_name: &str, files: &[(&str, &[u8])]) -> String {
        let path = self.repo_path(full_name);
        std::fs::create_dir_all(&path).expect("repo dir");
        self.git_in(&path, &["init", "--quiet", "--bare", "--initial-branch=main", "."], None).await;
        self.git_in(&path, &["config", "http.receivepack", "true"], None).await;
        self.commit_files(full_name, "main", files, "initial commit").await
    }

    /// Commits `files` (added or replaced) on top of `branch` (created if
    /// missing) directly in the served repository; returns the commit id.
    pub async fn commit_files(&self, full_name: &str, branch: &str, files: &[(&str, &[u8])], message: &str) -> String {
        let repo = self.repo_path(full_name);
        let work = tempfile::tempdir().expect("work dir");
        let index = work.path().join("index");
        let tree_dir = work.path().join("tree");
        for (name, content) in files {
            let p = tree_dir.join(name);
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            std::fs::write(&p, content).expect("write file");
        }
        std::fs::create_dir_all(&tree_dir).expect("tree dir");
        let env = |cmd: &mut Command| {
            cmd.env("GIT_DIR", &repo).env("GIT_WORK_TREE", &tree_dir).env("GIT_INDEX_FILE", &index);
        };
        let parent = self.branch_head(full_name, branch).await;
        if let Some(p) = &parent {
            self.git_with(&tree_dir, &["read-tree", p], None, env).await;
        }
        let mut paths = Vec::new();
        for (name, _) in files {
            paths.extend_from_slice(name.as_bytes());
            paths.push(0);
        }
        self.git_with(&tree_dir, &["add", "--pathspec-from-file=-", "--pathspec-file-nul"], Some(paths), env).await;
        let tree = self.git_with(&tree_dir, &["write-tree"], None, env).await;
        let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
        if let Some(p) = &parent {
            args.extend(["-p", p.as_str()]);
        }
        let commit = self.git_with(&tree_dir, &args, None, env).await;
        let refname = format!("refs/heads/{branch}");
        self.git_with(&tree_dir, &["update-ref", &refname, &commit], None, env).await;
        commit
    }

    /// The commit `branch` points at, if it exists.
    pub async fn branch_head(&self, full_name: &str, branch: &str) -> Option<String> {
        let out = self
            .try_git(&self.repo_path(full_name), &["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")])
            .await?;
        Some(out)
    }

    /// The content of `path` at the head of `branch`, if both exist.
    pub async fn read_file_at(&self, full_name: &str, branch: &str, path: &str) -> Option<Vec<u8>> {
        let spec = format!("refs/heads/{branch}:{path}");
        let out = git_command(&self.shared.home, &self.repo_path(full_name))
            .args(["cat-file", "blob", &spec])
            .output()
            .await
            .expect("git cat-file");
        out.status.success().then_some(out.stdout)
    }

    /// Runs any git command in the served repository; panics on failure.
    pub async fn git(&self, full_name: &str, args: &[&str]) -> String {
        self.git_in(&self.repo_path(full_name), args, None).await
    }

    async fn try_git(&self, dir: &Path, args: &[&str]) -> Option<String> {
        let out = git_command(&self.shared.home, dir).args(args).output().await.expect("git");
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    async fn git_in(&self, dir: &Path, args: &[&str], stdin: Option<Vec<u8>>) -> String {
        self.git_with(dir, args, stdin, |_| {}).await
    }

    async fn git_with(&self, dir: &Path, args: &[&str], stdin: Option<Vec<u8>>, env: impl Fn(&mut Command)) -> String {
        let mut cmd = git_command(&self.shared.home, dir);
        cmd.args(args).env("GIT_AUTHOR_NAME", "Upstream Dev").env("GIT_AUTHOR_EMAIL", "dev@example.com");
        cmd.env("GIT_COMMITTER_NAME", "Upstream Dev").env("GIT_COMMITTER_EMAIL", "dev@example.com");
        env(&mut cmd);
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn git");
        if let Some(bytes) = stdin {
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(&bytes).await.expect("write stdin");
        }
        let out = child.wait_with_output().await.expect("git");
        assert!(out.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

fn git_command(home: &Path, dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .kill_on_drop(true);
    cmd
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().to_string();
    let uri = req.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let response = serve(&shared, req).await;
    shared.log.lock().unwrap().push(LoggedRequest { method, uri, status: response.status().as_u16() });
    response
}

async fn serve(shared: &Shared, req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let Some(full_name) = repo_of(&path) else {
        return (StatusCode::NOT_FOUND, "not a repository path").into_response();
    };
    if !authorized(shared, &full_name, req.headers()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"GitHub\"")],
            "Invalid username or token.",
        )
            .into_response();
    }
    if !shared.root.join(format!("{full_name}.git")).is_dir() {
        return (StatusCode::NOT_FOUND, "Repository not found.").into_response();
    }
    match run_backend(shared, &path, req).await {
        Ok(r) => r,
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("git http-backend: {e}")).into_response(),
    }
}

/// `/owner/name.git/...` -> `owner/name`.
fn repo_of(path: &str) -> Option<String> {
    let mut parts = path.trim_start_matches('/').splitn(3, '/');
    let owner = parts.next()?;
    let name = parts.next()?.strip_suffix(".git")?;
    parts.next()?;
    let ok = |s: &str| {
        !s.is_empty() && !s.starts_with('.') && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    (ok(owner) && ok(name)).then(|| format!("{owner}/{name}"))
}

fn authorized(shared: &Shared, full_name: &str, headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else { return false };
    let Some(encoded) = value.strip_prefix("Basic ") else { return false };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else { return false };
    let Ok(decoded) = String::from_utf8(decoded) else { return false };
    let Some(token) = decoded.strip_prefix("x-access-token:") else { return false };
    shared.tokens.lock().unwrap().get(full_name).is_some_and(|set| set.contains(token))
}

async fn run_backend(shared: &Shared, path: &str, req: Request) -> std::io::Result<Response> {
    let mut cmd = Command::new(&shared.backend);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &shared.home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", &shared.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", req.method().as_str())
        .env("PATH_INFO", path)
        .env("QUERY_STRING", req.uri().query().unwrap_or(""))
        .env("REMOTE_USER", "x-access-token")
        .env("REMOTE_ADDR", "127.0.0.1");
    for (name, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-length", "CONTENT_LENGTH"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(v) = req.headers().get(name).and_then(|v| v.to_str().ok()) {
            cmd.env(var, v);
        }
    }
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let mut body = req.into_body().into_data_stream();
    tokio::spawn(async move {
        while let Some(Ok(chunk)) = body.next().await {
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
        // Dropping stdin closes it: the backend sees the end of the request.
    });
    tokio::spawn(async move {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text).await;
        if !text.trim().is_empty() {
            eprintln!("git http-backend: {}", text.trim());
        }
    });

    // CGI: header lines, a blank line, then the body.
    let mut head = Vec::new();
    let body_start = loop {
        let mut buf = [0u8; 8192];
        let n = stdout.read(&mut buf).await?;
        if n == 0 {
            return Err(std::io::Error::other("backend closed before its headers ended"));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = find(&head, b"\r\n\r\n") {
            break i + 4;
        }
        if let Some(i) = find(&head, b"\n\n") {
            break i + 2;
        }
        if head.len() > 64 * 1024 {
            return Err(std::io::Error::other("backend headers too long"));
        }
    };
    let rest = head.split_off(body_start);
    let mut builder = Response::builder().status(StatusCode::OK);
    for line in String::from_utf8_lossy(&head).lines() {
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split(' ').next().and_then(|c| c.parse().ok()).unwrap_or(500);
            builder = builder.status(code);
        } else if let (Ok(n), Ok(v)) = (HeaderName::try_from(name.trim()), HeaderValue::try_from(value)) {
            builder = builder.header(n, v);
        }
    }
    let first = futures_util::stream::once(async move { Ok::<_, std::io::Error>(Bytes::from(rest)) });
    let body = first.chain(read_stream(stdout, child));
    builder.body(Body::from_stream(body)).map_err(std::io::Error::other)
}

/// The backend's stdout as a stream; the child is reaped at its end.
fn read_stream<R: AsyncRead + Unpin + Send + 'static>(
    reader: R,
    child: tokio::process::Child,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send {
    futures_util::stream::unfold(Some((reader, child)), |state| async move {
        let (mut reader, mut child) = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match reader.read(&mut buf).await {
            Ok(0) => {
                let _ = child.wait().await;
                None
            }
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some((reader, child))))
            }
            Err(e) => Some((Err(e), None)),
        }
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
