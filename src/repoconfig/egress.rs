//! A repository's `egress:` and `budget:` in `.github/maxion.yml`, within the
//! operator's bounds. `egress:` replaces the operator's allow-list for the
//! repository's jobs: it may narrow it, and add hosts only inside
//! `MAXION_EGRESS_ALLOW_MAX`; anything else is dropped and noted. `budget:`
//! may lower the operator's job budgets, never raise them.

use serde::Deserialize;

use super::{Clamp, ClampValue};

/// USD amounts are kept in millionths so the configuration stays `Eq`.
pub const MICROS_PER_USD: f64 = 1_000_000.0;

/// A repository's `budget: {tokens, usd}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RepoBudget {
    pub tokens: Option<u64>,
    pub usd_micros: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBudget {
    tokens: Option<u64>,
    usd: Option<f64>,
}

impl RawBudget {
    pub(super) fn check(self) -> Result<RepoBudget, String> {
        let usd_micros = match self.usd {
            None => None,
            Some(u) if u.is_finite() && u > 0.0 => Some((u * MICROS_PER_USD).round() as u64),
            Some(u) => return Err(format!("`budget.usd` must be a positive amount, got {u}")),
        };
        if self.tokens == Some(0) {
            return Err("`budget.tokens` must be at least 1".into());
        }
        Ok(RepoBudget { tokens: self.tokens, usd_micros })
    }
}

/// The operator's egress and budget bounds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EgressBounds {
    /// `MAXION_EGRESS_ALLOW`.
    pub allow: Vec<String>,
    /// `MAXION_EGRESS_ALLOW_MAX`: what a repository may add.
    pub allow_max: Vec<String>,
    /// `MAXION_JOB_TOKEN_BUDGET`.
    pub tokens: Option<u64>,
    /// `MAXION_JOB_COST_BUDGET`, in millionths of a USD.
    pub usd_micros: Option<u64>,
}

/// What a job's egress and budget are after the clamps.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EgressEffective {
    /// `None`: the operator's allow-list.
    pub allow: Option<Vec<String>>,
    pub tokens: Option<u64>,
    pub usd_micros: Option<u64>,
}

/// Whether `pattern` is covered by one of `bound` (the same name or
/// pattern, or a `*.suffix` above it).
fn within(pattern: &str, bound: &[String]) -> bool {
    let name = pattern.strip_prefix("*.").unwrap_or(pattern);
    bound.iter().any(|b| {
        b == pattern
            || b.strip_prefix("*.")
                .is_some_and(|suffix| name.len() > suffix.len() && name.ends_with(&format!(".{suffix}")))
    })
}

fn lower(asked: Option<u64>, bound: Option<u64>) -> (Option<u64>, bool) {
    match (asked, bound) {
        (Some(a), Some(b)) if a > b => (Some(b), true),
        (Some(a), _) => (Some(a), false),
        (None, b) => (b, false),
    }
}

fn usd(micros: u64) -> String {
    format!("${:.2}", micros as f64 / MICROS_PER_USD)
}

/// Applies the bounds; every request past them becomes a clamp.
pub fn resolve(
    egress: Option<&[String]>,
    budget: Option<RepoBudget>,
    bounds: &EgressBounds,
    clamps: &mut Vec<Clamp>,
) -> EgressEffective {
    let allow = egress.map(|asked| {
        let mut kept = Vec::new();
        for (i, host) in asked.iter().enumerate() {
            if within(host, &bounds.allow) || within(host, &bounds.allow_max) {
                kept.push(host.clone());
            } else {
                clamps.push(Clamp {
                    field: format!("egress[{}]", i + 1),
                    asked: ClampValue::Text(host.clone()),
                    applied: ClampValue::Text("not reachable".into()),
                    limit: "MAXION_EGRESS_ALLOW_MAX".into(),
                });
            }
        }
        kept
    });
    let b = budget.unwrap_or_default();
    let (tokens, clamped) = lower(b.tokens, bounds.tokens);
    if clamped {
        clamps.push(Clamp {
            field: "budget.tokens".into(),
            asked: ClampValue::Number(b.tokens.unwrap_or_default()),
            applied: ClampValue::Number(tokens.unwrap_or_default()),
            limit: "MAXION_JOB_TOKEN_BUDGET".into(),
        });
    }
    let (usd_micros, clamped) = lower(b.usd_micros, bounds.usd_micros);
    if clamped {
        clamps.push(Clamp {
            field: "budget.usd".into(),
            asked: ClampValue::Text(usd(b.usd_micros.unwrap_or_default())),
            applied: ClampValue::Text(usd(usd_micros.unwrap_or_default())),
            limit: "MAXION_JOB_COST_BUDGET".into(),
        });
    }
    EgressEffective { allow, tokens, usd_micros }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn narrows_adds_within_the_max_and_never_raises_a_budget() {
        let bounds = EgressBounds {
            allow: vec!["pypi.org".into(), "files.pythonhosted.org".into()],
            allow_max: vec!["*.example.com".into()],
            tokens: Some(1000),
            usd_micros: Some(500_000),
        };
        let mut clamps = Vec::new();
        let asked: Vec<String> = vec!["pypi.org".into(), "mirror.example.com".into(), "evil.test".into()];
        let budget = RepoBudget { tokens: Some(5000), usd_micros: Some(100_000) };
        let e = resolve(Some(&asked), Some(budget), &bounds, &mut clamps);
        assert_eq!(e.allow, Some(vec!["pypi.org".to_owned(), "mirror.example.com".to_owned()]));
        assert_eq!((e.tokens, e.usd_micros), (Some(1000), Some(100_000)));
        let fields: Vec<&str> = clamps.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, ["egress[3]", "budget.tokens"]);
        let mut none = Vec::new();
        let e = resolve(None, None, &bounds, &mut none);
        assert_eq!((e.allow, e.tokens, none.len()), (None, Some(1000), 0));
        assert!(!within("example.com", &["*.example.com".into()]));
        assert!(within("*.a.example.com", &["*.example.com".into()]));
    }
}
