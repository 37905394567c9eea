//! Exponential backoff with jitter that differs from one retry loop to the
//! next, and from one process to the next.
//!
//! `backon` is built without its `std` feature here, and without it
//! `with_jitter` seeds every backoff with the same constant: two `maxion
//! serve` instances on one database that hit the same failing GitHub or git
//! host would then wait exactly as long as each other and retry in lockstep,
//! and so would every retry loop inside one process. Each backoff built here
//! gets its own seed from the operating system's random source.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use backon::ExponentialBuilder;

/// Exponential backoff from `min_delay` (doubling) up to `max_delay`, at most
/// `max_times` delays, with jitter seeded for this one backoff.
pub fn jittered(min_delay: Duration, max_delay: Duration, max_times: usize) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(min_delay)
        .with_max_delay(max_delay)
        .with_max_times(max_times)
        .with_jitter()
        .with_jitter_seed(seed())
}

/// A fresh seed: the system's random source, or, if that ever fails, the
/// clock, the process id and a counter mixed together (still distinct per
/// process and per call, which is all jitter needs).
fn seed() -> u64 {
    let mut bytes = [0u8; 8];
    if getrandom::getrandom(&mut bytes).is_ok() {
        return u64::from_le_bytes(bytes);
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    splitmix(nanos ^ (u64::from(std::process::id()) << 32) ^ splitmix(COUNTER.fetch_add(1, Ordering::Relaxed)))
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use backon::BackoffBuilder;

    use super::{jittered, seed};

    fn delays() -> Vec<Duration> {
        jittered(Duration::from_secs(1), Duration::from_secs(60), 5).build().collect()
    }

    #[test]
    fn every_backoff_gets_its_own_jitter() {
        assert_ne!(seed(), seed());
        let (a, b) = (delays(), delays());
        assert_eq!(a.len(), 5);
        // Five jittered delays with sub-nanosecond resolution: equal only if seeded alike.
        assert_ne!(a, b, "two backoffs waited exactly alike: the jitter is not seeded per backoff");
    }

    #[test]
    fn jitter_stays_within_backon_bounds() {
        for (i, d) in delays().into_iter().enumerate() {
            let base = Duration::from_secs(1 << i).min(Duration::from_secs(60));
            assert!(d >= base && d <= base * 2, "delay {i}: {d:?} outside {base:?}..={:?}", base * 2);
        }
    }
}
