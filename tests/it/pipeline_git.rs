//! Host-side git against a real smart-HTTP server (`git http-backend` behind
//! axum, token-checked): mirror clone and warm fetch, the job's working
//! copy, commit (with `.maxion/` left out and the co-author trailer), push
//! with lease, typed auth errors, and the token never reaching a file, an
//! argv, a URL or an error message.

use std::path::{Path, PathBuf};

use crate::support::git_http::GitHttp;
use std::time::Duration;

use maxion::pipeline::git::{CoAuthor, GitError, GitRetry, Identity, MirrorCache, SyncKind, branch_name};
use secrecy::SecretString;

const REPO: &str = "octo/widgets";
const TOKEN: &str = "ghs_goodToken0123456789abcdefghijklmnopq";
const WRONG: &str = "ghs_wrongToken123456789abcdefghijklmnopq";

fn bot() -> Identity {
    Identity { name: "maxion[bot]".into(), email: "123+maxion[bot]@users.noreply.github.com".into() }
}

fn token(t: &str) -> SecretString {
    SecretString::from(t.to_owned())
}

struct Setup {
    server: GitHttp,
    cache: MirrorCache,
    data: tempfile::TempDir,
}

async fn setup() -> Setup {
    let server = GitHttp::start().await;
    server
        .create_repo(REPO, &[("README.md", b"# widgets\n"), ("src/lib.rs", b"pub fn a() {}\n"), ("old.txt", b"old\n")])
        .await;
    server.allow_token(REPO, TOKEN);
    let data = tempfile::tempdir().expect("data dir");
    let cache = MirrorCache::new(data.path()).expect("cache");
    Setup { server, cache, data }
}

/// Plain git on a test-owned directory, isolated from the host's config.
fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let entry = entry.expect("entry");
            let ty = entry.file_type().expect("type");
            if ty.is_dir() {
                stack.push(entry.path());
            } else if ty.is_file() {
                out.push(entry.path());
            }
        }
    }
    out
}

#[tokio::test]
async fn first_job_clones_the_next_fetches_and_sees_new_upstream_commits() {
    let s = setup().await;
    let url = s.server.clone_url(REPO);
    let first = s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("first sync");
    assert_eq!(first.kind(), SyncKind::Cloned);
    assert_eq!(first.path(), s.cache.mirror_path(REPO).expect("path"));
    let wc = first.new_branch(&s.cache.workspace_path("job-1"), "main", "maxion/issue-1-a").await.expect("copy");
    drop(first);
    assert_eq!(std::fs::read(wc.dir().join("src/lib.rs")).expect("file"), b"pub fn a() {}\n");
    let clones = s.server.requests().len();
    assert!(clones > 0, "the clone went over HTTP");

    let upstream = s.server.commit_files(REPO, "main", &[("NEW.md", b"fresh\n")], "upstream change").await;
    let second = s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("second sync");
    assert_eq!(second.kind(), SyncKind::Fetched);
    assert!(s.server.requests().len() > clones, "the second job fetched");
    assert_eq!(second.branch_head("main").await.expect("head"), Some(upstream.clone()));
    let wc2 = second.new_branch(&s.cache.workspace_path("job-2"), "main", "maxion/issue-2-b").await.expect("copy 2");
    assert_eq!(wc2.base_commit(), upstream);
    assert_eq!(std::fs::read(wc2.dir().join("NEW.md")).expect("new file"), b"fresh\n");
    // The first job's copy is untouched by the second sync.
    assert!(!wc.dir().join("NEW.md").exists());
}

#[tokio::test]
async fn a_working_copy_can_start_at_an_earlier_commit_of_the_default_branch() {
    let s = setup().await;
    let url = s.server.clone_url(REPO);
    // The commit the job read its brief and config at; then someone pushes.
    let read_at = s.server.branch_head(REPO, "main").await.expect("main");
    let newer = s.server.commit_files(REPO, "main", &[("NEW.md", b"fresh\n")], "pushed meanwhile").await;
    let mirror = s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("sync");
    assert_eq!(mirror.branch_head("main").await.expect("head"), Some(newer));
    let wc =
        mirror.new_branch_at(&s.cache.workspace_path("job"), "main", &read_at, "maxion/issue-8-x").await.expect("copy");
    assert_eq!(wc.base_commit(), read_at);
    assert_eq!(git(wc.dir(), &["rev-parse", "HEAD"]), read_at);
    assert_eq!(git(wc.dir(), &["rev-parse", "--abbrev-ref", "HEAD"]), "maxion/issue-8-x");
    assert!(!wc.dir().join("NEW.md").exists(), "the newer commit is not checked out");
    let bad = mirror.new_branch_at(&s.cache.workspace_path("job-2"), "main", "--upload-pack=x", "maxion/y").await;
    assert!(matches!(bad, Err(GitError::Invalid(_))), "{bad:?}");
}

#[tokio::test]
async fn working_copy_is_on_the_job_branch_with_remotes_removed() {
    let s = setup().await;
    let branch = branch_name("maxion", 7, "Fix: the widget spins forever!");
    assert_eq!(branch, "maxion/issue-7-fix-the-widget-spins-forever");
    let mirror = s.cache.sync(REPO, &s.server.clone_url(REPO), &token(TOKEN)).await.expect("sync");
    let wc = mirror.new_branch(&s.cache.workspace_path("job"), "main", &branch).await.expect("copy");
    let main = s.server.branch_head(REPO, "main").await.expect("main");
    assert_eq!(git(wc.dir(), &["rev-parse", "--abbrev-ref", "HEAD"]), branch);
    assert_eq!(git(wc.dir(), &["rev-parse", "HEAD"]), main);
    assert_eq!(git(wc.dir(), &["remote"]), "", "no remotes");
    assert_eq!(git(wc.dir(), &["status", "--porcelain"]), "", "clean checkout");
    let config = std::fs::read_to_string(wc.dir().join(".git/config")).expect("config");
    assert!(!config.contains("url"), "no remote URL in the copy's config:\n{config}");
    // Self-contained: no alternates pointing at a host path the sandbox lacks.
    assert!(!wc.dir().join(".git/objects/info/alternates").exists());

    let missing = mirror.new_branch(&s.cache.workspace_path("job-x"), "trunk", "maxion/x").await;
    assert!(matches!(missing, Err(GitError::NoSuchBranch(b)) if b == "trunk"));
    let occupied = mirror.new_branch(wc.dir(), "main", "maxion/y").await;
    assert!(matches!(occupied, Err(GitError::Invalid(_))), "{occupied:?}");
}

#[tokio::test]
async fn commit_leaves_out_scratch_dir_credits_co_author_and_pushes() {
    let s = setup().await;
    let url = s.server.clone_url(REPO);
    let mirror = s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("sync");
    let branch = "maxion/issue-3-widgets";
    let wc = mirror.new_branch(&s.cache.workspace_path("job"), "main", branch).await.expect("copy");
    drop(mirror);
    let co = CoAuthor { login: "octocat".into(), id: 583231 };

    assert_eq!(wc.commit_all("feat: nothing", &bot(), Some(&co)).await.expect("commit"), None);
    std::fs::create_dir_all(wc.dir().join(".maxion")).expect("scratch");
    std::fs::write(wc.dir().join(".maxion/commit-message.txt"), "feat: x").expect("msg");
    std::fs::write(wc.dir().join(".maxion/pr-body.md"), "body").expect("body");
    assert!(wc.changed_paths().await.expect("paths").is_empty(), ".maxion/ alone is no change");
    assert_eq!(wc.commit_all("feat: nothing", &bot(), Some(&co)).await.expect("commit"), None);

    std::fs::write(wc.dir().join("src/lib.rs"), "pub fn a() -> u8 { 1 }\n").expect("edit");
    std::fs::write(wc.dir().join("src/new.rs"), "pub fn b() {}\n").expect("add");
    std::fs::remove_file(wc.dir().join("old.txt")).expect("delete");
    let mut paths = wc.changed_paths().await.expect("paths");
    paths.sort();
    assert_eq!(paths, ["old.txt", "src/lib.rs", "src/new.rs"]);

    let sha = wc.commit_all("feat(widgets): spin less", &bot(), Some(&co)).await.expect("commit").expect("a commit");
    assert_eq!(s.server.branch_head(REPO, branch).await, None, "nothing upstream before the push");
    wc.push(&sha, &url, &token(TOKEN)).await.expect("push");

    assert_eq!(s.server.branch_head(REPO, branch).await, Some(sha.clone()));
    assert_eq!(s.server.read_file_at(REPO, branch, "src/new.rs").await.as_deref(), Some(&b"pub fn b() {}\n"[..]));
    assert_eq!(s.server.read_file_at(REPO, branch, "old.txt").await, None);
    assert_eq!(s.server.read_file_at(REPO, branch, ".maxion/commit-message.txt").await, None);
    assert_eq!(s.server.read_file_at(REPO, branch, ".maxion/pr-body.md").await, None);
    let message = s.server.git(REPO, &["log", "-1", "--format=%B", &sha]).await;
    assert_eq!(
        message,
        "feat(widgets): spin less\n\nCo-authored-by: octocat <583231+octocat@users.noreply.github.com>"
    );
    let who = s.server.git(REPO, &["log", "-1", "--format=%an <%ae>|%cn <%ce>|%P", &sha]).await;
    let main = s.server.branch_head(REPO, "main").await.expect("main");
    assert_eq!(
        who,
        format!(
            "maxion[bot] <123+maxion[bot]@users.noreply.github.com>|maxion[bot] <123+maxion[bot]@users.noreply.github.com>|{main}"
        )
    );
    // Nothing new since the commit.
    assert_eq!(wc.commit_all("feat: again", &bot(), None).await.expect("commit"), None);
}

#[tokio::test]
async fn a_returned_git_dir_cannot_run_code_on_the_host() {
    let s = setup().await;
    let mirror = s.cache.sync(REPO, &s.server.clone_url(REPO), &token(TOKEN)).await.expect("sync");
    let wc = mirror.new_branch(&s.cache.workspace_path("job"), "main", "maxion/issue-4-x").await.expect("copy");
    drop(mirror);

    // What the sandbox hands back: a change, plus a .git primed to run a
    // program whenever git looks at the tree.
    let marker = s.data.path().join("pwned");
    let trap = wc.dir().join(".git/trap.sh");
    std::fs::write(&trap, format!("#!/bin/sh\ntouch '{}'\n", marker.display())).expect("trap");
    std::fs::set_permissions(&trap, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let hook = wc.dir().join(".git/hooks/pre-commit");
    std::fs::create_dir_all(hook.parent().expect("hooks")).expect("hooks dir");
    std::fs::copy(&trap, &hook).expect("hook");
    git(wc.dir(), &["config", "core.fsmonitor", &trap.display().to_string()]);
    std::fs::write(wc.dir().join("README.md"), "# widgets, edited\n").expect("edit");

    // The trap is real: plain git in that directory springs it.
    git(wc.dir(), &["status", "--porcelain"]);
    assert!(marker.exists(), "the trap fires for a git that trusts the returned .git");
    std::fs::remove_file(&marker).expect("reset marker");

    assert_eq!(wc.changed_paths().await.expect("paths"), ["README.md"]);
    let sha = wc.commit_all("docs: edit readme", &bot(), None).await.expect("commit");
    assert!(sha.is_some());
    assert!(!marker.exists(), "Maxion's git ran a program planted in the returned .git");
}

#[tokio::test]
async fn results_extracted_after_clearing_keep_deletions() {
    let s = setup().await;
    let mirror = s.cache.sync(REPO, &s.server.clone_url(REPO), &token(TOKEN)).await.expect("sync");
    let wc = mirror.new_branch(&s.cache.workspace_path("job"), "main", "maxion/issue-5-x").await.expect("copy");
    drop(mirror);
    // The sandbox's /workspace after the agent: README.md deleted, one file added.
    wc.clear_for_results().await.expect("clear");
    assert_eq!(std::fs::read_dir(wc.dir()).expect("dir").count(), 0);
    std::fs::create_dir_all(wc.dir().join("src")).expect("src");
    std::fs::write(wc.dir().join("src/lib.rs"), "pub fn a() {}\n").expect("lib");
    std::fs::write(wc.dir().join("old.txt"), "old\n").expect("old");
    std::fs::write(wc.dir().join("added.txt"), "new\n").expect("added");
    let mut paths = wc.changed_paths().await.expect("paths");
    paths.sort();
    assert_eq!(paths, ["README.md", "added.txt"]);
}

#[tokio::test]
async fn wrong_token_is_a_typed_auth_error_that_never_shows_the_token() {
    let s = setup().await;
    let url = s.server.clone_url(REPO);
    let err = s.cache.sync(REPO, &url, &token(WRONG)).await.expect_err("wrong token must fail");
    assert!(matches!(err, GitError::Auth { .. }), "{err:?}");
    assert!(!s.cache.mirror_path(REPO).expect("path").exists(), "a failed first clone leaves no mirror");

    let mirror = s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("sync");
    let wc = mirror.new_branch(&s.cache.workspace_path("job"), "main", "maxion/issue-6-x").await.expect("copy");
    drop(mirror);
    std::fs::write(wc.dir().join("x.txt"), "x").expect("edit");
    let sha = wc.commit_all("feat: x", &bot(), None).await.expect("commit").expect("sha");
    let err = wc.push(&sha, &url, &token(WRONG)).await.expect_err("wrong token must fail");
    assert!(matches!(err, GitError::Auth { .. }), "{err:?}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains(WRONG) && !text.contains(TOKEN), "token in error: {text}");
    }
    assert_eq!(s.server.branch_head(REPO, "maxion/issue-6-x").await, None);
    let statuses: Vec<u16> = s.server.requests().iter().map(|r| r.status).collect();
    assert!(statuses.contains(&401), "the server refused the wrong token: {statuses:?}");

    // A refused connection is transient: retried, then it says the host kept failing.
    let quick = GitRetry {
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(20),
        ..GitRetry::with_retries(1)
    };
    let cache = s.cache.with_retry(quick);
    let unreachable = cache.sync(REPO, "http://127.0.0.1:1/octo/widgets.git", &token(TOKEN)).await;
    assert!(matches!(unreachable, Err(GitError::HostKeptFailing { attempts: 2, .. })), "{unreachable:?}");
}

#[tokio::test]
async fn push_never_overwrites_a_branch_someone_else_moved() {
    let s = setup().await;
    let url = s.server.clone_url(REPO);
    let branch = "maxion/issue-8-x";
    let mirror = s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("sync");
    let wc = mirror.new_branch(&s.cache.workspace_path("job"), "main", branch).await.expect("copy");
    drop(mirror);
    // While the agent works, a maintainer pushes to the (new) branch.
    let theirs = s.server.commit_files(REPO, branch, &[("theirs.txt", b"mine\n")], "maintainer").await;
    std::fs::write(wc.dir().join("ours.txt"), "ours\n").expect("edit");
    let sha = wc.commit_all("feat: ours", &bot(), None).await.expect("commit").expect("sha");
    let err = wc.push(&sha, &url, &token(TOKEN)).await.expect_err("must not overwrite");
    assert!(matches!(err, GitError::Rejected { .. }), "{err:?}");
    assert_eq!(s.server.branch_head(REPO, branch).await, Some(theirs.clone()));

    // A follow-up job works on top of the branch as it now is.
    let mirror = s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("sync");
    let follow = mirror.checkout_existing(&s.cache.workspace_path("job-2"), branch).await.expect("existing");
    drop(mirror);
    assert_eq!(follow.base_commit(), theirs);
    assert_eq!(git(follow.dir(), &["rev-parse", "--abbrev-ref", "HEAD"]), branch);
    assert!(follow.dir().join("theirs.txt").exists());
    std::fs::write(follow.dir().join("ours.txt"), "ours\n").expect("edit");
    let sha = follow.commit_all("feat: ours", &bot(), None).await.expect("commit").expect("sha");
    follow.push(&sha, &url, &token(TOKEN)).await.expect("push on top");
    assert_eq!(s.server.branch_head(REPO, branch).await, Some(sha.clone()));
    assert_eq!(s.server.git(REPO, &["rev-parse", &format!("{sha}^")]).await, theirs);
}

#[tokio::test]
async fn two_instances_sharing_the_data_dir_take_turns() {
    let s = setup().await;
    let url = s.server.clone_url(REPO);
    let other = MirrorCache::new(s.data.path()).expect("second instance");
    let t = token(TOKEN);
    // Each drops its mirror (and lock) as soon as it has it.
    let (a, b) = tokio::join!(async { s.cache.sync(REPO, &url, &t).await.map(|m| m.kind()) }, async {
        other.sync(REPO, &url, &t).await.map(|m| m.kind())
    },);
    // The file lock, not the in-process one, separates these two caches: they
    // clone one mirror once between them.
    let mut kinds = [a.expect("a"), b.expect("b")];
    kinds.sort_by_key(|k| *k == SyncKind::Fetched);
    assert_eq!(kinds, [SyncKind::Cloned, SyncKind::Fetched]);
}

#[tokio::test]
async fn the_token_never_reaches_a_file_an_argv_or_a_url() {
    let s = setup().await;
    let url = s.server.clone_url(REPO);
    let branch = "maxion/issue-9-x";
    for job in ["job-1", "job-2"] {
        let mirror = s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("sync");
        let wc = mirror.new_branch(&s.cache.workspace_path(job), "main", branch).await.expect("copy");
        drop(mirror);
        std::fs::write(wc.dir().join(format!("{job}.txt")), job).expect("edit");
        let sha = wc.commit_all("feat: x", &bot(), None).await.expect("commit").expect("sha");
        wc.push(&sha, &url, &token(TOKEN)).await.expect("push");
    }
    s.server.commit_files(REPO, "main", &[("later.txt", b"l")], "later").await;
    drop(s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("sync"));

    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{TOKEN}"));
    let files = files_under(s.data.path());
    assert!(files.iter().any(|f| f.ends_with("config")), "the walk sees git config files");
    assert!(files.iter().any(|f| f.ends_with("packed-refs") || f.to_string_lossy().contains("refs/heads")));
    for file in files {
        let bytes = std::fs::read(&file).expect("read");
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(TOKEN) && !text.contains(&encoded), "token in {}", file.display());
    }
    let argvs = s.cache.git().argv_log();
    assert!(argvs.iter().any(|a| a.iter().any(|x| x == "push")), "the log holds the push");
    for argv in argvs {
        let joined = argv.join(" ");
        assert!(!joined.contains(TOKEN) && !joined.contains(&encoded), "token in argv: {joined}");
    }
    for req in s.server.requests() {
        assert!(!req.uri.contains(TOKEN) && !req.uri.contains("x-access-token"), "token in URL {}", req.uri);
    }
    let mirror_config = std::fs::read_to_string(s.cache.mirror_path(REPO).expect("path").join("config")).expect("cfg");
    assert!(!mirror_config.contains("127.0.0.1"), "the mirror stores no remote URL:\n{mirror_config}");
}

#[tokio::test]
async fn a_retried_job_replaces_its_own_earlier_push() {
    let s = setup().await;
    let url = s.server.clone_url(REPO);
    let branch = "maxion/issue-10-x";
    let mut pushed = Vec::new();
    // The same job twice from the start (the first attempt's instance died
    // after pushing): the second commit is not a descendant of the first,
    // and replaces it because the branch is where the mirror last saw it.
    for attempt in ["first", "second"] {
        let mirror = s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("sync");
        let wc = mirror.new_branch(&s.cache.workspace_path(attempt), "main", branch).await.expect("copy");
        drop(mirror);
        std::fs::write(wc.dir().join("attempt.txt"), attempt).expect("edit");
        let sha = wc.commit_all("feat: x", &bot(), None).await.expect("commit").expect("sha");
        wc.push(&sha, &url, &token(TOKEN)).await.expect("push");
        pushed.push(sha);
    }
    assert_eq!(s.server.branch_head(REPO, branch).await.as_ref(), pushed.last());
    assert_eq!(s.server.read_file_at(REPO, branch, "attempt.txt").await.as_deref(), Some(&b"second"[..]));
}

#[tokio::test]
async fn a_broken_mirror_is_cloned_again() {
    let s = setup().await;
    let url = s.server.clone_url(REPO);
    drop(s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("sync"));
    let path = s.cache.mirror_path(REPO).expect("path");
    std::fs::write(path.join("HEAD"), "garbage\n").expect("break HEAD");
    let mirror = s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("sync after damage");
    assert_eq!(mirror.kind(), SyncKind::Cloned);
    let main = s.server.branch_head(REPO, "main").await;
    assert_eq!(mirror.branch_head("main").await.expect("head"), main);
}

/// Reads a tar stream into (path, contents) pairs of its regular files.
async fn tar_files(mut stream: impl tokio::io::AsyncRead + Unpin) -> Vec<(String, Vec<u8>)> {
    use std::io::Read;
    use tokio::io::AsyncReadExt;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.expect("read archive");
    let mut archive = tar::Archive::new(bytes.as_slice());
    let mut files = Vec::new();
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        if entry.header().entry_type().is_file() {
            let path = entry.path().expect("path").display().to_string();
            let mut data = Vec::new();
            entry.read_to_end(&mut data).expect("data");
            files.push((path, data));
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn a_prepared_copy_writes_only_git_and_streams_the_commit_as_checked_in() {
    let s = setup().await;
    // Attributes that would make `git archive` differ from a checkout.
    let attrs: &[(&str, &[u8])] = &[
        (".gitattributes", b"hidden.txt export-ignore\nstamp.txt export-subst\n"),
        ("hidden.txt", b"still here\n"),
        ("stamp.txt", b"$Format:%H$\n"),
    ];
    s.server.commit_files(REPO, "main", attrs, "attributes").await;
    let mirror = s.cache.sync(REPO, &s.server.clone_url(REPO), &token(TOKEN)).await.expect("sync");
    let branch = "maxion/issue-7-stream";
    let head = mirror.branch_head("main").await.expect("head").expect("main exists");
    let wc = mirror.prepare_new_branch_at(&s.cache.workspace_path("job"), "main", &head, branch).await.expect("copy");
    drop(mirror);
    let entries: Vec<_> = std::fs::read_dir(wc.dir()).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(entries, [".git"], "nothing but .git is written on the host");
    assert_eq!(git(wc.dir(), &["rev-parse", "--abbrev-ref", "HEAD"]), branch);
    assert_eq!(git(wc.dir(), &["remote"]), "", "no remotes");
    assert_eq!(git(wc.dir(), &["ls-files"]).lines().count(), 6, "the index holds the commit");

    let (archive, stdout) = wc.archive().expect("archive");
    let files = tar_files(stdout).await;
    archive.finish().await.expect("git archive succeeded");
    let names: Vec<_> = files.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(names, [".gitattributes", "README.md", "hidden.txt", "old.txt", "src/lib.rs", "stamp.txt"]);
    let stamp = files.iter().find(|(p, _)| p == "stamp.txt").map(|(_, d)| d.as_slice());
    assert_eq!(stamp, Some(&b"$Format:%H$\n"[..]), "export-subst does not rewrite files");
}

#[tokio::test]
async fn only_the_listed_paths_are_staged_when_just_the_changes_came_back() {
    let s = setup().await;
    let url = s.server.clone_url(REPO);
    let mirror = s.cache.sync(REPO, &url, &token(TOKEN)).await.expect("sync");
    let branch = "maxion/issue-8-partial";
    let head = mirror.branch_head("main").await.expect("head").expect("main exists");
    let wc = mirror.prepare_new_branch_at(&s.cache.workspace_path("job"), "main", &head, branch).await.expect("copy");
    drop(mirror);
    // What the sandbox sent back: an edit, a new file and the scratch dir;
    // old.txt was deleted there; README.md was not touched (so not sent).
    wc.clear_for_results().await.expect("clear");
    std::fs::create_dir_all(wc.dir().join("src")).expect("src");
    std::fs::create_dir_all(wc.dir().join(".maxion")).expect("scratch");
    std::fs::write(wc.dir().join("src/lib.rs"), "pub fn a() -> u8 { 2 }\n").expect("edit");
    std::fs::write(wc.dir().join("src/new.rs"), "pub fn n() {}\n").expect("new");
    std::fs::write(wc.dir().join(".maxion/pr-body.md"), "body").expect("body");
    let listed = ["src/lib.rs", "src/new.rs", "old.txt", ".maxion/pr-body.md"].map(str::to_owned).to_vec();
    wc.limit_to(listed);
    let mut paths = wc.changed_paths().await.expect("paths");
    paths.sort();
    assert_eq!(paths, ["old.txt", "src/lib.rs", "src/new.rs"]);
    let sha = wc.commit_all("feat: partial", &bot(), None).await.expect("commit").expect("a commit");
    wc.push(&sha, &url, &token(TOKEN)).await.expect("push");
    let at = |p: &'static str| s.server.read_file_at(REPO, branch, p);
    assert_eq!(at("README.md").await.as_deref(), Some(&b"# widgets\n"[..]), "an unsent file is unchanged");
    assert_eq!(at("old.txt").await, None, "a listed, absent file is deleted");
    assert_eq!(at("src/new.rs").await.as_deref(), Some(&b"pub fn n() {}\n"[..]));
    assert_eq!(at(".maxion/pr-body.md").await, None, "scratch files are never committed");

    // Nothing listed: nothing to commit (not "everything absent was deleted").
    wc.limit_to(Vec::new());
    assert_eq!(wc.commit_all("feat: none", &bot(), None).await.expect("commit"), None);
}
