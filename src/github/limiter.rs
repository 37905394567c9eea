//! GitHub's secondary limits for content-creating requests, enforced on our
//! side: one `governor` limiter set per installation in front of every
//! mutating call. It waits, never fails. Quotas are configurable so tests can
//! use small windows.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use super::ids::InstallationId;

/// How many mutating requests one installation may make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutationQuota {
    /// Minimum spacing between two mutating requests.
    pub min_interval: Duration,
    /// `(n, window)`: at most `n` mutating requests in any `window`.
    pub windows: Vec<(u32, Duration)>,
}

impl Default for MutationQuota {
    /// GitHub's documented secondary limits: 80/min, 500/h, 1 s apart.
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(1),
            windows: vec![(80, Duration::from_secs(60)), (500, Duration::from_secs(3600))],
        }
    }
}

/// GCRA admits `burst + window / period` cells in any window, so a quota of
/// `n` per window becomes a burst of n/2 plus n/2 replenished over the window:
/// never more than `n` in any sliding window, not just in aligned ones.
fn window_quota(n: u32, window: Duration) -> Option<Quota> {
    let n = n.max(1);
    let burst = (n / 2).max(1);
    let refill = (n - burst).max(1);
    let period = window.checked_div(refill)?;
    Some(Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst)?))
}

struct InstallationLimiter {
    limiters: Vec<DefaultDirectRateLimiter>,
    /// Serialises waiters so cells are taken in arrival order.
    gate: tokio::sync::Mutex<()>,
    /// Where ordinary waiters queue (in arrival order) before the gate, so
    /// that requests to go first can pass them.
    lane: tokio::sync::Mutex<()>,
    /// Requests to go first that have not taken their cells yet.
    first: AtomicUsize,
    /// Woken whenever `first` drops.
    calm: tokio::sync::Notify,
}

/// Per-installation limiters, created on first use.
pub struct MutationLimiter {
    quota: MutationQuota,
    by_installation: Mutex<HashMap<InstallationId, Arc<InstallationLimiter>>>,
}

impl std::fmt::Debug for MutationLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MutationLimiter").field("quota", &self.quota).finish_non_exhaustive()
    }
}

impl MutationLimiter {
    pub fn new(quota: MutationQuota) -> Self {
        Self { quota, by_installation: Mutex::new(HashMap::new()) }
    }

    fn for_installation(&self, installation_id: InstallationId) -> Arc<InstallationLimiter> {
        let mut map = self.by_installation.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(map.entry(installation_id).or_insert_with(|| {
            let mut limiters = Vec::new();
            if let Some(q) = Quota::with_period(self.quota.min_interval) {
                limiters.push(RateLimiter::direct(q.allow_burst(NonZeroU32::MIN)));
            }
            for (n, window) in &self.quota.windows {
                if let Some(q) = window_quota(*n, *window) {
                    limiters.push(RateLimiter::direct(q));
                }
            }
            Arc::new(InstallationLimiter {
                limiters,
                gate: tokio::sync::Mutex::new(()),
                lane: tokio::sync::Mutex::new(()),
                first: AtomicUsize::new(0),
                calm: tokio::sync::Notify::new(),
            })
        }))
    }

    /// Waits until one more mutating request is allowed for the installation,
    /// after every request waiting in [`MutationLimiter::acquire_first`].
    pub async fn acquire(&self, installation_id: InstallationId) {
        let lim = self.for_installation(installation_id);
        let _lane = lim.lane.lock().await;
        loop {
            let calm = lim.calm.notified();
            if lim.first.load(Ordering::SeqCst) == 0 {
                break;
            }
            calm.await;
        }
        let _turn = lim.gate.lock().await;
        lim.take_cells().await;
    }

    /// Like [`MutationLimiter::acquire`], but ahead of the ordinary waiters:
    /// what a user waits for (the acknowledgement, the pull request) is not
    /// queued behind coalesced edits of the same installation.
    pub async fn acquire_first(&self, installation_id: InstallationId) {
        let lim = self.for_installation(installation_id);
        lim.first.fetch_add(1, Ordering::SeqCst);
        {
            let _turn = lim.gate.lock().await;
            lim.take_cells().await;
        }
        lim.first.fetch_sub(1, Ordering::SeqCst);
        lim.calm.notify_waiters();
    }
}

impl InstallationLimiter {
    async fn take_cells(&self) {
        // Each limiter takes its cell only once the previous ones have, so a
        // later limiter's wait can only make the earlier ones more conservative.
        for l in &self.limiters {
            l.until_ready().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn window_quota_never_admits_more_than_n_in_a_window() {
        // Simulate GCRA arithmetic: burst + floor(window / period) <= n.
        for n in [1u32, 2, 3, 5, 10, 80, 500] {
            let window = Duration::from_secs(60);
            let burst = (n / 2).max(1);
            let period = window / (n - burst).max(1);
            let admitted = burst + (window.as_nanos() / period.as_nanos()) as u32;
            assert!(admitted <= n.max(2), "n={n}: {admitted}");
            assert!(window_quota(n, window).is_some());
        }
    }

    #[tokio::test]
    async fn acquire_spaces_requests_by_min_interval_and_window() {
        let limiter = MutationLimiter::new(MutationQuota {
            min_interval: Duration::from_millis(20),
            windows: vec![(4, Duration::from_millis(400))],
        });
        let start = Instant::now();
        let mut at = Vec::new();
        for _ in 0..6 {
            limiter.acquire(InstallationId(1)).await;
            at.push(start.elapsed());
        }
        for pair in at.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(19), "{at:?}");
        }
        for (i, t) in at.iter().enumerate() {
            let in_window = at[i..].iter().filter(|u| **u - *t < Duration::from_millis(400)).count();
            assert!(in_window <= 4, "more than 4 in 400 ms starting at {t:?}: {at:?}");
        }
        // Another installation is not slowed by the first one's quota.
        let t = Instant::now();
        limiter.acquire(InstallationId(2)).await;
        assert!(t.elapsed() < Duration::from_millis(50));
    }

    #[tokio::test]
    async fn a_request_to_go_first_passes_the_queued_ones() {
        let limiter = Arc::new(MutationLimiter::new(MutationQuota {
            min_interval: Duration::from_millis(50),
            windows: Vec::new(),
        }));
        limiter.acquire(InstallationId(1)).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut queued = Vec::new();
        for i in 0..3 {
            let (limiter, order) = (Arc::clone(&limiter), Arc::clone(&order));
            queued.push(tokio::spawn(async move {
                limiter.acquire(InstallationId(1)).await;
                order.lock().unwrap().push(format!("edit {i}"));
            }));
            // Queued in this order before the urgent one arrives.
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        limiter.acquire_first(InstallationId(1)).await;
        order.lock().unwrap().push("pull request".to_owned());
        for q in queued {
            q.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let pr = order.iter().position(|o| o == "pull request").unwrap();
        assert!(pr <= 1, "at most the edit already at the gate went first: {order:?}");
        assert_eq!(order.len(), 4);
    }
}
