//! What the agent's work brings back when the sandbox skips hashing the
//! files it did not touch: renamed and swapped directories (whose files keep
//! their own times), an edit that restores the file's size and mtime, and a
//! deletion all reach the pull request, and nothing else does.

use maxion::jobs::{JobEvent, JobState};

use crate::support::service::TestService;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renames_swaps_and_mtime_preserving_edits_reach_the_pull_request() {
    let Some(e) = TestService::with_docker(|_| {}).await else { return };
    for (path, content) in [
        ("a/x.txt", "from a\n"),
        ("a/sub/y.txt", "deep a\n"),
        ("b/x.txt", "from b\n"),
        ("b/sub/y.txt", "deep b\n"),
        ("c/deep/z.txt", "moved\n"),
        ("m.txt", "same\n"),
        ("old.txt", "old\n"),
        ("keep.txt", "keep\n"),
    ] {
        e.gh.put_file(e.repo, "main", path, content);
    }
    // Setup commands change the workspace like an agent would, after the
    // upload: swap a and b, rename c, rewrite m.txt keeping its size and
    // putting its mtime back, delete old.txt.
    let setup = "mv a t && mv b a && mv t b && mv c d && \
                 touch -r m.txt /tmp/ref && printf 'SAME\\n' > m.txt && touch -r /tmp/ref m.txt && rm old.txt";
    let config = format!("setup:\n  - {setup}\n");
    e.gh.put_file(e.repo, "main", ".github/maxion.yml", &config);
    let issue = e.label_issue("Moves", "write ok.txt done").await;
    let job = e.job_ends(issue).await;
    assert_eq!(job.state, JobState::Succeeded, "error: {:?}", job.error);

    let branch = e.pull_for(issue).head;
    let file = |p: &str| e.gh.file(e.repo, &branch, p).map(|b| String::from_utf8_lossy(&b).into_owned());
    assert_eq!(file("a/x.txt").as_deref(), Some("from b\n"));
    assert_eq!(file("a/sub/y.txt").as_deref(), Some("deep b\n"));
    assert_eq!(file("b/x.txt").as_deref(), Some("from a\n"));
    assert_eq!(file("b/sub/y.txt").as_deref(), Some("deep a\n"));
    assert_eq!(file("c/deep/z.txt"), None, "the rename's old side is deleted");
    assert_eq!(file("d/deep/z.txt").as_deref(), Some("moved\n"));
    assert_eq!(file("m.txt").as_deref(), Some("SAME\n"), "an edit that kept size and mtime");
    assert_eq!(file("old.txt"), None);
    assert_eq!(file("keep.txt").as_deref(), Some("keep\n"));
    assert_eq!(file("ok.txt").as_deref(), Some("done\n"));
    // Exactly the changed paths came back: the four swapped files, both
    // sides of the rename, m.txt, old.txt and ok.txt.
    let events = e.events(job.id).await;
    let collected = events.iter().find_map(|s| match &s.event {
        JobEvent::Info { message } if message.starts_with("collected") => Some(message.clone()),
        _ => None,
    });
    assert_eq!(collected.as_deref().map(|m| m.starts_with("collected 9 changed path(s)")), Some(true), "{collected:?}");
    e.finish().await;
}
