//! Retries of Docker Engine calls that can fail for a moment (a busy or
//! restarting daemon, a dropped socket): 5xx and 429 answers and transport
//! errors. Anything the engine refused for a reason (404: no such image or
//! container; 400: a bad spec; 409: a conflict) fails at once. Creates are
//! made repeatable by their caller: the names are unique, so a 409 on a
//! retry means the first attempt landed.

use std::future::Future;
use std::time::Duration;

use backon::BackoffBuilder;
use bollard::errors::Error;

/// Retries after the first attempt, and the first delay (doubling).
const MAX_RETRIES: usize = 3;
const MIN_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Whether the same call may succeed a moment later.
pub(crate) fn is_transient(e: &Error) -> bool {
    match e {
        Error::DockerResponseServerError { status_code, .. } => *status_code >= 500 || *status_code == 429,
        Error::RequestTimeoutError
        | Error::IOError { .. }
        | Error::HyperResponseError { .. }
        | Error::HyperLegacyError { .. } => true,
        _ => false,
    }
}

/// Runs `call` (given the attempt's number, 0 first) until it succeeds or
/// fails for a reason, at most [`MAX_RETRIES`] times more.
pub(crate) async fn retrying<T, F, Fut>(op: &'static str, mut call: F) -> Result<T, Error>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut delays = crate::backoff::jittered(MIN_DELAY, MAX_DELAY, MAX_RETRIES).build();
    let mut n = 0;
    loop {
        match call(n).await {
            Ok(v) => return Ok(v),
            Err(e) if is_transient(&e) => match delays.next() {
                Some(delay) => {
                    tracing::warn!(op, error = %e, ?delay, attempt = n + 1, "Docker call failed; retrying");
                    tokio::time::sleep(delay).await;
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        }
        n += 1;
    }
}

/// A 409 Conflict: on a retried create of a uniquely named object, the
/// earlier attempt created it.
pub(crate) fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::DockerResponseServerError { status_code: 409, .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> Error {
        Error::DockerResponseServerError { status_code: code, message: "x".into() }
    }

    #[test]
    fn missing_images_and_bad_specs_are_not_transient() {
        assert!(is_transient(&status(500)));
        assert!(is_transient(&status(503)));
        assert!(is_transient(&status(429)));
        assert!(is_transient(&Error::RequestTimeoutError));
        let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(is_transient(&Error::IOError { err: reset }));
        for code in [400, 404, 409] {
            assert!(!is_transient(&status(code)), "{code}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_transient_failures_only_and_stops() {
        let mut calls = 0;
        let r = retrying("start container", |n| {
            calls += 1;
            async move { if n < 2 { Err(status(500)) } else { Ok(n) } }
        })
        .await;
        assert_eq!(r.ok(), Some(2));
        assert_eq!(calls, 3);

        let mut calls = 0;
        let r = retrying("create container", |_| {
            calls += 1;
            async { Err::<(), _>(status(404)) }
        })
        .await;
        assert!(matches!(r, Err(Error::DockerResponseServerError { status_code: 404, .. })));
        assert_eq!(calls, 1);

        let mut calls = 0;
        let r = retrying("exec start", |_| {
            calls += 1;
            async { Err::<(), _>(status(502)) }
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls, MAX_RETRIES + 1);
    }
}
