//! Wording about a job's network and model use: hosts the egress proxy
//! refused, the model usage through the LLM gateway, and a stop for budget.

use std::time::Duration;

/// Refused hosts with counts, e.g. "blocked: registry.example.com ×3 — …".
pub fn blocked_hosts(hosts: &[(String, u32)]) -> Option<String> {
    if hosts.is_empty() {
        return None;
    }
    let list: Vec<String> = hosts.iter().map(|(h, n)| format!("`{h}` ×{n}")).collect();
    let them = if hosts.len() == 1 { "it" } else { "them" };
    Some(format!(
        "blocked: {} — allow {them} with `MAXION_EGRESS_ALLOW` (the operator's allow-list) if the job needs {them}.",
        list.join(", ")
    ))
}

/// What the job's model calls used.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct UsageView {
    pub calls: u64,
    pub input: u64,
    pub cached: u64,
    pub output: u64,
    pub cost_usd: f64,
    /// Calls to models without a price (their cost is not counted).
    pub unpriced_calls: u64,
    pub llm_time: Duration,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "model: 3 calls, 12,400 tokens in (2,000 cached) / 800 out, $0.05, 4.2 s".
pub fn usage_line(u: &UsageView) -> Option<String> {
    if u.calls == 0 {
        return None;
    }
    let calls = if u.calls == 1 { "1 call".to_owned() } else { format!("{} calls", u.calls) };
    let cached = if u.cached > 0 { format!(" ({} cached)", thousands(u.cached)) } else { String::new() };
    let cost = if u.unpriced_calls == u.calls {
        "cost unknown (model not in the price table; tokens only)".to_owned()
    } else if u.unpriced_calls > 0 {
        format!("${:.2} (+ {} calls to models without a price)", u.cost_usd, u.unpriced_calls)
    } else {
        format!("${:.2}", u.cost_usd)
    };
    Some(format!(
        "model: {calls}, {} tokens in{cached} / {} out, {cost}, LLM time {:.1} s",
        thousands(u.input + u.cached),
        thousands(u.output),
        u.llm_time.as_secs_f64()
    ))
}

/// The failure reason of a job its model budget stopped.
pub fn budget_stopped_usd(used: f64, budget: f64) -> String {
    format!(
        "stopped: used ${used:.2} of its ${budget:.2} budget (budget_exceeded). \
         Raise `MAXION_JOB_COST_BUDGET` (or the repository's `budget: {{usd: …}}`) and `/maxion retry`."
    )
}

/// The failure reason when the token budget stopped the job.
pub fn budget_stopped_tokens(used: u64, budget: u64) -> String {
    format!(
        "stopped: used {} of its {} tokens (budget_exceeded). \
         Raise `MAXION_JOB_TOKEN_BUDGET` (or the repository's `budget: {{tokens: …}}`) and `/maxion retry`.",
        thousands(used),
        thousands(budget)
    )
}

/// The failure reason when the installation's daily budget stopped the job.
pub fn budget_stopped_daily(used: f64, budget: f64) -> String {
    format!(
        "stopped: this installation used ${used:.2} of its ${budget:.2} daily model budget (budget_exceeded). \
         It resets at 00:00 UTC; `MAXION_DAILY_COST_BUDGET` raises it, then `/maxion retry`."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wording() {
        insta::assert_snapshot!(blocked_hosts(&[("registry.example.com".into(), 3), ("evil.test".into(), 1)]).unwrap(), @"blocked: `registry.example.com` ×3, `evil.test` ×1 — allow them with `MAXION_EGRESS_ALLOW` (the operator's allow-list) if the job needs them.");
        assert_eq!(blocked_hosts(&[]), None);
        let u = UsageView {
            calls: 3,
            input: 10_400,
            cached: 2_000,
            output: 800,
            cost_usd: 0.0512,
            unpriced_calls: 0,
            llm_time: Duration::from_millis(4_210),
        };
        insta::assert_snapshot!(usage_line(&u).unwrap(), @"model: 3 calls, 12,400 tokens in (2,000 cached) / 800 out, $0.05, LLM time 4.2 s");
        let unknown = UsageView { calls: 1, unpriced_calls: 1, input: 5, output: 2, ..UsageView::default() };
        insta::assert_snapshot!(usage_line(&unknown).unwrap(), @"model: 1 call, 5 tokens in / 2 out, cost unknown (model not in the price table; tokens only), LLM time 0.0 s");
        insta::assert_snapshot!(budget_stopped_usd(0.84, 0.80), @"stopped: used $0.84 of its $0.80 budget (budget_exceeded). Raise `MAXION_JOB_COST_BUDGET` (or the repository's `budget: {usd: …}`) and `/maxion retry`.");
        insta::assert_snapshot!(budget_stopped_daily(10.02, 10.0), @"stopped: this installation used $10.02 of its $10.00 daily model budget (budget_exceeded). It resets at 00:00 UTC; `MAXION_DAILY_COST_BUDGET` raises it, then `/maxion retry`.");
        insta::assert_snapshot!(budget_stopped_tokens(12_000, 10_000), @"stopped: used 12,000 of its 10,000 tokens (budget_exceeded). Raise `MAXION_JOB_TOKEN_BUDGET` (or the repository's `budget: {tokens: …}`) and `/maxion retry`.");
    }
}
