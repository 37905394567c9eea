//! Failure injection: tests arm a rule per (method, path pattern) that fires for the next
//! `times` matching requests. A pattern is the OpenAPI template
//! (`/repos/{owner}/{repo}/issues/{issue_number}/comments`), the concrete path, or a
//! concrete path with `*` standing for one segment; method `*` matches any method.
//! Pure matching logic; the server applies it.

use std::time::Duration;

/// What an armed rule does to a matching request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Answer this status (GitHub-shaped body) WITHOUT applying the request.
    Status(u16),
    /// 403 "secondary rate limit" with `retry-after`, not applied.
    SecondaryRateLimit { retry_after_secs: u64 },
    /// 403 with `x-ratelimit-remaining: 0` and `x-ratelimit-reset`, not applied.
    PrimaryRateLimit { reset_in_secs: u64 },
    /// 401 Bad credentials; the presented installation token is revoked, as if it expired.
    ExpiredToken,
    /// Wait, then handle the request normally.
    Delay(Duration),
    /// Apply the request, then answer 502: the client cannot know it took effect.
    FailAfterApply,
}

#[derive(Clone, Debug)]
pub struct FailureRule {
    pub method: String,
    pub pattern: String,
    pub failure: Failure,
    pub remaining: u32,
}

impl FailureRule {
    pub fn matches(&self, method: &str, template: &str, path: &str) -> bool {
        if !(self.method == "*" || self.method.eq_ignore_ascii_case(method)) || self.remaining == 0
        {
            return false;
        }
        if self.pattern == template || self.pattern == path {
            return true;
        }
        let pat: Vec<&str> = self.pattern.trim_start_matches('/').split('/').collect();
        let got: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        pat.len() == got.len() && pat.iter().zip(&got).all(|(p, g)| *p == "*" || p == g)
    }
}

/// Takes one shot of the first armed rule matching the request, if any.
pub fn take(
    rules: &mut [FailureRule],
    method: &str,
    template: &str,
    path: &str,
) -> Option<Failure> {
    let rule = rules
        .iter_mut()
        .find(|r| r.matches(method, template, path))?;
    rule.remaining -= 1;
    Some(rule.failure.clone())
}
