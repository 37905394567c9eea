//! The GitHub client against the fake GitHub: every method, the retry policy
//! (no duplicate writes), 401 evict-and-retry, token scoping and caching, the
//! mutation limiter and coalescing, GitHub's size limits, and that no token
//! ever reaches a log line.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::fake_github::{AuthKind, Failure, FakeGitHub, ReactionTarget};
use crate::support::github::{Installed, fast_config};
use maxion::github::*;
use secrecy::{ExposeSecret, SecretString};

#[tokio::test]
async fn app_info_and_bot_identity_with_pkcs1_and_pkcs8_keys() {
    let w = Installed::start().await;
    let info = w.app.app_info().await.unwrap();
    assert_eq!(info.id, w.gh.app_id());
    assert_eq!(info.slug, w.gh.app_slug());
    let bot = w.repo.bot_identity().await.unwrap();
    assert_eq!(bot.login, w.gh.bot_login());
    assert_eq!(bot.email, format!("{}+{}@users.noreply.github.com", bot.user_id, w.gh.bot_login()));

    let mut c = fast_config(&w.gh);
    c.private_key = SecretString::from(w.gh.private_key_pkcs8_pem().to_owned());
    let pkcs8 = GitHubApp::new(c).unwrap();
    assert_eq!(pkcs8.app_info().await.unwrap().slug, w.gh.app_slug());
    w.gh.assert_ok();
}

#[tokio::test]
async fn installation_tokens_are_scoped_narrowed_and_cached() {
    let w = Installed::start().await;
    let n = w.gh.add_issue(w.repo_id, "Broken", "It breaks", &["maxion"]);
    w.repo.get_issue(IssueNumber(n)).await.unwrap();
    w.repo.get_issue(IssueNumber(n)).await.unwrap();
    w.repo.list_comments(IssueNumber(n)).await.unwrap();
    let mints = w.gh.expect_requests("POST", "/app/installations/{installation_id}/access_tokens", 1);
    assert_eq!(mints[0].body["repositories"], serde_json::json!(["widgets"]));
    assert_eq!(mints[0].body["permissions"], serde_json::json!({"issues": "read"}));

    // A write needs a different permission set, hence its own token.
    w.repo.create_comment(IssueNumber(n), "hello").await.unwrap();
    let mints = w.gh.expect_requests("POST", "/app/installations/{installation_id}/access_tokens", 2);
    assert_eq!(mints[1].body["permissions"], serde_json::json!({"issues": "write"}));
    w.gh.assert_ok();
}

#[tokio::test]
async fn a_token_inside_the_five_minute_margin_is_not_reused() {
    let w = Installed::start().await;
    // GitHub's tokens live an hour; one that lives 4 minutes is always inside the margin.
    w.gh.set_token_lifetime(Duration::from_secs(240));
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    w.repo.get_issue(IssueNumber(n)).await.unwrap();
    w.repo.get_issue(IssueNumber(n)).await.unwrap();
    w.gh.expect_requests("POST", "/app/installations/{installation_id}/access_tokens", 2);
    w.gh.assert_ok();
}

#[tokio::test]
async fn a_401_evicts_the_token_and_retries_once_with_a_fresh_one() {
    let w = Installed::start().await;
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    w.repo.get_issue(IssueNumber(n)).await.unwrap();
    w.gh.expire_tokens();
    let issue = w.repo.get_issue(IssueNumber(n)).await.unwrap();
    assert_eq!(issue.number, IssueNumber(n));
    w.gh.expect_requests("POST", "/app/installations/{installation_id}/access_tokens", 2);
    let gets = w.gh.expect_requests("GET", "/repos/{owner}/{repo}/issues/{issue_number}", 3);
    assert_eq!(gets.iter().map(|r| r.status).collect::<Vec<_>>(), vec![200, 401, 200]);
    // The first 401 for a token is GitHub's news, not a mistake; presenting that token
    // again would be one, and the fake would record it.
    w.gh.assert_ok();

    // A write refused with 401 is re-sent once, and lands once.
    w.gh.fail("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", Failure::ExpiredToken, 1);
    w.repo.create_comment(IssueNumber(n), "after expiry").await.unwrap();
    w.gh.expect_comment_count(w.repo_id, n, 1);

    // Twice 401 in a row is an error, not a loop.
    w.gh.fail("GET", "/repos/{owner}/{repo}/issues/{issue_number}", Failure::ExpiredToken, 2);
    let err = w.repo.get_issue(IssueNumber(n)).await.unwrap_err();
    assert!(matches!(err, GitHubError::Unauthorized { .. }), "{err:?}");
    w.gh.assert_ok();
}

#[tokio::test]
async fn issue_comments_paged_reactions_and_edits() {
    let w = Installed::start().await;
    let n = w.gh.add_issue(w.repo_id, "Paging", "body", &["maxion", "bug"]);
    for i in 0..130 {
        w.gh.add_comment(w.repo_id, n, "alice", &format!("comment {i}"));
    }
    let issue = w.repo.get_issue(IssueNumber(n)).await.unwrap();
    assert_eq!(issue.title, "Paging");
    assert_eq!(issue.labels, vec!["maxion", "bug"]);
    assert!(!issue.is_pull_request);
    let comments = w.repo.list_comments(IssueNumber(n)).await.unwrap();
    assert_eq!(comments.len(), 130);
    assert_eq!(comments[129].body, "comment 129");
    w.gh.expect_requests("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 2);

    w.repo.add_issue_reaction(IssueNumber(n), Reaction::Eyes).await.unwrap();
    w.gh.expect_reaction(w.repo_id, ReactionTarget::Issue(n), "eyes");
    w.repo.add_comment_reaction(comments[0].id, Reaction::Eyes).await.unwrap();
    w.gh.expect_reaction(w.repo_id, ReactionTarget::Comment(comments[0].id.0), "eyes");

    let c = w.repo.create_comment(IssueNumber(n), "first").await.unwrap();
    let edited = w.repo.update_comment(c.id, "second").await.unwrap();
    assert_eq!(edited.body, "second");
    let stored = w.gh.comments(w.repo_id, n).into_iter().find(|x| x.id == c.id.0).unwrap();
    assert_eq!(stored.history, vec!["first", "second"]);
    w.gh.assert_ok();
}

#[tokio::test]
async fn the_marked_comment_is_found_only_when_maxion_wrote_it() {
    let w = Installed::start().await;
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    let marker = "<!-- maxion:job:5 -->";
    // Someone quoting the marker must not be mistaken for Maxion.
    w.gh.add_comment(w.repo_id, n, "mallory", &format!("{marker} fake status"));
    assert!(w.repo.find_own_comment(IssueNumber(n), marker).await.unwrap().is_none());
    let created = w.repo.upsert_marked_comment(IssueNumber(n), marker, &format!("{marker}\nqueued")).await.unwrap();
    let again = w.repo.upsert_marked_comment(IssueNumber(n), marker, &format!("{marker}\nrunning")).await.unwrap();
    assert_eq!(created.id, again.id);
    let comments = w.gh.expect_comment_count(w.repo_id, n, 2);
    let ours = comments.iter().find(|c| c.id == created.id.0).unwrap();
    assert_eq!(ours.user, w.gh.bot_login());
    assert_eq!(ours.body, format!("{marker}\nrunning"));
    w.gh.assert_ok();
}

#[tokio::test]
async fn a_5xx_on_create_comment_never_produces_two_comments() {
    let w = Installed::start().await;
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    let marker = "<!-- maxion:job:9 -->";

    // The POST lands but the answer is a 502: the marker is found, nothing re-sent.
    w.gh.fail("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", Failure::FailAfterApply, 1);
    let c = w.repo.create_marked_comment(IssueNumber(n), marker, &format!("{marker} hi")).await.unwrap();
    w.gh.expect_comment_count(w.repo_id, n, 1);
    w.gh.expect_requests("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 1);
    assert!(c.body.contains(marker));

    // The POST fails without landing: the marker is not found, so it is sent again, once.
    let n2 = w.gh.add_issue(w.repo_id, "t2", "b", &[]);
    w.gh.fail("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", Failure::Status(503), 1);
    w.repo.create_marked_comment(IssueNumber(n2), marker, &format!("{marker} hi")).await.unwrap();
    w.gh.expect_comment_count(w.repo_id, n2, 1);

    // A plain comment is never re-sent after a 5xx.
    let n3 = w.gh.add_issue(w.repo_id, "t3", "b", &[]);
    w.gh.fail("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", Failure::FailAfterApply, 1);
    let err = w.repo.create_comment(IssueNumber(n3), "plain").await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    w.gh.expect_comment_count(w.repo_id, n3, 1);
    w.gh.assert_ok();
}

#[tokio::test]
async fn reads_and_idempotent_writes_are_retried_after_5xx() {
    let w = Installed::start().await;
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    w.gh.fail("GET", "/repos/{owner}/{repo}/issues/{issue_number}", Failure::Status(502), 2);
    assert_eq!(w.repo.get_issue(IssueNumber(n)).await.unwrap().number, IssueNumber(n));
    let c = w.repo.create_comment(IssueNumber(n), "v1").await.unwrap();
    w.gh.fail("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", Failure::FailAfterApply, 1);
    w.repo.update_comment(c.id, "v2").await.unwrap();
    let stored = w.gh.expect_comment_count(w.repo_id, n, 1);
    assert_eq!(stored[0].body, "v2");

    // Bounded: a GitHub that keeps failing gives a typed error.
    w.gh.fail("GET", "/repos/{owner}/{repo}/issues/{issue_number}", Failure::Status(500), 100);
    let err = w.repo.get_issue(IssueNumber(n)).await.unwrap_err();
    assert!(matches!(err, GitHubError::Api { status: 500, .. }), "{err:?}");
    w.gh.expect_requests("GET", "/repos/{owner}/{repo}/issues/{issue_number}", 3 + 4);
    w.gh.take_violations();
}

#[tokio::test]
async fn a_403_with_retry_after_waits_and_succeeds() {
    let w = Installed::start().await;
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    w.gh.fail(
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        Failure::SecondaryRateLimit { retry_after_secs: 1 },
        1,
    );
    let t = Instant::now();
    w.repo.create_comment(IssueNumber(n), "after the limit").await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "Retry-After honoured: {:?}", t.elapsed());
    w.gh.expect_comment_count(w.repo_id, n, 1);
    let posts = w.gh.expect_requests("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 2);
    assert_eq!(posts[0].status, 403);

    // Primary limit: wait for x-ratelimit-reset.
    w.gh.fail("GET", "/repos/{owner}/{repo}/issues/{issue_number}", Failure::PrimaryRateLimit { reset_in_secs: 1 }, 1);
    let t = Instant::now();
    w.repo.get_issue(IssueNumber(n)).await.unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    w.gh.assert_ok();
}

#[tokio::test]
async fn a_rate_limit_longer_than_the_budget_is_a_typed_error_without_waiting() {
    let w = Installed::start().await;
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    w.gh.fail(
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        Failure::SecondaryRateLimit { retry_after_secs: 3600 },
        1,
    );
    let t = Instant::now();
    let err = w.repo.create_comment(IssueNumber(n), "x").await.unwrap_err();
    assert!(
        matches!(err, GitHubError::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3600)),
        "{err:?}"
    );
    // Far below the hour asked for, and far above a slow machine's spaced
    // send plus a token mint (5 s was exceeded under load).
    assert!(t.elapsed() < Duration::from_secs(60), "waited {:?}", t.elapsed());
    w.gh.expect_comment_count(w.repo_id, n, 0);
    w.gh.assert_ok();
}

fn annotation(i: u32) -> Annotation {
    Annotation {
        path: "src/lib.rs".into(),
        start_line: i,
        end_line: i,
        annotation_level: AnnotationLevel::Failure,
        message: format!("mismatched types {i}"),
        title: Some("error[E0308]".into()),
    }
}

#[tokio::test]
async fn check_runs_batch_annotations_truncate_output_and_carry_actions() {
    let w = Installed::start().await;
    let sha = w.gh.head_sha(w.repo_id, "main");
    let spec = CheckRunSpec {
        name: "maxion".into(),
        head_sha: sha.clone(),
        status: Some(CheckStatus::InProgress),
        details_url: Some("https://maxion.example/jobs/3".into()),
        external_id: Some("3".into()),
        output: Some(CheckOutput {
            title: "Running".into(),
            summary: "s".repeat(70_000),
            text: Some("t".repeat(100_000)),
            annotations: (1..=120).map(annotation).collect(),
        }),
        actions: vec![CheckAction {
            label: "Retry".into(),
            description: "Run the job again".into(),
            identifier: "retry".into(),
        }],
        ..Default::default()
    };
    let run = w.repo.create_check_run(&spec).await.unwrap();
    assert_eq!(run.status, CheckStatus::InProgress);
    assert_eq!(run.external_id.as_deref(), Some("3"));
    w.gh.expect_requests("POST", "/repos/{owner}/{repo}/check-runs", 1);
    let patches = w.gh.expect_requests("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}", 2);
    for p in &patches {
        assert!(p.body["output"]["annotations"].as_array().unwrap().len() <= ANNOTATIONS_PER_REQUEST);
    }
    let stored = w.gh.expect_check_run(w.repo_id, "maxion", None);
    assert_eq!(stored.annotations.len(), 120);
    assert_eq!(stored.actions.len(), 1);
    assert_eq!(stored.details_url.as_deref(), Some("https://maxion.example/jobs/3"));
    let summary = stored.summary.unwrap();
    assert_eq!(summary.chars().count(), MAX_OUTPUT_CHARS);
    assert!(summary.contains("truncated"), "visible note");
    assert_eq!(stored.text.unwrap().chars().count(), MAX_OUTPUT_CHARS);

    let done = CheckRunSpec {
        status: Some(CheckStatus::Completed),
        conclusion: Some(CheckConclusion::Success),
        completed_at: Some(chrono::Utc::now()),
        output: Some(CheckOutput {
            title: "Done".into(),
            summary: "all good".into(),
            text: None,
            annotations: Vec::new(),
        }),
        ..Default::default()
    };
    let run = w.repo.update_check_run(run.id, &done).await.unwrap();
    assert_eq!(run.conclusion, Some(CheckConclusion::Success));
    w.gh.expect_check_run(w.repo_id, "maxion", Some("success"));
    w.gh.assert_ok();
}

const CREATE_CHECK_RUN: &str = "/repos/{owner}/{repo}/check-runs";
const LIST_CHECK_RUNS: &str = "/repos/{owner}/{repo}/commits/{ref}/check-runs";
const MINT: &str = "/app/installations/{installation_id}/access_tokens";

fn in_progress(sha: &str, external_id: Option<&str>, annotations: u32) -> CheckRunSpec {
    CheckRunSpec {
        name: "maxion".into(),
        head_sha: sha.into(),
        status: Some(CheckStatus::InProgress),
        external_id: external_id.map(str::to_string),
        output: Some(CheckOutput {
            title: "Running".into(),
            summary: "setup".into(),
            text: None,
            annotations: (1..=annotations).map(annotation).collect(),
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn list_check_runs_sees_every_run_of_a_name_across_pages() {
    let w = Installed::start().await;
    let sha = w.gh.head_sha(w.repo_id, "main");
    let oldest = w.gh.add_check_run(w.repo_id, "maxion", &sha, Some("7"));
    for i in 0..120 {
        w.gh.add_check_run(w.repo_id, "maxion", &sha, Some(&format!("other-{i}")));
    }
    w.gh.add_check_run(w.repo_id, "lint", &sha, None);
    let runs = w.repo.list_check_runs(&sha, "maxion").await.unwrap();
    assert_eq!(runs.len(), 121);
    assert!(runs.iter().all(|r| r.name == "maxion" && r.head_sha == sha));
    // GitHub's default listing would show only the newest `maxion` run.
    let found = runs.iter().find(|r| r.id == oldest).expect("the oldest run is listed too");
    assert_eq!((found.external_id.as_deref(), found.status), (Some("7"), CheckStatus::InProgress));
    let lists = w.gh.expect_requests("GET", LIST_CHECK_RUNS, 2);
    for l in &lists {
        assert!(l.query.contains(&("filter".into(), "all".into())), "{:?}", l.query);
        assert!(l.query.contains(&("check_name".into(), "maxion".into())), "{:?}", l.query);
    }
    let mints = w.gh.expect_requests("POST", MINT, 1);
    assert_eq!(mints[0].body["permissions"], serde_json::json!({"checks": "read"}));

    // A branch name with a slash works as the ref too.
    let head = w.gh.put_file(w.repo_id, "maxion/issue-1", "x.txt", "x");
    let on_head = w.gh.add_check_run(w.repo_id, "maxion", &head, Some("8"));
    let runs = w.repo.list_check_runs("maxion/issue-1", "maxion").await.unwrap();
    assert_eq!(runs.iter().map(|r| r.id).collect::<Vec<_>>(), vec![on_head]);
    assert!(w.repo.list_check_runs(&head, "lint").await.unwrap().is_empty());
    w.gh.assert_ok();
}

#[tokio::test]
async fn a_5xx_on_create_check_run_never_produces_two_check_runs() {
    let w = Installed::start().await;
    let sha = w.gh.head_sha(w.repo_id, "main");
    // Another job's run of the same name on the commit must not be taken for ours.
    w.gh.add_check_run(w.repo_id, "maxion", &sha, Some("other"));
    let runs_of = |external_id: &str| -> Vec<u64> {
        let runs = w.gh.check_runs(w.repo_id);
        runs.iter().filter(|r| r.external_id.as_deref() == Some(external_id)).map(|r| r.id).collect()
    };

    // The POST lands but the answer is a 502: the run is found by its external_id and
    // returned; nothing is re-sent, and its first 50 annotations do not arrive twice.
    w.gh.fail("POST", CREATE_CHECK_RUN, Failure::FailAfterApply, 1);
    let run = w.repo.create_check_run(&in_progress(&sha, Some("5"), 70)).await.unwrap();
    assert_eq!(run.external_id.as_deref(), Some("5"));
    assert_eq!(runs_of("5"), vec![run.id]);
    w.gh.expect_requests("POST", CREATE_CHECK_RUN, 1);
    w.gh.expect_requests("GET", LIST_CHECK_RUNS, 1);
    let stored = w.gh.check_runs(w.repo_id).into_iter().find(|r| r.id == run.id).unwrap();
    assert_eq!(stored.annotations.len(), 70);

    // The POST fails without landing: the look-up finds nothing, so it is sent again, once.
    w.gh.fail("POST", CREATE_CHECK_RUN, Failure::Status(503), 1);
    let run = w.repo.create_check_run(&in_progress(&sha, Some("6"), 0)).await.unwrap();
    assert_eq!(runs_of("6"), vec![run.id]);
    let posts = w.gh.expect_requests("POST", CREATE_CHECK_RUN, 3);
    assert_eq!(posts.iter().map(|p| p.status).collect::<Vec<_>>(), vec![502, 503, 201]);
    w.gh.expect_requests("GET", LIST_CHECK_RUNS, 2);

    // Without an external_id there is nothing to look for: the error surfaces, no re-send.
    w.gh.fail("POST", CREATE_CHECK_RUN, Failure::FailAfterApply, 1);
    let err = w.repo.create_check_run(&in_progress(&sha, None, 0)).await.unwrap_err();
    assert_eq!(err.status(), Some(502));
    w.gh.expect_requests("POST", CREATE_CHECK_RUN, 4);
    w.gh.expect_requests("GET", LIST_CHECK_RUNS, 2);
    assert_eq!(w.gh.check_runs(w.repo_id).len(), 4, "other, 5, 6 and the one that landed");
    w.gh.assert_ok();
}

#[tokio::test]
async fn the_app_finds_which_installation_holds_a_repository() {
    let w = Installed::start().await;
    assert_eq!(w.app.repo_installation_id("acme/widgets").await.unwrap(), w.repo.installation_id());
    let globex = w.gh.add_installation("globex");
    w.gh.add_repo(globex, "globex/rockets");
    assert_eq!(w.app.repo_installation_id("globex/rockets").await.unwrap(), InstallationId(globex.0));
    let err = w.app.repo_installation_id("initech/printers").await.unwrap_err();
    assert!(matches!(err, GitHubError::NotFound { .. }), "{err:?}");
    assert!(w.app.repo_installation_id("no-slash").await.is_err());
    // Asked as the App (JWT); no installation token is minted for it.
    let calls = w.gh.expect_requests("GET", "/repos/{owner}/{repo}/installation", 3);
    assert!(calls.iter().all(|c| c.auth == AuthKind::AppJwt), "{calls:#?}");
    w.gh.expect_no_requests("POST", MINT);
    w.gh.assert_ok();
}

#[tokio::test]
async fn repository_contents_tree_branch_and_permissions() {
    let w = Installed::start().await;
    w.gh.put_file(w.repo_id, "main", ".github/maxion.yml", "verify: cargo test\n");
    let r = w.repo.get_repository().await.unwrap();
    assert_eq!(r.full_name, "acme/widgets");
    assert_eq!(r.default_branch, "main");
    assert_eq!(r.visibility, "private");
    assert!(r.clone_url.ends_with("acme/widgets.git"), "{}", r.clone_url);

    let f = w.repo.get_file(".github/maxion.yml", "main").await.unwrap().unwrap();
    assert_eq!(f.text(), Some("verify: cargo test\n"));
    assert!(w.repo.get_file("AGENTS.md", "main").await.unwrap().is_none());

    let tree = w.repo.get_tree("main").await.unwrap();
    let paths: Vec<&str> = tree.tree.iter().filter(|e| e.kind == "blob").map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"README.md") && paths.contains(&".github/maxion.yml"), "{paths:?}");

    assert_eq!(w.repo.branch_head("main").await.unwrap(), Some(w.gh.head_sha(w.repo_id, "main")));
    assert_eq!(w.repo.branch_head("no-such-branch").await.unwrap(), None);

    w.gh.set_permission(w.repo_id, "maint", "maintain");
    w.gh.set_permission(w.repo_id, "reader", "read");
    assert_eq!(w.repo.collaborator_permission("maint").await.unwrap(), RepoPermission::Maintain);
    assert_eq!(w.repo.collaborator_permission("reader").await.unwrap(), RepoPermission::Read);
    w.gh.assert_ok();
}

#[tokio::test]
async fn pull_requests_end_to_end() {
    let w = Installed::start().await;
    let n = w.gh.add_issue(w.repo_id, "Add a thing", "please", &[]);
    w.gh.put_file(w.repo_id, "maxion/issue-1", "src/thing.rs", "pub fn thing() {}\n");
    let new = NewPullRequest {
        title: "Add a thing".into(),
        head: "maxion/issue-1".into(),
        base: "main".into(),
        body: format!("Closes #{n}"),
        draft: true,
    };
    let pr = w.repo.create_pull(&new).await.unwrap();
    assert!(pr.draft);
    assert_eq!(pr.head_ref, "maxion/issue-1");
    assert_eq!(pr.head_sha, w.gh.head_sha(w.repo_id, "maxion/issue-1"));
    assert_eq!(w.repo.get_pull(pr.number).await.unwrap().title, "Add a thing");
    let found = w.repo.list_pulls_by_head("maxion/issue-1").await.unwrap();
    assert_eq!(found.iter().map(|p| p.number).collect::<Vec<_>>(), vec![pr.number]);
    assert!(w.repo.list_pulls_by_head("other").await.unwrap().is_empty());

    let files = w.repo.pull_files(pr.number).await.unwrap();
    assert_eq!(files.iter().map(|f| f.filename.as_str()).collect::<Vec<_>>(), vec!["src/thing.rs"]);

    let updated = w
        .repo
        .update_pull(pr.number, &PullRequestUpdate { body: Some("Closes #1, now better".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(updated.body.as_deref(), Some("Closes #1, now better"));

    w.gh.set_permission(w.repo_id, "reviewer", "write");
    w.repo.request_reviewers(pr.number, &["reviewer".into()], &[]).await.unwrap();
    assert_eq!(w.gh.pulls(w.repo_id)[0].requested_reviewers, vec!["reviewer"]);

    let rc = w.gh.add_review_comment(w.repo_id, pr.number.0, "reviewer", "rename this");
    let reply = w.repo.reply_to_review_comment(pr.number, CommentId(rc), "done").await.unwrap();
    assert_eq!(reply.body, "done");
    assert!(w.gh.review_comments(w.repo_id).iter().any(|c| c.in_reply_to == Some(rc) && c.body == "done"));

    let related = w.repo.cross_references(IssueNumber(n)).await.unwrap();
    assert!(related.iter().any(|r| r.number == pr.number && r.is_pull_request), "{related:?}");
    let hits = w.repo.search_issues("thing").await.unwrap();
    assert!(hits.iter().any(|h| h.number == IssueNumber(n)), "{hits:?}");
    w.gh.assert_ok();
}

#[tokio::test]
async fn a_5xx_on_create_pull_returns_the_pr_that_landed() {
    let w = Installed::start().await;
    w.gh.put_file(w.repo_id, "maxion/issue-2", "x.txt", "x");
    w.gh.fail("POST", "/repos/{owner}/{repo}/pulls", Failure::FailAfterApply, 1);
    let new = NewPullRequest {
        title: "t".into(),
        head: "maxion/issue-2".into(),
        base: "main".into(),
        body: "b".into(),
        draft: false,
    };
    let pr = w.repo.create_pull(&new).await.unwrap();
    assert_eq!(w.gh.pulls(w.repo_id).len(), 1);
    assert_eq!(pr.head_ref, "maxion/issue-2");
    w.gh.expect_requests("POST", "/repos/{owner}/{repo}/pulls", 1);
    w.gh.assert_ok();
}

#[tokio::test]
async fn two_failed_sends_in_a_row_on_create_pull_still_open_exactly_one_pr() {
    let w = Installed::start().await;
    w.gh.put_file(w.repo_id, "maxion/issue-3", "x.txt", "x");
    // Neither lands; after each the PR is looked for, then sent again.
    w.gh.fail("POST", "/repos/{owner}/{repo}/pulls", Failure::Status(502), 2);
    let new = NewPullRequest {
        title: "t".into(),
        head: "maxion/issue-3".into(),
        base: "main".into(),
        body: "b".into(),
        draft: false,
    };
    let pr = w.repo.create_pull(&new).await.unwrap();
    assert_eq!(pr.head_ref, "maxion/issue-3");
    assert_eq!(w.gh.pulls(w.repo_id).len(), 1);
    let posts = w.gh.expect_requests("POST", "/repos/{owner}/{repo}/pulls", 3);
    assert_eq!(posts.iter().map(|p| p.status).collect::<Vec<_>>(), vec![502, 502, 201]);
    w.gh.expect_requests("GET", "/repos/{owner}/{repo}/pulls", 2);
    w.gh.assert_ok();
}

#[tokio::test]
async fn the_limiter_keeps_mutations_within_the_configured_rate() {
    let w = Installed::start_with(|c| {
        c.quota =
            MutationQuota { min_interval: Duration::from_millis(50), windows: vec![(4, Duration::from_millis(1000))] };
    })
    .await;
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    let c = w.repo.create_comment(IssueNumber(n), "0").await.unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..9 {
        let repo = w.repo.clone();
        tasks.push(tokio::spawn(
            async move { repo.update_comment(c.id, &format!("{i}")).await.map(|_| Instant::now()) },
        ));
    }
    // Reads are never held back: one sent while the mutations wait in the
    // limiter comes back before the last of them is let through.
    w.repo.get_issue(IssueNumber(n)).await.unwrap();
    let read_done = start.elapsed();
    let mut done = Vec::new();
    for t in tasks {
        done.push(t.await.unwrap().unwrap() - start);
    }
    // 10 mutations at no more than 4 per second need at least two full windows.
    assert!(start.elapsed() >= Duration::from_secs(2), "{done:?}");
    let last = done.iter().max().copied().unwrap_or_default();
    assert!(read_done < last, "the read waited for the mutations: {read_done:?} vs {last:?}");
    w.gh.assert_ok();
}

#[tokio::test]
async fn a_burst_of_200_updates_is_coalesced_into_a_few_edits() {
    let w = Installed::start().await;
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    let c = w.repo.create_comment(IssueNumber(n), "start").await.unwrap();
    let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let (repo, log) = (w.repo.clone(), Arc::clone(&sent));
    let interval = Duration::from_millis(250);
    let coalescer = Coalescer::spawn(interval, move |body: String| {
        let (repo, log) = (repo.clone(), Arc::clone(&log));
        async move {
            log.lock().unwrap().push(Instant::now());
            repo.update_comment(c.id, &body).await.unwrap();
        }
    });
    let start = Instant::now();
    for i in 0..200 {
        coalescer.update(format!("progress {i}"));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    coalescer.finish("final".into()).await;
    let elapsed = start.elapsed();
    let patches = w.gh.requests_to("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}");
    let max = (elapsed.as_millis() / interval.as_millis()) as usize + 2;
    assert!(patches.len() <= max, "{} edits in {elapsed:?}", patches.len());
    assert!(patches.len() >= 2);
    let sent = sent.lock().unwrap();
    for pair in sent.windows(2) {
        assert!(pair[1] - pair[0] >= interval, "edits closer than the interval");
    }
    assert_eq!(w.gh.comments(w.repo_id, n)[0].body, "final");
    w.gh.assert_ok();
}

#[tokio::test]
async fn errors_are_typed() {
    let w = Installed::start().await;
    assert!(matches!(w.repo.get_issue(IssueNumber(999)).await.unwrap_err(), GitHubError::NotFound { .. }));
    let inst = w.repo.installation_id();
    w.gh.set_installation_permissions(crate::support::fake_github::InstallationId(inst.0), &[("issues", "read")]);
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    let err = w.repo.create_comment(IssueNumber(n), "x").await.unwrap_err();
    assert!(matches!(err, GitHubError::Validation { .. } | GitHubError::Forbidden { .. }), "{err:?}");
    w.gh.take_violations();
    let bad = w.app.repo(inst, "acme/../etc");
    assert!(matches!(bad.unwrap_err(), GitHubError::Config(_)));
}

#[tokio::test]
async fn no_token_appears_in_any_log_line() {
    let (capture, _guard) = crate::support::logs::Capture::install();

    let w = Installed::start().await;
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    w.repo.get_issue(IssueNumber(n)).await.unwrap();
    w.gh.expire_tokens();
    w.repo.create_comment(IssueNumber(n), "x").await.unwrap();
    w.gh.fail("GET", "/repos/{owner}/{repo}/issues/{issue_number}", Failure::Status(502), 1);
    w.repo.get_issue(IssueNumber(n)).await.unwrap();
    w.gh.fail("GET", "/repos/{owner}/{repo}/issues/{issue_number}", Failure::ExpiredToken, 2);
    let err = w.repo.get_issue(IssueNumber(n)).await.unwrap_err();
    let push_token = w.app.token_for(w.repo.installation_id(), "widgets", Permissions::contents_write()).await.unwrap();

    let v = w.gh.take_violations();
    assert!(v.iter().all(|v| v.contains("refused 401")), "only the provoked 401s: {v:?}");
    let logs = capture.text();
    assert!(logs.contains("retrying"), "the capture saw the client's log lines:\n{logs}");
    let tokens = w.gh.issued_tokens();
    assert!(tokens.len() >= 3);
    assert!(tokens.contains(&push_token.expose_secret().to_owned()));
    for t in &tokens {
        assert!(!logs.contains(t.as_str()), "token in logs");
        assert!(!format!("{err} {err:?}").contains(t.as_str()), "token in an error");
        assert_eq!(maxion::masker::global().mask(&format!("x{t}x")), "x***x", "registered with the masker");
    }
    assert!(!format!("{:?} {:?}", w.app, w.repo).contains("ghs_"));
}

#[tokio::test]
async fn a_read_that_times_out_is_retried() {
    let w = Installed::start_with(|c| c.read_timeout = Duration::from_millis(300)).await;
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    w.gh.fail("GET", "/repos/{owner}/{repo}/issues/{issue_number}", Failure::Delay(Duration::from_secs(2)), 1);
    assert_eq!(w.repo.get_issue(IssueNumber(n)).await.unwrap().number, IssueNumber(n));
    // The slow answer was abandoned and the read sent again.
    w.gh.expect_requests("GET", "/repos/{owner}/{repo}/issues/{issue_number}", 2);
    w.gh.assert_ok();
}

#[tokio::test]
async fn a_refused_connection_is_a_transport_error_marked_not_sent() {
    // Bind and drop a listener to get a loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gh = FakeGitHub::start().await;
    let mut c = fast_config(&gh);
    c.api_url = format!("http://127.0.0.1:{port}");
    let app = GitHubApp::new(c).unwrap();
    let err = app.app_info().await.unwrap_err();
    assert!(matches!(err, GitHubError::Transport { not_sent: true, .. }), "{err:?}");
}

#[tokio::test]
async fn concurrent_calls_share_one_freshly_minted_token() {
    let w = Installed::start().await;
    let n = w.gh.add_issue(w.repo_id, "t", "b", &[]);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let repo = w.repo.clone();
        tasks.push(tokio::spawn(async move { repo.get_issue(IssueNumber(n)).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    w.gh.expect_requests("POST", "/app/installations/{installation_id}/access_tokens", 1);
    w.gh.assert_ok();
}

#[tokio::test]
async fn expired_installation_tokens_leave_the_masker() {
    let w = Installed::start().await;
    // Tokens that expire as they are issued: each use mints a new one, and
    // each mint drops the expired ones (and their git form) from the masker.
    w.gh.set_token_lifetime(Duration::ZERO);
    let mut minted = Vec::new();
    for _ in 0..3 {
        let t = w.app.token_for(w.repo.installation_id(), "widgets", Permissions::contents_read()).await.unwrap();
        minted.push(t.expose_secret().to_owned());
    }
    let masker = maxion::masker::global();
    for old in &minted[..2] {
        assert_eq!(masker.mask(old), *old, "an expired token is no longer a secret to mask");
        let git_form = maxion::github::git_basic_credential(&SecretString::from(old.clone()));
        assert!(!masker.mask(git_form.expose_secret()).contains("***"));
    }
    assert_eq!(masker.mask(&minted[2]), "***", "the newest token is still masked");
    assert_eq!(w.gh.issued_tokens().len(), 3);
}
