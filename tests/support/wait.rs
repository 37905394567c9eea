//! Waiting for something the service does on its own time (a job's state, a
//! processed request, a comment): poll until it holds, fail with the last
//! word on why not once the limit has passed.

use std::time::Duration;

/// How often a condition is looked at again.
const POLL: Duration = Duration::from_millis(25);

/// Polls `probe` until it gives `Ok`; panics with its last `Err` after `limit`.
pub async fn until<T>(limit: Duration, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let why_not = match probe().await {
            Ok(v) => return v,
            Err(why_not) => why_not,
        };
        assert!(tokio::time::Instant::now() < deadline, "after {limit:?}: {why_not}");
        tokio::time::sleep(POLL).await;
    }
}

/// [`until_true`] with the 30 s limit most tests use.
pub async fn eventually(what: &str, cond: impl FnMut() -> bool) {
    until_true(what, Duration::from_secs(30), cond).await
}

/// Polls a plain condition until it holds; panics naming `what` after `limit`.
pub async fn until_true(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    until(limit, async || if cond() { Ok(()) } else { Err(format!("still waiting for {what}")) }).await
}
