//! Retries of git's network operations (fetch, clone, push), in the REST
//! client's style: exponential backoff with jitter from `backon`, a bound on
//! the number of retries and on the total wait. Only failures that say
//! nothing about the request itself are repeated: HTTP 5xx and 429, a reset,
//! refused or timed-out connection, an "early EOF". Authentication and
//! permission errors (401/403), a missing repository (404) and a rejected
//! push fail at once. When the retries run out the error says the git host
//! kept failing, so the user is not told about one stray 500.

use std::future::Future;
use std::time::Duration;

use backon::BackoffBuilder;

use super::GitError;

/// When and how long a git network operation is retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitRetry {
    /// First backoff delay (doubles per retry, with jitter).
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Retries after the first attempt; 0 turns retrying off.
    pub max_retries: usize,
    /// Upper bound on all waiting for one operation.
    pub max_total_delay: Duration,
}

impl Default for GitRetry {
    fn default() -> Self {
        Self {
            min_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
            max_retries: 4,
            max_total_delay: Duration::from_secs(120),
        }
    }
}

impl GitRetry {
    /// The default policy with `max_retries` retries.
    pub fn with_retries(max_retries: usize) -> Self {
        Self { max_retries, ..Self::default() }
    }
}

impl GitError {
    /// Whether trying the same operation again a moment later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            GitError::Timeout { .. } => true,
            GitError::Network { stderr, .. } => !names_client_error(stderr),
            _ => false,
        }
    }
}

/// A 4xx other than 429 in curl's or git's wording ("The requested URL
/// returned error: 404", "RPC failed; HTTP 404"): the request itself is
/// wrong, and repeating it changes nothing.
fn names_client_error(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    ["returned error: 4", "http 4"]
        .iter()
        .any(|needle| lower.match_indices(needle).any(|(at, _)| !lower[at + needle.len() - 1..].starts_with("429")))
}

/// Runs `attempt` (given the attempt's number, 0 first) until it succeeds,
/// fails for good, or the policy's retries or total wait run out; then a
/// transient failure becomes [`GitError::HostKeptFailing`].
pub(crate) async fn retrying<T, F, Fut>(policy: &GitRetry, op: &str, mut attempt: F) -> Result<T, GitError>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, GitError>>,
{
    let mut delays = crate::backoff::jittered(policy.min_delay, policy.max_delay, policy.max_retries).build();
    let mut waited = Duration::ZERO;
    let mut n = 0;
    loop {
        let err = match attempt(n).await {
            Ok(v) => return Ok(v),
            Err(e) if !e.is_transient() => return Err(e),
            Err(e) => e,
        };
        n += 1;
        let next = delays.next().filter(|d| waited + *d <= policy.max_total_delay);
        let Some(delay) = next else {
            if n == 1 {
                // Retrying is off: the error stays what git said.
                return Err(err);
            }
            return Err(GitError::HostKeptFailing { op: op.to_owned(), attempts: n, last: err.to_string() });
        };
        tracing::warn!(op, error = %err, ?delay, attempt = n, "git network operation failed; retrying");
        waited += delay;
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(stderr: &str) -> GitError {
        GitError::Network { op: "fetch o/r".into(), stderr: stderr.into() }
    }

    #[test]
    fn transient_failures_are_told_from_final_ones() {
        assert!(network("error: RPC failed; HTTP 500 curl 22 The requested URL returned error: 500").is_transient());
        assert!(network("fatal: unable to access 'x': The requested URL returned error: 429").is_transient());
        assert!(network("fatal: early EOF").is_transient());
        assert!(
            network("fatal: unable to access 'x': Failed to connect to x port 443: Connection refused").is_transient()
        );
        assert!(GitError::Timeout { op: "fetch".into(), secs: 600 }.is_transient());
        assert!(!network("fatal: unable to access 'x': The requested URL returned error: 404").is_transient());
        assert!(!network("error: RPC failed; HTTP 404 curl 22").is_transient());
        assert!(!GitError::Auth { op: "push".into(), stderr: String::new() }.is_transient());
        assert!(!GitError::Rejected { op: "push".into(), stderr: String::new() }.is_transient());
        assert!(!GitError::Failed { op: "fetch".into(), code: Some(128), stderr: String::new() }.is_transient());
    }

    fn quick(max_retries: usize) -> GitRetry {
        GitRetry {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            max_retries,
            max_total_delay: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn retries_until_success_and_gives_up_with_its_own_error() {
        let mut calls = 0;
        let ok = retrying(&quick(3), "fetch o/r", |n| {
            calls += 1;
            async move { if n < 2 { Err(network("HTTP 500")) } else { Ok(n) } }
        })
        .await;
        assert_eq!(ok.ok(), Some(2));
        assert_eq!(calls, 3);

        let mut calls = 0;
        let err = retrying(&quick(2), "fetch o/r", |_| {
            calls += 1;
            async { Err::<(), _>(network("HTTP 502")) }
        })
        .await;
        assert!(matches!(err, Err(GitError::HostKeptFailing { attempts: 3, .. })), "{err:?}");
        assert_eq!(calls, 3);

        let mut calls = 0;
        let err = retrying(&quick(5), "push b", |_| {
            calls += 1;
            async { Err::<(), _>(GitError::Rejected { op: "push b".into(), stderr: "[rejected]".into() }) }
        })
        .await;
        assert!(matches!(err, Err(GitError::Rejected { .. })));
        assert_eq!(calls, 1, "a rejected push is never repeated");
    }
}
