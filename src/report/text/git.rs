//! Wording about host-side git failures the user sees as a job's failure
//! reason. Snapshot-tested below.

/// A transient git failure (5xx, 429, reset, timeout) that outlasted the
/// retries: the git host, not the job, is at fault.
pub fn git_host_kept_failing(op: &str, attempts: usize, last: &str) -> String {
    let last = last.trim();
    let last = if last.is_empty() { String::new() } else { format!(" Last error: {last}") };
    format!(
        "The git host kept failing: `git {op}` did not succeed in {attempts} attempts. This is usually \
         temporary: start the job again later.{last}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_kept_failing() {
        insta::assert_snapshot!(
            git_host_kept_failing("fetch acme/widgets", 5, "error: RPC failed; HTTP 500 curl 22"),
            @"The git host kept failing: `git fetch acme/widgets` did not succeed in 5 attempts. This is usually temporary: start the job again later. Last error: error: RPC failed; HTTP 500 curl 22"
        );
    }
}
