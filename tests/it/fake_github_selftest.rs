//! Self-test of the fake GitHub, driven with raw `reqwest`: it must refuse what GitHub
//! refuses (bad JWTs, expired or mis-scoped tokens, missing permissions, schema-invalid
//! bodies, unknown routes), accept the valid forms, answer with bodies that match the
//! published response schemas and deserialize into octocrab's models, paginate, and
//! inject failures as configured.

use std::time::{Duration, Instant};

use crate::support::fake_github::{Failure, FakeGitHub, InstallationId, ReactionTarget, RepoId, jwt_with_claims, spec};
use axum::http::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

const COMMENTS: &str = "/repos/{owner}/{repo}/issues/{issue_number}/comments";

struct World {
    gh: FakeGitHub,
    inst: InstallationId,
    repo: RepoId,
    other: RepoId,
    issue: u64,
}

async fn world() -> World {
    let gh = FakeGitHub::start().await;
    let inst = gh.add_installation("acme");
    let repo = gh.add_repo(inst, "acme/widgets");
    let other = gh.add_repo(inst, "acme/gadgets");
    let issue = gh.add_issue(repo, "Widgets wobble", "They wobble when spun.", &["maxion"]);
    World { gh, inst, repo, other, issue }
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

async fn call(gh: &FakeGitHub, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Answer {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", gh.url()))
        .header("user-agent", "maxion-selftest")
        .header("accept", "application/vnd.github+json");
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.expect("fake answers");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    Answer { status, headers, body }
}

/// Asserts that `body` matches the description's schema for this operation and status.
fn assert_schema(method: Method, template: &str, status: u16, body: &Value) {
    let validator = spec::spec().response_validator(&method, template, status);
    let errors: Vec<String> = validator.iter_errors(body).map(|e| format!("{}: {e}", e.instance_path())).collect();
    assert!(errors.is_empty(), "{method} {template} {status} does not match the schema:\n{}", errors.join("\n"));
}

async fn token_for(w: &World, repos: &[&str], permissions: Value) -> String {
    let body = json!({ "repositories": repos, "permissions": permissions });
    let path = format!("/app/installations/{}/access_tokens", w.inst.0);
    let a = call(&w.gh, Method::POST, &path, Some(&w.gh.app_jwt()), Some(body)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body["token"].as_str().expect("token").to_string()
}

#[tokio::test]
async fn mints_scoped_tokens_that_look_like_githubs() {
    let w = world().await;
    let path = format!("/app/installations/{}/access_tokens", w.inst.0);
    let body = json!({ "repositories": ["widgets"], "permissions": { "issues": "write" } });
    let a = call(&w.gh, Method::POST, &path, Some(&w.gh.app_jwt()), Some(body)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_schema(Method::POST, "/app/installations/{installation_id}/access_tokens", 201, &a.body);
    let token: octocrab::models::InstallationToken = serde_json::from_value(a.body.clone()).expect("octocrab model");
    assert!(token.token.starts_with("ghs_") && token.token.len() == 40, "{}", token.token);
    assert!(token.token[4..].chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(a.body["repository_selection"], "selected");
    assert_eq!(a.body["repositories"][0]["full_name"], "acme/widgets");
    assert_eq!(w.gh.issued_tokens(), vec![token.token.clone()]);

    // More than the installation was granted, or a repository outside it: 422.
    w.gh.set_installation_permissions(w.inst, &[("issues", "read"), ("metadata", "read")]);
    let body = json!({ "repositories": ["widgets"], "permissions": { "issues": "write" } });
    let a = call(&w.gh, Method::POST, &path, Some(&w.gh.app_jwt()), Some(body)).await;
    assert_eq!(a.status, 422, "{}", a.body);
    let body = json!({ "repositories": ["not-installed"] });
    let a = call(&w.gh, Method::POST, &path, Some(&w.gh.app_jwt()), Some(body)).await;
    assert_eq!(a.status, 422, "{}", a.body);
    w.gh.assert_ok();
}

#[tokio::test]
async fn refuses_bad_app_jwts() {
    let w = world().await;
    let path = format!("/app/installations/{}/access_tokens", w.inst.0);
    let now = chrono::Utc::now().timestamp();
    let mut tampered = w.gh.app_jwt();
    let last = tampered.pop().expect("non-empty");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let cases = [
        ("tampered signature", tampered),
        ("expired", jwt_with_claims(&json!({ "iat": now - 900, "exp": now - 60, "iss": w.gh.app_id() }))),
        ("lives over 10 min", jwt_with_claims(&json!({ "iat": now - 60, "exp": now + 660, "iss": w.gh.app_id() }))),
        ("issued in the future", jwt_with_claims(&json!({ "iat": now + 300, "exp": now + 500, "iss": w.gh.app_id() }))),
        ("other app", jwt_with_claims(&json!({ "iat": now - 60, "exp": now + 500, "iss": 1 }))),
        ("no iat", jwt_with_claims(&json!({ "exp": now + 500, "iss": w.gh.app_id() }))),
        ("installation token on /app", w.gh.mint_token(w.inst, &[], &[])),
    ];
    for (what, jwt) in cases {
        let a = call(&w.gh, Method::POST, &path, Some(&jwt), Some(json!({}))).await;
        assert_eq!(a.status, 401, "{what}: {}", a.body);
        assert!(a.body["documentation_url"].is_string(), "{what}: {}", a.body);
        assert_eq!(w.gh.take_violations().len(), 1, "{what} must be a violation");
    }
    let a = call(&w.gh, Method::GET, "/app", None, None).await;
    assert_eq!(a.status, 401);
    assert_eq!(w.gh.take_violations().len(), 1);

    let a = call(&w.gh, Method::GET, "/app", Some(&w.gh.app_jwt()), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["id"], w.gh.app_id());
    assert_schema(Method::GET, "/app", 200, &a.body);
    w.gh.assert_ok();
}

#[tokio::test]
async fn refuses_expired_foreign_and_underprivileged_tokens() {
    let w = world().await;
    let comments = format!("/repos/acme/widgets/issues/{}/comments", w.issue);
    let ok = token_for(&w, &["widgets"], json!({ "issues": "write" })).await;
    let a = call(&w.gh, Method::POST, &comments, Some(&ok), Some(json!({ "body": "hi" }))).await;
    assert_eq!(a.status, 201, "{}", a.body);

    // Another repository of the same installation: GitHub hides private repos (404).
    let foreign = token_for(&w, &["gadgets"], json!({ "issues": "write" })).await;
    let a = call(&w.gh, Method::POST, &comments, Some(&foreign), Some(json!({ "body": "hi" }))).await;
    assert_eq!((a.status, a.body["message"].as_str()), (404, Some("Not Found")));
    assert_eq!(w.gh.take_violations().len(), 1);

    // Read-only issues permission cannot comment.
    let read = token_for(&w, &["widgets"], json!({ "issues": "read" })).await;
    let a = call(&w.gh, Method::POST, &comments, Some(&read), Some(json!({ "body": "hi" }))).await;
    assert_eq!((a.status, a.body["message"].as_str()), (403, Some("Resource not accessible by integration")));
    assert_eq!(w.gh.take_violations().len(), 1);
    // ... and has no checks permission at all.
    let a = call(&w.gh, Method::POST, "/repos/acme/widgets/check-runs", Some(&read), Some(check_run_body(&w))).await;
    assert_eq!(a.status, 403);
    assert_eq!(w.gh.take_violations().len(), 1);

    // An App JWT is not an installation token.
    let a = call(&w.gh, Method::GET, "/repos/acme/widgets", Some(&w.gh.app_jwt()), None).await;
    assert_eq!(a.status, 403);
    assert_eq!(w.gh.take_violations().len(), 1);

    // Unknown token, then the clock passes the hour.
    let a =
        call(&w.gh, Method::GET, "/repos/acme/widgets", Some("ghs_000000000000000000000000000000000000"), None).await;
    assert_eq!((a.status, a.body["message"].as_str()), (401, Some("Bad credentials")));
    assert_eq!(w.gh.take_violations().len(), 1);
    // Past the hour the token is dead. The first 401 is not the client's fault (its clock
    // may differ); presenting the token again after being told is.
    w.gh.advance_clock(Duration::from_secs(3601));
    for expected_violations in [0, 1] {
        let a = call(&w.gh, Method::GET, "/repos/acme/widgets", Some(&ok), None).await;
        assert_eq!((a.status, a.body["message"].as_str()), (401, Some("Bad credentials")));
        assert_eq!(w.gh.take_violations().len(), expected_violations);
    }
    // Tokens revoked by the test behave the same way.
    let fresh = w.gh.mint_token(w.inst, &[w.repo], &[]);
    w.gh.expire_tokens();
    assert_eq!(call(&w.gh, Method::GET, "/repos/acme/widgets", Some(&fresh), None).await.status, 401);
    assert!(w.gh.violations().is_empty());
    assert_eq!(w.gh.comments(w.repo, w.issue).len(), 1, "refused requests must not apply");
    let _ = w.other;
    w.gh.assert_ok();
}

fn check_run_body(w: &World) -> Value {
    json!({ "name": "maxion", "head_sha": w.gh.head_sha(w.repo, "main"), "status": "in_progress" })
}

#[tokio::test]
async fn refuses_bodies_that_break_the_schema() {
    let w = world().await;
    let t = w.gh.mint_token(w.inst, &[w.repo], &[]);
    let comments = format!("/repos/acme/widgets/issues/{}/comments", w.issue);
    let mut bogus = check_run_body(&w);
    bogus["status"] = json!("bogus");
    let mut long = check_run_body(&w);
    long["output"] = json!({ "title": "t", "summary": "x".repeat(65_536) });
    let mut too_many = check_run_body(&w);
    let annotation =
        json!({ "path": "a.rs", "start_line": 1, "end_line": 1, "annotation_level": "failure", "message": "m" });
    too_many["output"] = json!({ "title": "t", "summary": "s", "annotations": vec![annotation; 51] });
    let cases: Vec<(&str, Method, String, Option<Value>, &str)> = vec![
        ("check run status bogus", Method::POST, "/repos/acme/widgets/check-runs".into(), Some(bogus), "bogus"),
        ("summary over 65535", Method::POST, "/repos/acme/widgets/check-runs".into(), Some(long), "longer than"),
        ("51 annotations", Method::POST, "/repos/acme/widgets/check-runs".into(), Some(too_many), "more than 50 items"),
        ("comment without body", Method::POST, comments.clone(), Some(json!({ "text": "hi" })), "body"),
        ("comment body not a string", Method::POST, comments.clone(), Some(json!({ "body": 5 })), "string"),
        ("no body at all", Method::POST, comments.clone(), None, "required"),
        (
            "bad reaction",
            Method::POST,
            format!("/repos/acme/widgets/issues/{}/reactions", w.issue),
            Some(json!({ "content": "thumbsup" })),
            "thumbsup",
        ),
        ("search without q", Method::GET, "/search/issues".into(), None, "`q`"),
        ("per_page not a number", Method::GET, format!("{comments}?per_page=lots"), None, "per_page"),
        (
            "PR without head",
            Method::POST,
            "/repos/acme/widgets/pulls".into(),
            Some(json!({ "base": "main", "title": "x" })),
            "head",
        ),
    ];
    for (what, method, path, body, needle) in cases {
        let a = call(&w.gh, method, &path, Some(&t), body).await;
        assert_eq!(a.status, 422, "{what}: {}", a.body);
        let message = a.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{what}: {message}");
        let v = w.gh.take_violations();
        assert_eq!(v.len(), 1, "{what}: {v:?}");
    }
    // PATCH completed without a conclusion is refused too (the schema's anyOf).
    let a = call(&w.gh, Method::POST, "/repos/acme/widgets/check-runs", Some(&t), Some(check_run_body(&w))).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let path = format!("/repos/acme/widgets/check-runs/{}", a.body["id"]);
    let a = call(&w.gh, Method::PATCH, &path, Some(&t), Some(json!({ "status": "completed" }))).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert_eq!(w.gh.take_violations().len(), 1);
    assert!(w.gh.comments(w.repo, w.issue).is_empty());
    assert_eq!(w.gh.check_runs(w.repo).len(), 1);
    w.gh.assert_ok();
}

#[tokio::test]
async fn unknown_routes_and_missing_user_agent_are_violations() {
    let w = world().await;
    let t = w.gh.mint_token(w.inst, &[w.repo], &[]);
    let a = call(&w.gh, Method::DELETE, "/repos/acme/widgets", Some(&t), None).await;
    assert_eq!(a.status, 404);
    let a = call(&w.gh, Method::GET, "/repos/acme/widgets/issues/abc", Some(&t), None).await;
    assert_eq!(a.status, 404);
    let v = w.gh.take_violations();
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(v[0].contains("unknown route"), "{v:?}");

    let res = reqwest::Client::new()
        .get(format!("{}/repos/acme/widgets", w.gh.url()))
        .bearer_auth(&t)
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status().as_u16(), 403);
    assert_eq!(w.gh.take_violations().len(), 1);

    let res = reqwest::Client::new()
        .get(format!("{}/repos/acme/widgets", w.gh.url()))
        .header("user-agent", "maxion-selftest")
        .header("x-github-api-version", "2021-01-01")
        .bearer_auth(&t)
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status().as_u16(), 400);
    assert_eq!(w.gh.take_violations().len(), 1);
    w.gh.assert_ok();
}

#[tokio::test]
#[should_panic(expected = "violation")]
async fn dropping_a_fake_with_violations_fails_the_test() {
    let w = world().await;
    let _ = call(&w.gh, Method::GET, "/nope", None, None).await;
}

#[tokio::test]
async fn injected_failures_behave_like_github() {
    let w = world().await;
    let t = w.gh.mint_token(w.inst, &[w.repo], &[]);
    let path = format!("/repos/acme/widgets/issues/{}/comments", w.issue);
    let post = |body: &'static str| call(&w.gh, Method::POST, &path, Some(&t), Some(json!({ "body": body })));

    w.gh.fail("POST", COMMENTS, Failure::Status(502), 1);
    assert_eq!(post("a").await.status, 502);
    assert!(w.gh.comments(w.repo, w.issue).is_empty(), "a 5xx injection must not apply");
    assert_eq!(post("a").await.status, 201, "the rule fires only `times` times");

    w.gh.fail("POST", &path, Failure::FailAfterApply, 1);
    assert_eq!(post("b").await.status, 502);
    assert_eq!(w.gh.comments(w.repo, w.issue).len(), 2, "FailAfterApply applies first");

    w.gh.fail("POST", "/repos/acme/widgets/issues/*/comments", Failure::SecondaryRateLimit { retry_after_secs: 7 }, 1);
    let a = post("c").await;
    assert_eq!((a.status, a.headers["retry-after"].to_str().ok()), (403, Some("7")));
    assert!(a.body["message"].as_str().unwrap_or_default().contains("secondary rate limit"));

    w.gh.fail("POST", COMMENTS, Failure::PrimaryRateLimit { reset_in_secs: 30 }, 1);
    let a = post("d").await;
    assert_eq!(a.status, 403);
    assert_eq!(a.headers["x-ratelimit-remaining"], "0");
    let reset: i64 = a.headers["x-ratelimit-reset"].to_str().expect("ascii").parse().expect("epoch");
    assert!((reset - chrono::Utc::now().timestamp() - 30).abs() <= 2, "{reset}");

    w.gh.fail("GET", COMMENTS, Failure::Delay(Duration::from_millis(300)), 1);
    let started = Instant::now();
    assert_eq!(call(&w.gh, Method::GET, &path, Some(&t), None).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    w.gh.fail("POST", COMMENTS, Failure::ExpiredToken, 1);
    assert_eq!(post("e").await.status, 401);
    assert_eq!(post("e").await.status, 401, "the token stays dead");
    assert_eq!(w.gh.take_violations().len(), 1, "only re-using the dead token is the client's fault");
    assert_eq!(w.gh.comments(w.repo, w.issue).len(), 2);
    w.gh.assert_ok();
}

#[tokio::test]
async fn paginates_with_link_headers() {
    let w = world().await;
    for n in 0..5 {
        w.gh.add_comment(w.repo, w.issue, "alice", &format!("comment {n}"));
    }
    let t = w.gh.mint_token(w.inst, &[w.repo], &[]);
    let path = format!("/repos/acme/widgets/issues/{}/comments", w.issue);
    let a = call(&w.gh, Method::GET, &format!("{path}?per_page=2"), Some(&t), None).await;
    assert_eq!(a.body.as_array().map(Vec::len), Some(2));
    let link = a.headers["link"].to_str().expect("ascii").to_string();
    assert!(link.contains("page=2>; rel=\"next\"") && link.contains("page=3>; rel=\"last\""), "{link}");
    let a = call(&w.gh, Method::GET, &format!("{path}?per_page=2&page=3"), Some(&t), None).await;
    assert_eq!(a.body[0]["body"], "comment 4");
    assert!(!a.headers["link"].to_str().expect("ascii").contains("next"));
    assert_schema(Method::GET, COMMENTS, 200, &a.body);
    w.gh.assert_ok();
}

#[tokio::test]
async fn answers_match_the_schemas_and_octocrab_models() {
    let w = world().await;
    w.gh.add_user("alice", crate::support::fake_github::UserType::User);
    w.gh.set_permission(w.repo, "alice", "maintain");
    let t = w.gh.mint_token(w.inst, &[w.repo], &[]);
    let base_sha = w.gh.head_sha(w.repo, "main");
    w.gh.put_file(w.repo, "main", "docs/AGENTS.md", "be nice\n");
    w.gh.put_file(w.repo, "maxion/1", "src/lib.rs", "fn main() {}\n");
    let issue = format!("/repos/acme/widgets/issues/{}", w.issue);

    let a = call(&w.gh, Method::GET, "/repos/acme/widgets", Some(&t), None).await;
    assert_schema(Method::GET, "/repos/{owner}/{repo}", 200, &a.body);
    let repo: octocrab::models::Repository = serde_json::from_value(a.body).expect("Repository");
    assert_eq!(repo.default_branch.as_deref(), Some("main"));

    let a = call(&w.gh, Method::GET, &issue, Some(&t), None).await;
    assert_schema(Method::GET, "/repos/{owner}/{repo}/issues/{issue_number}", 200, &a.body);
    let i: octocrab::models::issues::Issue = serde_json::from_value(a.body).expect("Issue");
    assert_eq!(i.labels[0].name, "maxion");

    let a = call(&w.gh, Method::POST, &format!("{issue}/comments"), Some(&t), Some(json!({ "body": "queued" }))).await;
    assert_schema(Method::POST, COMMENTS, 201, &a.body);
    let c: octocrab::models::issues::Comment = serde_json::from_value(a.body).expect("Comment");
    assert_eq!(c.user.login, w.gh.bot_login());
    assert_eq!(c.user.r#type, "Bot");
    let a = call(
        &w.gh,
        Method::PATCH,
        &format!("/repos/acme/widgets/issues/comments/{}", c.id),
        Some(&t),
        Some(json!({ "body": "running" })),
    )
    .await;
    assert_schema(Method::PATCH, "/repos/{owner}/{repo}/issues/comments/{comment_id}", 200, &a.body);
    assert_eq!(w.gh.expect_comment_count(w.repo, w.issue, 1)[0].history, ["queued", "running"]);

    let a = call(
        &w.gh,
        Method::POST,
        &format!("/repos/acme/widgets/issues/comments/{}/reactions", c.id),
        Some(&t),
        Some(json!({ "content": "eyes" })),
    )
    .await;
    assert_eq!(a.status, 201);
    assert_schema(Method::POST, "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", 201, &a.body);
    let a =
        call(&w.gh, Method::POST, &format!("{issue}/reactions"), Some(&t), Some(json!({ "content": "eyes" }))).await;
    assert_eq!(a.status, 201);
    let a =
        call(&w.gh, Method::POST, &format!("{issue}/reactions"), Some(&t), Some(json!({ "content": "eyes" }))).await;
    assert_eq!(a.status, 200, "reacting twice returns the existing reaction");
    w.gh.expect_reaction(w.repo, ReactionTarget::Issue(w.issue), "eyes");

    let mut body = check_run_body(&w);
    body["head_sha"] = json!(base_sha);
    body["external_id"] = json!("job-1");
    let a = call(&w.gh, Method::POST, "/repos/acme/widgets/check-runs", Some(&t), Some(body)).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_schema(Method::POST, "/repos/{owner}/{repo}/check-runs", 201, &a.body);
    let run: octocrab::models::checks::CheckRun = serde_json::from_value(a.body).expect("CheckRun");
    let done = json!({ "conclusion": "success", "output": { "title": "Done", "summary": "all green" } });
    let a =
        call(&w.gh, Method::PATCH, &format!("/repos/acme/widgets/check-runs/{}", run.id), Some(&t), Some(done)).await;
    assert_schema(Method::PATCH, "/repos/{owner}/{repo}/check-runs/{check_run_id}", 200, &a.body);
    let run = w.gh.expect_check_run(w.repo, "maxion", Some("success"));
    assert_eq!((run.status.as_str(), run.updates, run.summary.as_deref()), ("completed", 1, Some("all green")));

    let a = call(&w.gh, Method::GET, "/repos/acme/widgets/contents/docs/AGENTS.md", Some(&t), None).await;
    assert_schema(Method::GET, "/repos/{owner}/{repo}/contents/{path}", 200, &a.body);
    let content: octocrab::models::repos::Content = serde_json::from_value(a.body).expect("Content");
    assert_eq!(content.decoded_content().as_deref(), Some("be nice\n"));
    let a = call(&w.gh, Method::GET, "/repos/acme/widgets/contents/CONTRIBUTING.md?ref=main", Some(&t), None).await;
    assert_eq!(a.status, 404);
    let a = call(&w.gh, Method::GET, "/repos/acme/widgets/git/trees/main?recursive=1", Some(&t), None).await;
    assert_schema(Method::GET, "/repos/{owner}/{repo}/git/trees/{tree_sha}", 200, &a.body);
    let paths: Vec<&str> = a.body["tree"].as_array().expect("tree").iter().filter_map(|e| e["path"].as_str()).collect();
    assert_eq!(paths, ["README.md", "docs", "docs/AGENTS.md"]);
    let a = call(&w.gh, Method::GET, "/repos/acme/widgets/branches/maxion/1", Some(&t), None).await;
    assert_schema(Method::GET, "/repos/{owner}/{repo}/branches/{branch}", 200, &a.body);
    assert_eq!(a.body["commit"]["sha"], w.gh.head_sha(w.repo, "maxion/1"));

    let pr = json!({ "title": "Fix wobble", "head": "maxion/1", "base": "main", "body": "Closes #1", "draft": true });
    let a = call(&w.gh, Method::POST, "/repos/acme/widgets/pulls", Some(&t), Some(pr.clone())).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_schema(Method::POST, "/repos/{owner}/{repo}/pulls", 201, &a.body);
    let p: octocrab::models::pulls::PullRequest = serde_json::from_value(a.body).expect("PullRequest");
    assert_eq!(call(&w.gh, Method::POST, "/repos/acme/widgets/pulls", Some(&t), Some(pr)).await.status, 422);
    let a = call(&w.gh, Method::GET, "/repos/acme/widgets/pulls?head=acme:maxion/1&state=open", Some(&t), None).await;
    assert_schema(Method::GET, "/repos/{owner}/{repo}/pulls", 200, &a.body);
    assert_eq!(a.body.as_array().map(Vec::len), Some(1));
    let pr_path = format!("/repos/acme/widgets/pulls/{}", p.number);
    let a = call(
        &w.gh,
        Method::POST,
        &format!("{pr_path}/requested_reviewers"),
        Some(&t),
        Some(json!({ "reviewers": ["alice"] })),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_schema(Method::POST, "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers", 201, &a.body);
    let a = call(&w.gh, Method::GET, &format!("{pr_path}/files"), Some(&t), None).await;
    assert_schema(Method::GET, "/repos/{owner}/{repo}/pulls/{pull_number}/files", 200, &a.body);
    assert_eq!(a.body[0]["filename"], "src/lib.rs");
    let a = call(&w.gh, Method::PATCH, &pr_path, Some(&t), Some(json!({ "body": "Closes #1 (edited)" }))).await;
    assert_schema(Method::PATCH, "/repos/{owner}/{repo}/pulls/{pull_number}", 200, &a.body);

    let a = call(&w.gh, Method::GET, &format!("{issue}/timeline"), Some(&t), None).await;
    assert_schema(Method::GET, "/repos/{owner}/{repo}/issues/{issue_number}/timeline", 200, &a.body);
    let events: Vec<&str> = a.body.as_array().expect("events").iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(events, ["commented", "cross-referenced"]);
    let a = call(&w.gh, Method::GET, "/search/issues?q=repo:acme/widgets+wobble+is:pr", Some(&t), None).await;
    assert_schema(Method::GET, "/search/issues", 200, &a.body);
    assert_eq!(a.body["total_count"], 1);
    let a = call(&w.gh, Method::GET, "/repos/acme/widgets/collaborators/alice/permission", Some(&t), None).await;
    assert_schema(Method::GET, "/repos/{owner}/{repo}/collaborators/{username}/permission", 200, &a.body);
    assert_eq!((a.body["permission"].as_str(), a.body["role_name"].as_str()), (Some("write"), Some("maintain")));
    let a = call(&w.gh, Method::GET, "/users/alice", Some(&t), None).await;
    assert_schema(Method::GET, "/users/{username}", 200, &a.body);
    w.gh.assert_ok();
}

/// octocrab 0.54 itself (the client the bot is built on) authenticates and talks to the
/// fake without violations: its JWT, token request, headers and bodies all pass.
#[tokio::test]
async fn octocrab_works_against_the_fake() {
    let w = world().await;
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(w.gh.private_key_pem().as_bytes()).expect("key");
    let app = octocrab::Octocrab::builder()
        .base_uri(w.gh.url())
        .expect("uri")
        .app(w.gh.app_id().into(), key)
        .build()
        .expect("app client");
    let crab = app
        .installation_builder(w.inst.0.into())
        .repositories(vec!["widgets".into()])
        .build()
        .expect("installation client");
    let comment = crab.issues("acme", "widgets").create_comment(w.issue, "queued").await.expect("comment");
    crab.issues("acme", "widgets").update_comment(comment.id, "running").await.expect("edit");
    let sha = w.gh.head_sha(w.repo, "main");
    let run = crab
        .checks("acme", "widgets")
        .create_check_run("maxion", sha)
        .status(octocrab::params::checks::CheckRunStatus::InProgress)
        .send()
        .await
        .expect("check run");
    crab.checks("acme", "widgets")
        .update_check_run(run.id)
        .conclusion(octocrab::params::checks::CheckRunConclusion::Success)
        .send()
        .await
        .expect("complete");
    let repo = crab.repos("acme", "widgets").get().await.expect("repo");
    assert_eq!(repo.default_branch.as_deref(), Some("main"));
    let page = crab.issues("acme", "widgets").list_comments(w.issue).per_page(50).send().await.expect("list");
    assert_eq!(page.items.len(), 1);

    w.gh.expect_comment_count(w.repo, w.issue, 1);
    w.gh.expect_check_run(w.repo, "maxion", Some("success"));
    let minted = w.gh.expect_requests("POST", "/app/installations/{installation_id}/access_tokens", 1);
    assert_eq!(minted[0].auth, crate::support::fake_github::AuthKind::AppJwt);
    assert_eq!(minted[0].body["repositories"], json!(["widgets"]));
    w.gh.assert_ok();
}

/// Runs git against the fake with the token as basic auth; returns (success, stderr).
async fn git(dir: &std::path::Path, token: &str, args: &[&str]) -> (bool, String) {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    let out = tokio::process::Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .args(["-c", &format!("http.extraHeader=Authorization: Basic {basic}")])
        .args(["-c", "user.name=Maxion", "-c", "user.email=maxion@example.invalid"])
        .args(args)
        .output()
        .await
        .expect("git runs");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn serves_git_smart_http_to_scoped_tokens_only() {
    let w = world().await;
    w.gh.put_file(w.repo, "main", "src/lib.rs", "pub fn wobble() {}\n");
    let url = w.gh.clone_url(w.repo);
    let tmp = tempfile::tempdir().expect("tmp");
    let writer = w.gh.mint_token(w.inst, &[w.repo], &[("contents", "write")]);
    let (ok, err) = git(tmp.path(), &writer, &["clone", "--quiet", &url, "work"]).await;
    assert!(ok, "clone: {err}");
    let work = tmp.path().join("work");
    assert_eq!(std::fs::read_to_string(work.join("src/lib.rs")).expect("cloned file"), "pub fn wobble() {}\n");

    std::fs::write(work.join("src/lib.rs"), "pub fn wobble() { /* fixed */ }\n").expect("write");
    assert!(git(&work, &writer, &["checkout", "--quiet", "-b", "maxion/1"]).await.0);
    assert!(git(&work, &writer, &["commit", "--quiet", "-am", "Fix wobble"]).await.0);
    let (ok, err) = git(&work, &writer, &["push", "--quiet", "origin", "maxion/1"]).await;
    assert!(ok, "push: {err}");
    let pushed = w.gh.file(w.repo, "maxion/1", "src/lib.rs").expect("pushed file");
    assert_eq!(pushed, b"pub fn wobble() { /* fixed */ }\n");
    let head = tokio::process::Command::new("git")
        .current_dir(&work)
        .args(["rev-parse", "HEAD"])
        .output()
        .await
        .expect("rev-parse");
    assert_eq!(w.gh.head_sha(w.repo, "maxion/1"), String::from_utf8_lossy(&head.stdout).trim());

    // The pushed branch is a real head for the REST API.
    let t = w.gh.mint_token(w.inst, &[w.repo], &[]);
    let pr = json!({ "title": "Fix wobble", "head": "maxion/1", "base": "main" });
    assert_eq!(call(&w.gh, Method::POST, "/repos/acme/widgets/pulls", Some(&t), Some(pr)).await.status, 201);

    // Read-only and foreign tokens are refused, and the refusals are violations.
    let reader = w.gh.mint_token(w.inst, &[w.repo], &[("contents", "read")]);
    let (ok, _) = git(&work, &reader, &["push", "--quiet", "origin", "maxion/1:other"]).await;
    assert!(!ok, "a contents:read token must not push");
    let foreign = w.gh.mint_token(w.inst, &[w.other], &[("contents", "write")]);
    let (ok, _) = git(tmp.path(), &foreign, &["clone", "--quiet", &url, "again"]).await;
    assert!(!ok, "a token for another repository must not clone");
    assert_eq!(w.gh.take_violations().len(), 2);
    assert!(w.gh.file(w.repo, "other", "src/lib.rs").is_none());
    w.gh.assert_ok();
}

#[tokio::test]
async fn enforces_githubs_secondary_limit_on_content_creation() {
    let w = world().await;
    let t = w.gh.mint_token(w.inst, &[w.repo], &[]);
    let path = format!("/repos/acme/widgets/issues/{}/comments", w.issue);
    for n in 0..80 {
        let a = call(&w.gh, Method::POST, &path, Some(&t), Some(json!({ "body": format!("c{n}") }))).await;
        assert_eq!(a.status, 201, "request {n}: {}", a.body);
    }
    // Reads are not content creation.
    assert_eq!(call(&w.gh, Method::GET, &path, Some(&t), None).await.status, 200);
    let a = call(&w.gh, Method::POST, &path, Some(&t), Some(json!({ "body": "one too many" }))).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert!(a.headers.contains_key("retry-after"));
    assert_eq!(w.gh.comments(w.repo, w.issue).len(), 80);
    assert_eq!(w.gh.take_violations().len(), 1);
    let times: Vec<_> = w.gh.requests_to("POST", COMMENTS).iter().map(|r| r.at).collect();
    assert!(times.windows(2).all(|p| p[0] <= p[1]), "requests are recorded in arrival order");
    w.gh.assert_ok();
}

const LIST_CHECK_RUNS: &str = "/repos/{owner}/{repo}/commits/{ref}/check-runs";

#[tokio::test]
async fn lists_a_commits_check_runs_newest_per_name_or_all() {
    let w = world().await;
    let sha = w.gh.head_sha(w.repo, "main");
    let writer = w.gh.mint_token(w.inst, &[w.repo], &[("checks", "write")]);
    let mut ids = Vec::new();
    for (name, external_id, on) in [("maxion", "1", &sha), ("maxion", "2", &sha), ("lint", "x", &sha)] {
        let body = json!({ "name": name, "head_sha": on, "status": "in_progress", "external_id": external_id });
        let a = call(&w.gh, Method::POST, "/repos/acme/widgets/check-runs", Some(&writer), Some(body)).await;
        assert_eq!(a.status, 201, "{}", a.body);
        ids.push(a.body["id"].as_u64().expect("id"));
    }
    let feature = w.gh.put_file(w.repo, "feature/x", "a.txt", "a");
    let body = json!({ "name": "maxion", "head_sha": feature, "external_id": "3" });
    assert_eq!(
        call(&w.gh, Method::POST, "/repos/acme/widgets/check-runs", Some(&writer), Some(body)).await.status,
        201
    );
    let done = json!({ "conclusion": "failure", "output": { "title": "t", "summary": "s" } });
    let path = format!("/repos/acme/widgets/check-runs/{}", ids[0]);
    assert_eq!(call(&w.gh, Method::PATCH, &path, Some(&writer), Some(done)).await.status, 200);

    let reader = w.gh.mint_token(w.inst, &[w.repo], &[("checks", "read")]);
    let list = |query: &str| {
        let path = format!("/repos/acme/widgets/commits/{sha}/check-runs{query}");
        let reader = reader.clone();
        let gh = &w.gh;
        async move { call(gh, Method::GET, &path, Some(&reader), None).await }
    };
    let externals = |a: &Answer| -> Vec<String> {
        let runs = a.body["check_runs"].as_array().expect("check_runs");
        runs.iter().map(|r| format!("{}:{}", r["name"].as_str().unwrap(), r["external_id"].as_str().unwrap())).collect()
    };

    // The default, filter=latest: the newest run of each name only, as a PR's checks box.
    let a = list("").await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_schema(Method::GET, LIST_CHECK_RUNS, 200, &a.body);
    let parsed: octocrab::models::checks::ListCheckRuns = serde_json::from_value(a.body.clone()).expect("octocrab");
    assert_eq!(parsed.total_count, 2);
    assert_eq!(externals(&a), ["lint:x", "maxion:2"]);

    // filter=all shows the older run of the same name; check_name and status narrow it.
    let a = list("?filter=all&check_name=maxion").await;
    assert_eq!((a.body["total_count"].as_u64(), externals(&a)), (Some(2), vec!["maxion:2".into(), "maxion:1".into()]));
    let a = list("?filter=all&status=completed").await;
    assert_eq!(externals(&a), ["maxion:1"]);
    assert_eq!(a.body["check_runs"][0]["conclusion"], "failure");
    let a = list(&format!("?filter=all&app_id={}", w.gh.app_id() + 1)).await;
    assert_eq!(a.body["total_count"], 0, "another App's runs only");

    // Paged like every list, with the total in the body.
    let a = list("?filter=all&per_page=2").await;
    assert_eq!((a.body["total_count"].as_u64(), externals(&a).len()), (Some(3), 2));
    assert!(a.headers["link"].to_str().expect("ascii").contains("rel=\"next\""));
    let a = list("?filter=all&per_page=2&page=2").await;
    assert_eq!(externals(&a), ["maxion:1"]);

    // A branch name (slash included, percent-encoded) names its head commit.
    let a = call(&w.gh, Method::GET, "/repos/acme/widgets/commits/feature%2Fx/check-runs", Some(&reader), None).await;
    assert_eq!((a.status, externals(&a)), (200, vec!["maxion:3".to_string()]));
    w.gh.assert_ok();

    // An unknown commit is GitHub's 422, not a client mistake.
    let a = call(
        &w.gh,
        Method::GET,
        &format!("/repos/acme/widgets/commits/{}/check-runs", "0".repeat(40)),
        Some(&reader),
        None,
    )
    .await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a.body["message"].as_str().unwrap_or_default().starts_with("No commit found for SHA"), "{}", a.body);
    assert!(w.gh.violations().is_empty());

    // Reading check runs needs checks:read; an App JWT or a bad filter is refused.
    let issues_only = w.gh.mint_token(w.inst, &[w.repo], &[("issues", "write")]);
    let path = format!("/repos/acme/widgets/commits/{sha}/check-runs");
    let a = call(&w.gh, Method::GET, &path, Some(&issues_only), None).await;
    assert_eq!((a.status, a.body["message"].as_str()), (403, Some("Resource not accessible by integration")));
    assert_eq!(w.gh.take_violations().len(), 1);
    assert_eq!(call(&w.gh, Method::GET, &path, Some(&w.gh.app_jwt()), None).await.status, 403);
    assert_eq!(w.gh.take_violations().len(), 1);
    let a = call(&w.gh, Method::GET, &format!("{path}?filter=newest"), Some(&reader), None).await;
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(w.gh.take_violations()[0].contains("filter"));
    w.gh.assert_ok();
}

const REPO_INSTALLATION: &str = "/repos/{owner}/{repo}/installation";

#[tokio::test]
async fn tells_the_app_which_installation_holds_a_repository() {
    let w = world().await;
    let other_inst = w.gh.add_installation("globex");
    w.gh.add_repo(other_inst, "globex/rockets");

    let a = call(&w.gh, Method::GET, "/repos/acme/widgets/installation", Some(&w.gh.app_jwt()), None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_schema(Method::GET, REPO_INSTALLATION, 200, &a.body);
    let inst: octocrab::models::Installation = serde_json::from_value(a.body.clone()).expect("octocrab model");
    assert_eq!(inst.id.0, w.inst.0);
    assert_eq!(inst.app_id.map(|id| id.0), Some(w.gh.app_id()));
    assert_eq!(a.body["account"]["login"], "acme");
    assert_eq!(a.body["access_tokens_url"], format!("{}/app/installations/{}/access_tokens", w.gh.url(), w.inst.0));
    let a = call(&w.gh, Method::GET, "/repos/globex/rockets/installation", Some(&w.gh.app_jwt()), None).await;
    assert_eq!((a.status, a.body["id"].as_u64()), (200, Some(other_inst.0)));
    let recorded = w.gh.expect_requests("GET", REPO_INSTALLATION, 2);
    assert!(recorded.iter().all(|r| r.auth == crate::support::fake_github::AuthKind::AppJwt));

    // Not installed there: GitHub's 404, not a mistake (that is how the App finds out).
    let a = call(&w.gh, Method::GET, "/repos/initech/printers/installation", Some(&w.gh.app_jwt()), None).await;
    assert_eq!((a.status, a.body["message"].as_str()), (404, Some("Not Found")));
    w.gh.assert_ok();

    // Only the App itself may ask: an installation token, no credential or a bad JWT is 401.
    let now = chrono::Utc::now().timestamp();
    let expired = jwt_with_claims(&json!({ "iat": now - 900, "exp": now - 60, "iss": w.gh.app_id() }));
    let token = w.gh.mint_token(w.inst, &[w.repo], &[]);
    for (what, credential) in
        [("installation token", Some(token.as_str())), ("none", None), ("expired JWT", Some(&expired))]
    {
        let a = call(&w.gh, Method::GET, "/repos/acme/widgets/installation", credential, None).await;
        assert_eq!(a.status, 401, "{what}: {}", a.body);
        assert_eq!(w.gh.take_violations().len(), 1, "{what} must be a violation");
    }
    w.gh.assert_ok();
}

#[tokio::test]
async fn the_manifest_flow_creates_the_app_once_and_refuses_bad_manifests() {
    let w = world().await;
    let manifest = json!({"name": "Maxion", "url": "https://maxion.example",
        "hook_attributes": {"url": "https://maxion.example/webhook", "active": true},
        "redirect_url": "https://maxion.example/setup/callback",
        "callback_urls": ["https://maxion.example/auth/github/callback"],
        "default_permissions": {"issues": "write"}, "default_events": ["issues"]});
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let form = |m: &Value| [("manifest", m.to_string())];
    let sent = browser
        .post(format!("{}/organizations/acme/settings/apps/new?state=s1", w.gh.url()))
        .form(&form(&manifest))
        .send()
        .await
        .expect("form");
    assert_eq!(sent.status(), 302);
    let back = sent.headers()["location"].to_str().expect("ascii").to_owned();
    let code = back.strip_prefix("https://maxion.example/setup/callback?code=").expect("redirect_url");
    let code = code.strip_suffix("&state=s1").expect("the state comes back").to_owned();

    // Unauthenticated, once: the App with its key, a fresh webhook secret and its OAuth client.
    let path = format!("/app-manifests/{code}/conversions");
    let a = call(&w.gh, Method::POST, &path, None, None).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_schema(Method::POST, "/app-manifests/{code}/conversions", 201, &a.body);
    assert_eq!(a.body["id"], w.gh.app_id());
    assert_eq!(a.body["webhook_secret"].as_str(), w.gh.app_webhook_secret().as_deref());
    assert_eq!(a.body["pem"], w.gh.private_key_pem());
    let again = call(&w.gh, Method::POST, &path, None, None).await;
    assert_eq!(again.status, 404, "a code works once");
    assert_eq!(w.gh.created_manifests(), vec![manifest.clone()]);
    w.gh.assert_ok();

    let mut bad = manifest.clone();
    bad["hook_attributes"]["url"] = json!("not a url");
    let refused =
        browser.post(format!("{}/settings/apps/new", w.gh.url())).form(&form(&bad)).send().await.expect("form");
    assert_eq!(refused.status(), 422);
    let violations = w.gh.take_violations();
    assert!(violations.len() == 1 && violations[0].contains("hook_attributes.url"), "{violations:?}");
    let jwt = w.gh.app_jwt();
    let with_credential = call(&w.gh, Method::POST, "/app-manifests/0000/conversions", Some(&jwt), None).await;
    assert_eq!(with_credential.status, 404);
    let violations = w.gh.take_violations();
    assert!(violations.iter().any(|v| v.contains("unauthenticated endpoint")), "{violations:?}");
}
