//! Test-facing readers and assertions of the fake GitHub: what was requested, what state
//! the bot left behind, and the `expect_*` helpers. Read-only over the fake's state
//! (except `take_violations`, which clears what it returns).

use super::{
    CheckRun, Comment, FakeGitHub, Pull, Reaction, ReactionTarget, RecordedRequest, RepoId,
    ReviewComment,
};

impl FakeGitHub {
    // ----- readers -------------------------------------------------------------------

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.lock().requests.clone()
    }

    /// Requests that hit one operation, e.g. `("POST", "/repos/{owner}/{repo}/check-runs")`.
    pub fn requests_to(&self, method: &str, template: &str) -> Vec<RecordedRequest> {
        self.lock()
            .requests
            .iter()
            .filter(|r| {
                r.method.eq_ignore_ascii_case(method) && r.operation.as_deref() == Some(template)
            })
            .cloned()
            .collect()
    }

    /// Every installation token the fake has issued (assert none leaks into logs or storage).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.lock().issued_tokens.clone()
    }

    pub fn issue_labels(&self, repo: RepoId, issue: u64) -> Vec<String> {
        self.lock()
            .repo(repo)
            .issues
            .get(&issue)
            .map(|i| i.labels.clone())
            .unwrap_or_default()
    }

    pub fn comments(&self, repo: RepoId, issue: u64) -> Vec<Comment> {
        self.lock()
            .repo(repo)
            .comments
            .iter()
            .filter(|c| c.issue == issue)
            .cloned()
            .collect()
    }

    pub fn reactions(&self, repo: RepoId) -> Vec<Reaction> {
        self.lock().repo(repo).reactions.clone()
    }

    pub fn check_runs(&self, repo: RepoId) -> Vec<CheckRun> {
        self.lock().repo(repo).check_runs.clone()
    }

    pub fn pulls(&self, repo: RepoId) -> Vec<Pull> {
        self.lock().repo(repo).pulls.values().cloned().collect()
    }

    pub fn review_comments(&self, repo: RepoId) -> Vec<ReviewComment> {
        self.lock().repo(repo).review_comments.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// Returns and clears the violations (for tests that provoke them on purpose).
    pub fn take_violations(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().violations)
    }

    // ----- assertions ----------------------------------------------------------------

    /// Panics listing every violation recorded so far.
    #[track_caller]
    pub fn assert_ok(&self) {
        let v = self.violations();
        assert!(
            v.is_empty(),
            "the fake GitHub saw {} violation(s):\n- {}",
            v.len(),
            v.join("\n- ")
        );
    }

    #[track_caller]
    pub fn expect_comment_count(&self, repo: RepoId, issue: u64, n: usize) -> Vec<Comment> {
        let comments = self.comments(repo, issue);
        assert_eq!(
            comments.len(),
            n,
            "expected {n} comment(s) on #{issue}, found {}: {:#?}",
            comments.len(),
            comments
                .iter()
                .map(|c| (&c.user, &c.body))
                .collect::<Vec<_>>()
        );
        comments
    }

    /// The latest check run called `name`; `conclusion` `None` means "not completed yet".
    #[track_caller]
    pub fn expect_check_run(&self, repo: RepoId, name: &str, conclusion: Option<&str>) -> CheckRun {
        let runs = self.check_runs(repo);
        let run = runs
            .iter()
            .rev()
            .find(|c| c.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "no check run named {name}; have {:?}",
                    runs.iter().map(|c| &c.name).collect::<Vec<_>>()
                )
            });
        assert_eq!(
            run.conclusion.as_deref(),
            conclusion,
            "check run {name}: {run:#?}"
        );
        run.clone()
    }

    #[track_caller]
    pub fn expect_reaction(&self, repo: RepoId, target: ReactionTarget, content: &str) {
        let all = self.reactions(repo);
        assert!(
            all.iter()
                .any(|r| r.target == target && r.content == content),
            "no {content} reaction on {target:?}; have {all:#?}"
        );
    }

    /// Exactly `n` requests hit the operation.
    #[track_caller]
    pub fn expect_requests(&self, method: &str, template: &str, n: usize) -> Vec<RecordedRequest> {
        let got = self.requests_to(method, template);
        assert_eq!(
            got.len(),
            n,
            "expected {n} × {method} {template}, got {}: {got:#?}",
            got.len()
        );
        got
    }

    /// The open pull request from `head`, if exactly one exists.
    #[track_caller]
    pub fn expect_pull(&self, repo: RepoId, head: &str) -> Pull {
        let open: Vec<Pull> = self
            .pulls(repo)
            .into_iter()
            .filter(|p| p.head == head && p.state == "open")
            .collect();
        assert_eq!(open.len(), 1, "expected one open PR from {head}: {open:#?}");
        open[0].clone()
    }

    /// No request hit the operation.
    #[track_caller]
    pub fn expect_no_requests(&self, method: &str, template: &str) {
        self.expect_requests(method, template, 0);
    }
}
