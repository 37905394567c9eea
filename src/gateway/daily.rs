//! `MAXION_DAILY_COST_BUDGET`: one installation's model spend per UTC day,
//! shared by all of its jobs on this instance. Every request reserves its
//! worst case here as well as in its job's totals, so jobs running at once
//! cannot each spend what remains of the day; the real cost replaces the
//! reservation when the call settles.
//!
//! What this instance did not settle itself (calls before it started, or by
//! other instances on the same database) comes from the store at each job's
//! start ([`DailyLedger::refresh`]).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::budget::Exceeded;

const DAY_MS: i64 = 86_400_000;

/// The UTC day `at_ms` falls in, and when that day began (ms since the epoch).
pub fn utc_day(at_ms: i64) -> (i64, i64) {
    (at_ms.div_euclid(DAY_MS), at_ms - at_ms.rem_euclid(DAY_MS))
}

fn today() -> i64 {
    utc_day(chrono::Utc::now().timestamp_millis()).0
}

#[derive(Debug, Default, Clone, Copy)]
struct Day {
    day: i64,
    /// Spend today that this instance did not settle (as of the last refresh).
    others: f64,
    /// Settled by this instance today.
    settled: f64,
    /// Worst cases of calls in flight.
    reserved: f64,
}

impl Day {
    /// A new UTC day starts from nothing; calls in flight keep their reservations.
    fn roll(&mut self, day: i64) {
        if self.day != day {
            *self = Day { day, reserved: self.reserved, ..Day::default() };
        }
    }

    fn spent(&self) -> f64 {
        self.others + self.settled
    }
}

/// Every installation's day on this instance.
#[derive(Debug, Default)]
pub struct DailyLedger {
    days: Mutex<HashMap<i64, Day>>,
}

impl DailyLedger {
    fn with<T>(&self, installation: i64, f: impl FnOnce(&mut Day) -> T) -> T {
        let mut days = self.days.lock().unwrap_or_else(|p| p.into_inner());
        let day = days.entry(installation).or_default();
        day.roll(today());
        f(day)
    }

    /// `stored`: the installation's spend since 00:00 UTC as the store has it.
    /// The store lags behind what this instance settled (writes are queued),
    /// so only what it holds beyond that raises the others' share.
    pub fn refresh(&self, installation: i64, stored: f64) {
        self.with(installation, |d| d.others = d.others.max(stored - d.settled));
    }

    /// Reserves `usd` within `budget`, or says what the day has used.
    pub fn reserve(&self, installation: i64, budget: f64, usd: f64) -> Result<(), Exceeded> {
        self.with(installation, |d| {
            if d.spent() + d.reserved + usd > budget {
                return Err(Exceeded::Daily { used: d.spent(), budget });
            }
            d.reserved += usd;
            Ok(())
        })
    }

    /// Releases a reservation and adds the call's real cost.
    pub fn settle(&self, installation: i64, reserved: f64, cost: f64) {
        self.with(installation, |d| {
            d.reserved = (d.reserved - reserved).max(0.0);
            d.settled += cost;
        });
    }
}

/// One job's view of its installation's day.
#[derive(Debug, Clone)]
pub struct DailyShare {
    pub ledger: Arc<DailyLedger>,
    pub installation: i64,
    pub budget: f64,
}

impl DailyShare {
    pub fn reserve(&self, usd: f64) -> Result<(), Exceeded> {
        self.ledger.reserve(self.installation, self.budget, usd)
    }

    pub fn settle(&self, reserved: f64, cost: f64) {
        self.ledger.settle(self.installation, reserved, cost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_at_once_share_the_day_and_settle_to_the_real_cost() {
        let ledger = Arc::new(DailyLedger::default());
        let a = DailyShare { ledger: Arc::clone(&ledger), installation: 7, budget: 1.0 };
        let b = DailyShare { installation: 7, ..a.clone() };
        let other = DailyShare { installation: 8, ..a.clone() };
        ledger.refresh(7, 0.5);
        a.reserve(0.3).unwrap();
        // The second job's worst case does not fit beside the first's.
        assert_eq!(b.reserve(0.3), Err(Exceeded::Daily { used: 0.5, budget: 1.0 }));
        other.reserve(0.9).unwrap();
        a.settle(0.3, 0.05);
        b.reserve(0.3).unwrap();
        // The store catching up with the settled call changes nothing.
        ledger.refresh(7, 0.55);
        assert_eq!(b.reserve(0.2), Err(Exceeded::Daily { used: 0.55, budget: 1.0 }));
        // Another instance's spend shows at the next refresh.
        ledger.refresh(7, 0.65);
        assert_eq!(b.reserve(0.1), Err(Exceeded::Daily { used: 0.65, budget: 1.0 }));
    }

    #[test]
    fn utc_days() {
        assert_eq!(utc_day(DAY_MS * 3 + 5), (3, DAY_MS * 3));
        assert_eq!(utc_day(-1), (-1, -DAY_MS));
    }
}
