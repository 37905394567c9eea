//! Random failures for soak runs: with chaos on, each API or authenticated
//! git request that no armed rule caught fails with probability `per_mille`
//! / 1000, as GitHub fails now and then: a 5xx (not applied), a lost answer
//! (applied, then a 502) or a secondary rate limit (not applied, retry after
//! one second). The draw is a seeded xorshift, so a run can be repeated.

use std::collections::BTreeMap;

use super::FakeGitHub;
use super::failure::Failure;

/// The state of the draw and what it injected, by kind.
pub struct Chaos {
    per_mille: u64,
    rng: u64,
    injected: BTreeMap<&'static str, u64>,
}

impl Chaos {
    pub fn new(per_mille: u32, seed: u64) -> Chaos {
        // xorshift never leaves 0.
        Chaos { per_mille: u64::from(per_mille), rng: seed | 1, injected: BTreeMap::new() }
    }

    fn next(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Whether this request fails, and how.
    pub fn roll(&mut self) -> Option<Failure> {
        if self.next() % 1000 >= self.per_mille {
            return None;
        }
        let (kind, failure) = match self.next() % 6 {
            0 => ("500", Failure::Status(500)),
            1 => ("502", Failure::Status(502)),
            2 | 3 => ("lost answer", Failure::FailAfterApply),
            _ => ("secondary rate limit", Failure::SecondaryRateLimit { retry_after_secs: 1 }),
        };
        *self.injected.entry(kind).or_default() += 1;
        Some(failure)
    }
}

impl FakeGitHub {
    /// Fails about `per_mille` in 1000 of the requests from now on (see the module).
    pub fn chaos(&self, per_mille: u32, seed: u64) {
        self.lock().chaos = Some(Chaos::new(per_mille, seed));
    }

    /// Ends the chaos (the checks after a soak read the fake undisturbed).
    pub fn calm(&self) {
        if let Some(chaos) = self.lock().chaos.as_mut() {
            chaos.per_mille = 0;
        }
    }

    /// What the chaos injected so far, by kind.
    pub fn chaos_injected(&self) -> BTreeMap<&'static str, u64> {
        self.lock().chaos.as_ref().map(|c| c.injected.clone()).unwrap_or_default()
    }
}
