//! The progress reporter against the fake GitHub: a job moving through
//! queued -> running -> succeeded produces exactly one status comment edited
//! in place, the `eyes` reaction, and the expected check runs; a restart finds
//! the comment again; a failure's output is cut to GitHub's limit.

use std::time::Duration;

use crate::support::fake_github::{FakeGitHub, ReactionTarget, RepoId};
use crate::support::github::Installed;
use maxion::github::*;
use maxion::jobs::{Failure, Job, JobEnd, JobEvent, JobId, JobState, NewJob, RepoRef, StepStop, TriggerKind};
use maxion::report::{self, JobReporter, ReportConfig};

struct World {
    gh: FakeGitHub,
    repo_id: RepoId,
    repo: RepoClient,
    cfg: ReportConfig,
}

async fn world() -> World {
    let Installed { gh, repo_id, repo, .. } = Installed::start().await;
    let cfg = ReportConfig {
        public_url: "https://maxion.example/".into(),
        update_interval: Duration::from_millis(100),
        progress_after: Duration::ZERO,
    };
    World { gh, repo_id, repo, cfg }
}

fn job(id: i64, issue: u64, trigger_comment: Option<u64>) -> Job {
    let now = chrono::Utc::now();
    Job {
        id: JobId(id),
        state: JobState::Queued,
        spec: NewJob {
            installation_id: InstallationId(1),
            repo: RepoRef {
                id: maxion::github::RepoId(1),
                full_name: "acme/widgets".into(),
                clone_url: String::new(),
                default_branch: "main".into(),
            },
            issue_number: IssueNumber(issue),
            issue_title: "Fix it".into(),
            trigger: if trigger_comment.is_some() { TriggerKind::Comment } else { TriggerKind::Label },
            trigger_comment_id: trigger_comment.map(CommentId),
            sender_login: "alice".into(),
            sender_id: 2,
            instructions: None,
            delivery_id: "d".into(),
            follow_up: None,
        },
        attempts: 0,
        step: None,
        error: None,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        branch: None,
        pr_number: None,
        status_comment_id: None,
    }
}

fn step(reporter: &mut JobReporter, name: &str, ok: bool) {
    reporter.record(&JobEvent::StepStarted { step: name.into() });
    reporter.record(&JobEvent::Output {
        step: name.into(),
        stream: maxion::jobs::OutputStream::Stdout,
        text: "...".into(),
    });
    reporter.record(&JobEvent::StepFinished {
        step: name.into(),
        ok,
        exit_code: Some(if ok { 0 } else { 1 }),
        duration_ms: 1500,
        stopped: None,
    });
}

#[tokio::test]
async fn a_job_from_queued_to_succeeded_keeps_one_comment_and_two_check_runs() {
    let w = world().await;
    let n = w.gh.add_issue(w.repo_id, "Fix it", "details", &[]);
    let trigger = w.gh.add_comment(w.repo_id, n, "alice", "/maxion please");
    let job = job(41, n, Some(trigger));

    report::acknowledge(&w.repo, &job).await.unwrap();
    w.gh.expect_reaction(w.repo_id, ReactionTarget::Comment(trigger), "eyes");

    let mut r = JobReporter::resume(w.repo.clone(), w.cfg.clone(), &job, Some(2)).await.unwrap();
    let base = w.gh.head_sha(w.repo_id, "main");
    r.started(&base).await.unwrap();
    for s in ["setup", "implement", "verify"] {
        step(&mut r, s, true);
    }
    let head = w.gh.put_file(w.repo_id, "maxion/issue-1", "src/fix.rs", "fn fix() {}\n");
    r.pushed(&head).await.unwrap();
    step(&mut r, "ship", true);
    r.finish(JobEnd::Succeeded { pull_request: Some("https://github.example/acme/widgets/pull/2".into()) }, Vec::new())
        .await;

    let comments = w.gh.expect_comment_count(w.repo_id, n, 2);
    let status = comments.iter().find(|c| c.user == w.gh.bot_login()).unwrap();
    assert!(
        status.history[0].contains("queued this job") && status.history[0].contains("position 2"),
        "{}",
        status.history[0]
    );
    assert!(status.history.iter().any(|b| b.contains("working on this issue")), "{:#?}", status.history);
    assert!(status.body.starts_with("<!-- maxion:job:41 -->"));
    assert!(status.body.contains("https://github.example/acme/widgets/pull/2"));
    assert!(status.body.contains("https://maxion.example/jobs/41"));
    for s in ["setup", "implement", "verify", "ship"] {
        assert!(status.body.contains(&format!("| `{s}` | ✅ passed |")), "{}", status.body);
    }
    // Coalesced: far fewer edits than the 17 events recorded.
    assert!(status.history.len() <= 8, "{} edits", status.history.len());

    // Exactly what was sent: one reaction, one comment, two check runs.
    w.gh.expect_requests("POST", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", 1);
    w.gh.expect_requests("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments", 1);
    w.gh.expect_requests("POST", "/repos/{owner}/{repo}/check-runs", 2);
    let runs = w.gh.check_runs(w.repo_id);
    assert_eq!(runs.len(), 2, "{runs:#?}");
    assert_eq!(runs[0].head_sha, base);
    assert_eq!(runs[1].head_sha, head);
    // The base commit's run was created in progress with a `Cancel` button; the
    // head commit's (pushed after verification) is created with the final state.
    let creates = w.gh.requests_to("POST", "/repos/{owner}/{repo}/check-runs");
    assert_eq!(creates[0].body["actions"][0]["identifier"], "cancel", "{}", creates[0].body);
    assert_eq!(creates[1].body["status"], "completed", "{}", creates[1].body);
    assert_eq!(creates[1].body["conclusion"], "success", "{}", creates[1].body);
    w.gh.expect_requests("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}", 1);
    for run in &runs {
        assert!(run.actions.is_empty(), "{:?}", run.actions);
        assert_eq!(run.name, "maxion");
        assert_eq!(run.status, "completed");
        assert_eq!(run.conclusion.as_deref(), Some("success"));
        assert_eq!(run.external_id.as_deref(), Some("41"));
        assert_eq!(run.details_url.as_deref(), Some("https://maxion.example/jobs/41"));
        assert!(run.summary.as_deref().unwrap().contains("`verify`"));
    }
    w.gh.assert_ok();
}

#[tokio::test]
async fn a_restart_finds_and_edits_the_same_comment() {
    let w = world().await;
    let n = w.gh.add_issue(w.repo_id, "Fix it", "details", &["maxion"]);
    let job = job(7, n, None);
    report::acknowledge(&w.repo, &job).await.unwrap();
    w.gh.expect_reaction(w.repo_id, ReactionTarget::Issue(n), "eyes");
    let first = JobReporter::resume(w.repo.clone(), w.cfg.clone(), &job, Some(1)).await.unwrap();
    drop(first); // the process dies
    let again = JobReporter::resume(w.repo.clone(), w.cfg.clone(), &job, None).await.unwrap();
    again.finish(JobEnd::Cancelled { by: Some("alice".into()) }, Vec::new()).await;
    let comments = w.gh.expect_comment_count(w.repo_id, n, 1);
    assert!(comments[0].body.contains("cancelled this job**: requested by @alice"), "{}", comments[0].body);
    assert!(comments[0].body.contains("/maxion retry"));
    w.gh.assert_ok();
}

#[tokio::test]
async fn the_status_comment_posted_at_admission_is_taken_over_by_its_id() {
    let w = world().await;
    let n = w.gh.add_issue(w.repo_id, "Fix it", "details", &["maxion"]);
    let mut job = job(9, n, None);
    let id = report::post_status_comment(&w.repo, &w.cfg, &job, Some(1), false).await.unwrap();
    job.status_comment_id = Some(id);
    let listed = || w.gh.requests_to("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments").len();
    let before = listed();
    let r = JobReporter::resume(w.repo.clone(), w.cfg.clone(), &job, None).await.unwrap();
    r.finish(JobEnd::Cancelled { by: Some("alice".into()) }, Vec::new()).await;
    assert_eq!(listed(), before, "the job start edits the comment by id, without listing the issue's comments");
    let comments = w.gh.expect_comment_count(w.repo_id, n, 1);
    assert_eq!(comments[0].id, id.0);
    assert!(comments[0].body.contains("requested by @alice"), "{}", comments[0].body);

    // A maintainer deleted it: the next start finds no comment by that id and posts one again.
    w.gh.delete_comment(w.repo_id, id.0);
    let r = JobReporter::resume(w.repo.clone(), w.cfg.clone(), &job, None).await.unwrap();
    r.finish(JobEnd::Cancelled { by: Some("bob".into()) }, Vec::new()).await;
    let comments = w.gh.expect_comment_count(w.repo_id, n, 1);
    assert_ne!(comments[0].id, id.0);
    assert!(comments[0].body.contains("requested by @bob"), "{}", comments[0].body);
    w.gh.assert_ok();
}

#[tokio::test]
async fn a_failure_reports_the_tail_annotations_and_is_cut_to_the_limit() {
    let w = world().await;
    let n = w.gh.add_issue(w.repo_id, "Fix it", "details", &[]);
    let job = job(8, n, None);
    let mut r = JobReporter::resume(w.repo.clone(), w.cfg.clone(), &job, None).await.unwrap();
    r.started(&w.gh.head_sha(w.repo_id, "main")).await.unwrap();
    step(&mut r, "verify", false);
    // 30 lines of 4,000 characters: far over 65,535 together.
    let last_lines: Vec<String> = (0..30).map(|i| format!("{i}:{}", "e".repeat(4000))).collect();
    let annotations: Vec<Annotation> = (1..=75)
        .map(|i| Annotation {
            path: "src/lib.rs".into(),
            start_line: i,
            end_line: i,
            annotation_level: AnnotationLevel::Failure,
            message: "expected `u32`, found `i64`".into(),
            title: None,
        })
        .collect();
    let failure = Failure { reason: "tests failed".into(), step: Some("verify".into()), last_lines };
    r.finish(JobEnd::Failed(failure), annotations).await;

    let run = w.gh.expect_check_run(w.repo_id, "maxion", Some("failure"));
    let text = run.text.unwrap();
    assert!(text.chars().count() <= MAX_OUTPUT_CHARS);
    assert!(text.contains("truncated") && text.contains("29:eee"), "the end of the output is kept");
    assert_eq!(run.annotations.len(), 75);
    // A failed run offers `Retry` (it offered `Cancel` while running).
    let identifiers: Vec<_> = run.actions.iter().map(|a| a["identifier"].as_str().unwrap_or_default()).collect();
    assert_eq!(identifiers, ["retry"]);
    let comment = &w.gh.expect_comment_count(w.repo_id, n, 1)[0];
    assert!(comment.body.chars().count() <= report::text::MAX_COMMENT_CHARS);
    assert!(comment.body.contains("truncated") && comment.body.contains("29:eee"));
    assert!(comment.body.contains("/maxion retry") && comment.body.contains("https://maxion.example/jobs/8"));
    w.gh.assert_ok();
}

/// Polls until `cond` holds (the reporter delivers asynchronously), failing after 5 s.
async fn eventually(what: &str, cond: impl FnMut() -> bool) {
    crate::support::wait::until_true(what, Duration::from_secs(5), cond).await
}

#[tokio::test]
async fn queue_position_and_requeue_are_shown_in_the_same_comment() {
    let w = world().await;
    let n = w.gh.add_issue(w.repo_id, "Fix it", "details", &[]);
    let job = job(9, n, None);
    let mut r = JobReporter::resume(w.repo.clone(), w.cfg.clone(), &job, Some(3)).await.unwrap();
    r.queue_position(1);
    eventually("position 1", || w.gh.comments(w.repo_id, n)[0].body.contains("position 1")).await;
    r.started(&w.gh.head_sha(w.repo_id, "main")).await.unwrap();
    r.record(&JobEvent::StepStarted { step: "setup".into() });
    eventually("running", || w.gh.comments(w.repo_id, n)[0].body.contains("step `setup`")).await;
    r.record(&JobEvent::StateChanged {
        from: JobState::Running,
        to: JobState::Queued,
        reason: Some("lease lost".into()),
    });
    eventually("queued again", || w.gh.comments(w.repo_id, n)[0].body.contains("queued this job")).await;
    r.finish(JobEnd::TimedOut { after: Duration::from_secs(3600) }, Vec::new()).await;
    let c = &w.gh.expect_comment_count(w.repo_id, n, 1)[0];
    assert!(c.body.contains("ran out of time") && c.body.contains("/maxion retry"), "{}", c.body);
    w.gh.expect_check_run(w.repo_id, "maxion", Some("timed_out"));
    w.gh.assert_ok();
}

#[tokio::test]
async fn a_restarted_job_keeps_one_check_run_per_commit() {
    let w = world().await;
    let n = w.gh.add_issue(w.repo_id, "Fix it", "details", &[]);
    let base = w.gh.head_sha(w.repo_id, "main");
    let job41 = job(41, n, None);
    let mut first = JobReporter::resume(w.repo.clone(), w.cfg.clone(), &job41, None).await.unwrap();
    first.started(&base).await.unwrap();
    // Its first update creates the run (no quiet period here).
    eventually("job 41's run", || w.gh.check_runs(w.repo_id).iter().any(|r| r.external_id.as_deref() == Some("41")))
        .await;
    // Another job on the same commit makes the newest `maxion` run there.
    let m = w.gh.add_issue(w.repo_id, "Other", "details", &[]);
    let mut other = JobReporter::resume(w.repo.clone(), w.cfg.clone(), &job(42, m, None), None).await.unwrap();
    other.started(&base).await.unwrap();
    drop(first); // the process dies mid-job

    let mut again = JobReporter::resume(w.repo.clone(), w.cfg.clone(), &job41, None).await.unwrap();
    again.started(&base).await.unwrap();
    step(&mut again, "setup", true);
    // Requeued after losing its lease, then started again by the same process.
    again.record(&JobEvent::StateChanged { from: JobState::Running, to: JobState::Queued, reason: None });
    again.started(&base).await.unwrap();
    let head = w.gh.put_file(w.repo_id, "maxion/issue-1", "src/fix.rs", "fn fix() {}\n");
    again.pushed(&head).await.unwrap();
    again.pushed(&head).await.unwrap();
    again.finish(JobEnd::Succeeded { pull_request: Some("https://github.example/pull/3".into()) }, Vec::new()).await;
    other.finish(JobEnd::Cancelled { by: None }, Vec::new()).await;

    let runs = w.gh.check_runs(w.repo_id);
    let of = |job: &str, sha: &str| {
        runs.iter().filter(|r| r.external_id.as_deref() == Some(job) && r.head_sha == sha).count()
    };
    assert_eq!((of("41", &base), of("41", &head), of("42", &base)), (1, 1, 1), "{runs:#?}");
    assert_eq!(runs.len(), 3);
    w.gh.expect_requests("POST", "/repos/{owner}/{repo}/check-runs", 3);
    for r in runs.iter().filter(|r| r.external_id.as_deref() == Some("41")) {
        assert_eq!(r.conclusion.as_deref(), Some("success"), "{r:#?}");
        assert!(r.summary.as_deref().unwrap().contains("`setup`"), "{r:#?}");
    }
    let r42 = runs.iter().find(|r| r.external_id.as_deref() == Some("42")).unwrap();
    assert_eq!(r42.conclusion.as_deref(), Some("cancelled"));
    w.gh.expect_comment_count(w.repo_id, n, 1);
    w.gh.assert_ok();
}

/// A job cancelled mid-step: the step it was in shows as cancelled, in the
/// comment and the check run, whether it was still running at the end or its
/// end was recorded as stopped; no step reads "failed".
#[tokio::test]
async fn a_cancelled_job_shows_its_steps_as_cancelled_not_failed() {
    let w = world().await;
    let n = w.gh.add_issue(w.repo_id, "Fix it", "details", &[]);
    let job = job(9, n, None);
    let mut r = JobReporter::resume(w.repo.clone(), w.cfg.clone(), &job, None).await.unwrap();
    r.started(&w.gh.head_sha(w.repo_id, "main")).await.unwrap();
    step(&mut r, "setup", true);
    r.record(&JobEvent::StepStarted { step: "agent".into() });
    r.record(&JobEvent::StepFinished {
        step: "agent".into(),
        ok: false,
        exit_code: None,
        duration_ms: 800,
        stopped: Some(StepStop::Cancelled),
    });
    r.record(&JobEvent::StepStarted { step: "ship".into() });
    r.finish(JobEnd::Cancelled { by: Some("alice".into()) }, Vec::new()).await;

    let c = &w.gh.expect_comment_count(w.repo_id, n, 1)[0];
    assert!(c.body.contains("| `agent` | 🚫 cancelled |"), "{}", c.body);
    assert!(c.body.contains("| `ship` | 🚫 cancelled |"), "{}", c.body);
    assert!(c.body.contains("| `setup` | ✅ passed |") && !c.body.contains("failed"), "{}", c.body);
    let run = w.gh.expect_check_run(w.repo_id, "maxion", Some("cancelled"));
    assert!(run.summary.as_deref().unwrap_or_default().contains("| `agent` | 🚫 cancelled |"), "{run:#?}");
    w.gh.assert_ok();
}

/// A job quicker than the quiet period: nothing is written on its way (the
/// check runs would otherwise hold back the pull request, a second each), and
/// its end creates both runs, completed, in one call each.
#[tokio::test]
async fn a_quick_job_creates_its_check_runs_with_the_final_state() {
    let w = world().await;
    let cfg = ReportConfig { progress_after: Duration::from_secs(600), ..w.cfg.clone() };
    let n = w.gh.add_issue(w.repo_id, "Fix it", "details", &[]);
    let job = job(43, n, None);
    let mut r = JobReporter::resume(w.repo.clone(), cfg, &job, None).await.unwrap();
    let base = w.gh.head_sha(w.repo_id, "main");
    r.started(&base).await.unwrap();
    step(&mut r, "agent", true);
    let head = w.gh.put_file(w.repo_id, "maxion/issue-1", "src/fix.rs", "fn fix() {}\n");
    r.pushed(&head).await.unwrap();
    assert!(w.gh.check_runs(w.repo_id).is_empty(), "a check run was created on the job's way");
    w.gh.expect_requests("PATCH", "/repos/{owner}/{repo}/issues/comments/{comment_id}", 0);
    r.finish(JobEnd::Succeeded { pull_request: Some("https://github.example/acme/widgets/pull/2".into()) }, Vec::new())
        .await;

    w.gh.expect_requests("POST", "/repos/{owner}/{repo}/check-runs", 2);
    w.gh.expect_requests("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}", 0);
    let runs = w.gh.check_runs(w.repo_id);
    let shas: Vec<_> = runs.iter().map(|r| r.head_sha.as_str()).collect();
    assert_eq!(shas, [base.as_str(), head.as_str()]);
    for run in &runs {
        assert_eq!((run.status.as_str(), run.conclusion.as_deref()), ("completed", Some("success")), "{run:#?}");
        assert_eq!(run.external_id.as_deref(), Some("43"));
        assert!(run.summary.as_deref().unwrap_or_default().contains("`agent`"), "{run:#?}");
    }
    let comment = &w.gh.expect_comment_count(w.repo_id, n, 1)[0];
    assert_eq!(comment.history.len(), 2, "posted queued, then its result in one edit: {:#?}", comment.history);
    w.gh.assert_ok();
}
