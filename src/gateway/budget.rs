//! A job's budget: reserve a worst case before a request is forwarded,
//! reconcile with the real usage after. Over budget the request is refused
//! (403 `budget_exceeded`, never 429: SDKs retry 429 against a limit that
//! will not recover) and the job is marked to end `budget_exceeded`.

use std::time::Duration;

use super::usage::Usage;

/// Output tokens assumed when a request sets no maximum.
pub const DEFAULT_WORST_OUTPUT: u64 = 8192;

/// A job's limits; `None`: unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Budget {
    pub tokens: Option<u64>,
    pub usd: Option<f64>,
}

/// Which limit a job ran into, with what it had used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exceeded {
    Tokens {
        used: u64,
        budget: u64,
    },
    Usd {
        used: f64,
        budget: f64,
    },
    /// The installation's spend today (this job's included).
    Daily {
        used: f64,
        budget: f64,
    },
}

/// A job's model usage so far, and what is reserved by calls in flight.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Totals {
    pub calls: u64,
    pub input: u64,
    pub cached: u64,
    pub output: u64,
    pub reasoning: u64,
    pub cost_usd: f64,
    /// Calls to models missing from the price table (tokens only).
    pub unpriced_calls: u64,
    pub llm_time: Duration,
    pub reserved_tokens: u64,
    pub reserved_usd: f64,
    /// Set when a request was refused for the budget: the job ends so.
    pub exceeded: Option<Exceeded>,
}

/// What one request reserved.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reservation {
    pub tokens: u64,
    pub usd: f64,
}

impl Totals {
    pub fn tokens(&self) -> u64 {
        self.input + self.cached + self.output
    }

    /// Reserves `r` within `budget`, or records and returns why not.
    pub fn reserve(&mut self, budget: &Budget, r: Reservation) -> Result<Reservation, Exceeded> {
        if let Some(limit) = budget.tokens
            && self.tokens() + self.reserved_tokens + r.tokens > limit
        {
            let e = Exceeded::Tokens { used: self.tokens(), budget: limit };
            self.exceeded = Some(e);
            return Err(e);
        }
        if let Some(limit) = budget.usd
            && self.cost_usd + self.reserved_usd + r.usd > limit
        {
            let e = Exceeded::Usd { used: self.cost_usd, budget: limit };
            self.exceeded = Some(e);
            return Err(e);
        }
        self.reserved_tokens += r.tokens;
        self.reserved_usd += r.usd;
        Ok(r)
    }

    /// Gives back a reservation that was never used (another limit refused the call).
    pub fn release(&mut self, r: Reservation) {
        self.reserved_tokens = self.reserved_tokens.saturating_sub(r.tokens);
        self.reserved_usd = (self.reserved_usd - r.usd).max(0.0);
    }

    /// Releases a reservation and adds what the call really used.
    pub fn settle(&mut self, r: Reservation, u: &Usage, cost: Option<f64>, took: Duration) {
        self.release(r);
        self.calls += 1;
        self.input += u.input;
        self.cached += u.cached;
        self.output += u.output;
        self.reasoning += u.reasoning;
        match cost {
            Some(c) => self.cost_usd += c,
            None => self.unpriced_calls += 1,
        }
        self.llm_time += took;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_within_the_budget_and_settles_real_usage() {
        let budget = Budget { tokens: Some(1000), usd: Some(0.5) };
        let mut t = Totals::default();
        let r = t.reserve(&budget, Reservation { tokens: 600, usd: 0.1 }).unwrap();
        // A second worst case would pass the limit while the first is in flight.
        assert!(t.reserve(&budget, Reservation { tokens: 600, usd: 0.1 }).is_err());
        t.exceeded = None;
        t.settle(r, &Usage { input: 100, cached: 0, output: 50, reasoning: 0 }, Some(0.01), Duration::from_millis(5));
        assert_eq!((t.tokens(), t.reserved_tokens, t.calls), (150, 0, 1));
        assert!(t.reserve(&budget, Reservation { tokens: 600, usd: 0.1 }).is_ok());
        let e = t.reserve(&budget, Reservation { tokens: 10, usd: 0.45 }).unwrap_err();
        assert!(matches!(e, Exceeded::Usd { .. }));
        assert_eq!(t.exceeded, Some(e));
    }
}
