//! Coalescing of progress updates: a job may produce hundreds of progress
//! changes a minute, GitHub should see at most one edit per interval. Only the
//! latest pending update is kept; the final one is always delivered.
//! Knows nothing about GitHub: the sink is any async function.

use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

struct Shared<T> {
    pending: Mutex<Option<T>>,
    closed: std::sync::atomic::AtomicBool,
    wake: Notify,
}

/// Delivers the latest of a stream of updates to a sink, at most once per
/// `interval`. Dropping it without [`Coalescer::finish`] abandons pending work.
pub struct Coalescer<T> {
    shared: Arc<Shared<T>>,
    /// `None` once `finish` has taken it.
    task: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Coalescer<T> {
    /// Starts the delivery task. The sink handles (and logs) its own errors:
    /// a failed update is superseded by the next one anyway.
    pub fn spawn<F, Fut>(interval: Duration, sink: F) -> Self
    where
        F: FnMut(T) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        Self::spawn_quiet(interval, Duration::ZERO, sink)
    }

    /// Like [`Coalescer::spawn`], but no update but the final one goes out
    /// during the first `quiet` after the start: a short run gets no
    /// intermediate updates at all, only its final state.
    pub fn spawn_quiet<F, Fut>(interval: Duration, quiet: Duration, mut sink: F) -> Self
    where
        F: FnMut(T) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let quiet_until = Instant::now() + quiet;
        let shared = Arc::new(Shared {
            pending: Mutex::new(None),
            closed: std::sync::atomic::AtomicBool::new(false),
            wake: Notify::new(),
        });
        let s = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let mut last_sent: Option<Instant> = None;
            loop {
                while !s.has_pending() && !s.is_closed() {
                    s.wake.notified().await;
                }
                // Waiting out the interval is where coalescing happens: updates
                // arriving meanwhile replace the pending one.
                if let Some(last) = last_sent {
                    tokio::time::sleep_until(last + interval).await;
                }
                // The final update ends the quiet period early.
                if !s.is_closed() {
                    tokio::select! {
                        _ = tokio::time::sleep_until(quiet_until) => {}
                        _ = async { while !s.is_closed() { s.wake.notified().await; } } => {}
                    }
                }
                let next = s.pending.lock().unwrap_or_else(|e| e.into_inner()).take();
                match next {
                    Some(v) => {
                        sink(v).await;
                        last_sent = Some(Instant::now());
                    }
                    None if s.is_closed() => break,
                    None => {}
                }
                if s.is_closed() && !s.has_pending() {
                    break;
                }
            }
        });
        Self { shared, task: Some(task) }
    }

    /// Replaces any pending update with `value`; never waits.
    pub fn update(&self, value: T) {
        *self.shared.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(value);
        self.shared.wake.notify_one();
    }

    /// Queues `value` as the final update and waits until it is delivered.
    pub async fn finish(mut self, value: T) {
        self.update(value);
        self.shared.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.wake.notify_one();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl<T> Drop for Coalescer<T> {
    /// Without `finish`, the delivery task would wait for updates forever.
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl<T> Shared<T> {
    fn has_pending(&self) -> bool {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }
    fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Log = Arc<Mutex<Vec<(Instant, u32)>>>;

    fn recording(interval: Duration) -> (Coalescer<u32>, Log) {
        let log: Log = Arc::default();
        let l = Arc::clone(&log);
        let c = Coalescer::spawn(interval, move |v| {
            let l = Arc::clone(&l);
            async move {
                // A slow sink, like a GitHub round trip.
                tokio::time::sleep(Duration::from_millis(300)).await;
                l.lock().unwrap().push((Instant::now(), v));
            }
        });
        (c, log)
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_200_updates_is_coalesced_and_the_final_state_delivered() {
        let interval = Duration::from_secs(3);
        let (c, log) = recording(interval);
        for i in 0..200 {
            c.update(i);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c.finish(999).await;
        let log = log.lock().unwrap().clone();
        assert_eq!(log.last().unwrap().1, 999, "final state delivered last: {log:?}");
        assert_eq!(log[0].1, 0, "the first update goes out at once");
        // 200 updates over 10 s at one per 3 s (+ sink time) is at most 5 sends.
        assert!(log.len() <= 5, "{} sends: {log:?}", log.len());
        for pair in log.windows(2) {
            assert!(pair[1].0 - pair[0].0 >= interval, "sends closer than the interval: {log:?}");
        }
        let values: Vec<u32> = log.iter().map(|(_, v)| *v).collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]), "updates delivered in order: {values:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn finish_without_prior_updates_delivers_exactly_the_final_state() {
        let (c, log) = recording(Duration::from_secs(3));
        c.finish(7).await;
        let values: Vec<u32> = log.lock().unwrap().iter().map(|(_, v)| *v).collect();
        assert_eq!(values, vec![7]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_period_lets_the_next_update_through_immediately() {
        let (c, log) = recording(Duration::from_secs(3));
        c.update(1);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let t = Instant::now();
        c.update(2);
        tokio::time::sleep(Duration::from_secs(1)).await;
        {
            let log = log.lock().unwrap();
            assert_eq!(log.len(), 2);
            assert!(log[1].0 - t <= Duration::from_millis(301));
        }
        c.finish(3).await;
        assert_eq!(log.lock().unwrap().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_start_sends_nothing_but_the_final_state_of_a_short_run() {
        let log: Log = Arc::default();
        let l = Arc::clone(&log);
        let c = Coalescer::spawn_quiet(Duration::from_secs(2), Duration::from_secs(10), move |v| {
            let l = Arc::clone(&l);
            async move { l.lock().unwrap().push((Instant::now(), v)) }
        });
        let t0 = Instant::now();
        for i in 0..5 {
            c.update(i);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        c.finish(99).await;
        let log = log.lock().unwrap().clone();
        assert_eq!(log.iter().map(|(_, v)| *v).collect::<Vec<_>>(), vec![99], "{log:?}");
        assert!(log[0].0 - t0 < Duration::from_secs(6), "the final state does not wait for the quiet period");

        // A longer run gets its updates once the quiet period is over.
        let log: Log = Arc::default();
        let l = Arc::clone(&log);
        let c = Coalescer::spawn_quiet(Duration::from_secs(2), Duration::from_secs(10), move |v| {
            let l = Arc::clone(&l);
            async move { l.lock().unwrap().push((Instant::now(), v)) }
        });
        let t0 = Instant::now();
        c.update(1);
        tokio::time::sleep(Duration::from_secs(12)).await;
        c.finish(2).await;
        let log = log.lock().unwrap().clone();
        assert_eq!(log.iter().map(|(_, v)| *v).collect::<Vec<_>>(), vec![1, 2], "{log:?}");
        assert!(log[0].0 - t0 >= Duration::from_secs(10), "{log:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_without_finish_stops_the_task() {
        let (c, log) = recording(Duration::from_secs(3));
        c.update(1);
        tokio::time::sleep(Duration::from_secs(1)).await;
        c.update(2);
        drop(c);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let values: Vec<u32> = log.lock().unwrap().iter().map(|(_, v)| *v).collect();
        assert_eq!(values, vec![1], "the pending update is abandoned, not delivered late");
    }
}
