//! Git smart HTTP for the fake's repositories, served by `git http-backend` (CGI, ships
//! with git) behind the fake's own server, at `{url}/{owner}/{name}.git` as on GitHub.
//! Only `x-access-token:<installation token>` basic auth scoped to the repository is
//! accepted (contents:read to fetch, contents:write to push).
//!
//! A repository's bare git copy lives under the fake's temp dir and is created on first
//! use from the fake's branch files (so branch shas become real commit shas then); after a
//! push the fake's branches and known commits are re-read from it. Touches only that dir.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::auth::{self, has_permission};
use super::git_failure::{self, GitFailure};
use super::model::{AuthKind, Branch, RecordedRequest, RepoId, State};
use super::server::Shared;

const SERVICES: &[&str] = &["info/refs", "git-upload-pack", "git-receive-pack"];

/// `(owner, name, service)` of a smart-HTTP path (`/o/r.git/info/refs`, `/o/r/git-upload-pack`).
fn parse(path: &str) -> Option<(String, String, String)> {
    let rest = path.strip_prefix('/')?;
    let (owner, rest) = rest.split_once('/')?;
    let (name, service) = rest.split_once('/')?;
    if !SERVICES.contains(&service) || owner.is_empty() || name.is_empty() {
        return None;
    }
    let name = name.strip_suffix(".git").unwrap_or(name);
    Some((owner.to_string(), name.to_string(), service.to_string()))
}

pub fn is_git_path(path: &str) -> bool {
    !path.starts_with("/repos/") && parse(path).is_some()
}

fn git(dir: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("--git-dir")
        .arg(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0");
    c
}

fn run(mut c: Command, input: Option<&[u8]>) -> Vec<u8> {
    c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("git is installed");
    let stdin = child.stdin.take().expect("stdin");
    // Fed from another thread while stdout is read here: a large input to a
    // command that answers as it reads (`cat-file --batch`) would otherwise
    // fill both pipes and hang.
    let out = std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut stdin = stdin;
            if let Some(bytes) = input {
                stdin.write_all(bytes).expect("write to git");
            }
        });
        child.wait_with_output().expect("git runs")
    });
    assert!(out.status.success(), "git failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

pub fn bare_path(root: &Path, owner: &str, name: &str) -> PathBuf {
    root.join(owner).join(format!("{name}.git"))
}

/// Commits `files` as the whole tree of `branch` (on top of `parent`) with fast-import;
/// returns the new commit sha.
pub fn commit_tree(dir: &Path, branch: &str, parent: Option<&str>, files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut stream = Vec::new();
    let message = b"fake GitHub commit\n";
    write!(
        stream,
        "commit refs/heads/{branch}\ncommitter Fake GitHub <fake@example.invalid> 1700000000 +0000\ndata {}\n",
        message.len()
    )
    .ok();
    stream.extend_from_slice(message);
    if let Some(p) = parent {
        writeln!(stream, "from {p}").ok();
    }
    stream.extend_from_slice(b"deleteall\n");
    for (path, bytes) in files {
        write!(stream, "M 100644 inline {path}\ndata {}\n", bytes.len()).ok();
        stream.extend_from_slice(bytes);
        stream.push(b'\n');
    }
    let mut c = git(dir);
    c.args(["fast-import", "--quiet", "--force"]);
    run(c, Some(&stream));
    let mut c = git(dir);
    c.args(["rev-parse", &format!("refs/heads/{branch}")]);
    String::from_utf8_lossy(&run(c, None)).trim().to_string()
}

pub fn update_ref(dir: &Path, branch: &str, sha: &str) {
    let mut c = git(dir);
    c.args(["update-ref", &format!("refs/heads/{branch}"), sha]);
    run(c, None);
}

/// Creates the bare repository from the fake's branches if missing; updates their shas.
pub fn materialize(state: &mut State, repo: RepoId) -> PathBuf {
    let root = state.git_root.clone().expect("git root");
    let r = state.repo(repo);
    let dir = bare_path(&root, &r.owner, &r.name);
    if dir.exists() {
        return dir;
    }
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut c = git(&dir);
    c.args(["init", "--bare", "--quiet", "--initial-branch", &r.default_branch]);
    run(c, None);
    let branches: Vec<(String, Branch)> = r.branches.iter().map(|(n, b)| (n.clone(), b.clone())).collect();
    for (name, b) in branches {
        let sha = commit_tree(&dir, &name, None, &b.files);
        let r = state.repo_mut(repo);
        r.branches.get_mut(&name).expect("branch").sha = sha.clone();
        r.commits.insert(sha);
    }
    dir
}

/// Re-reads every branch from the bare repository after a push.
pub fn sync_from_git(state: &mut State, repo: RepoId, dir: &Path) {
    let mut c = git(dir);
    c.args(["for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/"]);
    let refs = String::from_utf8_lossy(&run(c, None)).into_owned();
    let mut seen = Vec::new();
    for line in refs.lines() {
        let Some((sha, name)) = line.split_once(' ') else {
            continue;
        };
        let name = name.trim_start_matches("refs/heads/").to_string();
        seen.push(name.clone());
        if state.repo(repo).branches.get(&name).is_some_and(|b| b.sha == sha) {
            continue;
        }
        let files = read_tree(dir, sha);
        let r = state.repo_mut(repo);
        r.branches.insert(name, Branch { sha: sha.to_string(), files });
        r.commits.insert(sha.to_string());
    }
    state.repo_mut(repo).branches.retain(|name, _| seen.contains(name));
}

fn read_tree(dir: &Path, sha: &str) -> BTreeMap<String, Vec<u8>> {
    let mut c = git(dir);
    c.args(["ls-tree", "-r", "-z", sha]);
    let listing = run(c, None);
    let mut entries = Vec::new();
    for item in listing.split(|b| *b == 0).filter(|i| !i.is_empty()) {
        let item = String::from_utf8_lossy(item);
        let Some((meta, path)) = item.split_once('\t') else {
            continue;
        };
        let mut meta = meta.split(' ');
        let (_mode, kind, object) = (meta.next(), meta.next(), meta.next());
        if kind == Some("blob") {
            entries.push((path.to_string(), object.unwrap_or_default().to_string()));
        }
    }
    let input: String = entries.iter().map(|(_, o)| format!("{o}\n")).collect();
    let mut c = git(dir);
    c.args(["cat-file", "--batch"]);
    let out = run(c, Some(input.as_bytes()));
    let mut files = BTreeMap::new();
    let mut at = 0;
    for (path, _) in entries {
        let header_end = at + out[at..].iter().position(|b| *b == b'\n').expect("cat-file header");
        let header = String::from_utf8_lossy(&out[at..header_end]).into_owned();
        let size: usize = header.rsplit(' ').next().and_then(|s| s.parse().ok()).expect("blob size");
        let start = header_end + 1;
        files.insert(path, out[start..start + size].to_vec());
        at = start + size + 1;
    }
    files
}

fn unauthorized() -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        "Invalid username or token. Password authentication is not supported for Git operations.\n",
    )
        .into_response();
    r.headers_mut().insert("www-authenticate", "Basic realm=\"GitHub\"".parse().expect("header"));
    r
}

pub async fn serve(shared: Shared, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let (owner, name, service) = parse(&path).expect("checked by is_git_path");
    let query = uri.query().unwrap_or_default().to_string();
    let pushing = service == "git-receive-pack" || query.contains("service=git-receive-pack");
    let (dir, repo, root, injected) = {
        let mut guard = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let state = &mut *guard;
        let index = state.requests.len();
        state.requests.push(RecordedRequest {
            method: method.to_string(),
            path: path.clone(),
            query: Vec::new(),
            body: serde_json::Value::Null,
            auth: AuthKind::None,
            operation: Some(format!("git {service}")),
            status: 401,
            at: chrono::Utc::now(),
        });
        let Some(repo) = state.repo_by_name(&owner, &name) else {
            state.requests[index].status = 404;
            return (StatusCode::NOT_FOUND, "Repository not found.\n").into_response();
        };
        // git asks anonymously first and retries with credentials on 401: not a violation.
        let Some(cred) = auth::credential(&headers) else {
            return unauthorized();
        };
        let token = state.tokens.get(&cred).cloned();
        let now = state.now();
        let ok = token.as_ref().is_some_and(|t| {
            !t.revoked
                && t.expires_at > now
                && t.installation == state.repo(repo).installation
                && t.repos.as_ref().is_none_or(|ids| ids.contains(&repo))
                && has_permission(&t.permissions, "contents", if pushing { "write" } else { "read" })
        });
        if !ok {
            // As on the API: the first 401 for an expired or revoked token is excusable.
            let dead = token.as_ref().is_some_and(|t| t.revoked || t.expires_at <= now);
            let first = token.as_ref().is_some_and(|t| !t.refused);
            if let Some(t) = state.tokens.get_mut(&cred).filter(|_| dead) {
                t.refused = true;
            }
            if !(dead && first) {
                state.violation(format!("git {service} {owner}/{name}: refused credentials"));
            }
            return unauthorized();
        }
        let inst = token.map(|t| t.installation).expect("checked");
        state.requests[index].auth = AuthKind::GitBasic(inst);
        state.requests[index].status = 200;
        let injected = match git_failure::take(state, method.as_str(), &service, &path) {
            Some(GitFailure::Refuse(response)) => {
                state.requests[index].status = response.status().as_u16();
                return response;
            }
            Some(GitFailure::AfterApply) => {
                state.requests[index].status = 502;
                Some(GitFailure::AfterApply)
            }
            other => other,
        };
        let dir = materialize(state, repo);
        (dir, repo, state.git_root.clone().expect("git root"), injected)
    };
    if let Some(GitFailure::Delay(d)) = &injected {
        tokio::time::sleep(*d).await;
    }
    let response = cgi(&root, &method, &path, &query, &headers, body).await;
    if service == "git-receive-pack" {
        let mut state = shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        sync_from_git(&mut state, repo, &dir);
    }
    if let Some(GitFailure::AfterApply) = &injected {
        return (StatusCode::BAD_GATEWAY, "Bad Gateway\n").into_response();
    }
    response
}

/// Runs `git http-backend` for one request and turns its CGI output into a response.
async fn cgi(root: &Path, method: &Method, path: &str, query: &str, headers: &HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut child = tokio::process::Command::new("git")
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "x-access-token")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type"))
        .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
        .env("HTTP_GIT_PROTOCOL", header("git-protocol"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("git http-backend");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let mut out = Vec::new();
    let _ = child.stdout.take().expect("stdout").read_to_end(&mut out).await;
    let _ = writer.await;
    let _ = child.wait().await;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4))
        .or_else(|| out.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2)));
    let Some((at, sep)) = split else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "git http-backend gave no headers").into_response();
    };
    let mut response = Response::new(Body::from(out[at + sep..].to_vec()));
    for line in String::from_utf8_lossy(&out[..at]).lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("status") {
            let code = v.split(' ').next().and_then(|c| c.parse().ok()).unwrap_or(500);
            *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let (Ok(name), Ok(value)) = (axum::http::HeaderName::from_bytes(k.as_bytes()), v.parse()) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
