//! USD prices per million tokens, per model: shipped defaults, or the
//! operator's TOML file (`MAXION_LLM_PRICES`). A model is found by its exact
//! id or by the longest listed id it starts with (`claude-sonnet-4-5-20250929`
//! is priced as `claude-sonnet-4-5`). An unknown model costs nothing known:
//! its calls count tokens only, and the job says so.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::usage::Usage;

/// The shipped table. Prices as published on the providers' pricing pages
/// (anthropic.com/pricing, openai.com/api/pricing), taken 2025-10-15.
pub const DEFAULT_PRICES: &str = r#"
# USD per million tokens; taken 2025-10-15 from the providers' pricing pages.
[models."claude-opus-4-1"]
input = 15.0
cached_input = 1.5
output = 75.0
[models."claude-sonnet-4-5"]
input = 3.0
cached_input = 0.3
output = 15.0
[models."claude-sonnet-4"]
input = 3.0
cached_input = 0.3
output = 15.0
[models."claude-haiku-4-5"]
input = 1.0
cached_input = 0.1
output = 5.0
[models."gpt-5"]
input = 1.25
cached_input = 0.125
output = 10.0
[models."gpt-5-mini"]
input = 0.25
cached_input = 0.025
output = 2.0
[models."gpt-5-codex"]
input = 1.25
cached_input = 0.125
output = 10.0
[models."gpt-4.1"]
input = 2.0
cached_input = 0.5
output = 8.0
"#;

/// One model's prices, USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input: f64,
    /// Cache reads; absent: charged as input.
    pub cached_input: Option<f64>,
    /// Reasoning tokens are output tokens and priced as such.
    pub output: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    models: BTreeMap<String, Price>,
}

/// The price table.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices {
    models: BTreeMap<String, Price>,
}

impl Prices {
    /// Parses a TOML price table (`[models.<id>] input = …, output = …`).
    pub fn parse(text: &str) -> Result<Prices, String> {
        let f: File = toml::from_str(text).map_err(|e| e.to_string())?;
        for (id, p) in &f.models {
            if [p.input, p.output, p.cached_input.unwrap_or(0.0)].iter().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(format!("model {id}: prices must be non-negative numbers"));
            }
        }
        Ok(Prices { models: f.models })
    }

    pub fn shipped() -> Prices {
        match Prices::parse(DEFAULT_PRICES) {
            Ok(p) => p,
            // A constant, checked by a unit test.
            Err(e) => unreachable!("the shipped price table is invalid: {e}"),
        }
    }

    pub fn price(&self, model: &str) -> Option<Price> {
        if let Some(p) = self.models.get(model) {
            return Some(*p);
        }
        self.models
            .iter()
            .filter(|(id, _)| model.starts_with(id.as_str()) && model[id.len()..].starts_with(['-', '@']))
            .max_by_key(|(id, _)| id.len())
            .map(|(_, p)| *p)
    }

    /// The cost of a call in USD; `None` for an unknown model.
    pub fn cost(&self, model: &str, u: &Usage) -> Option<f64> {
        let p = self.price(model)?;
        let m = 1_000_000.0;
        Some(
            (u.input as f64 * p.input
                + u.cached as f64 * p.cached_input.unwrap_or(p.input)
                + u.output as f64 * p.output)
                / m,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_prices_dated_ids_and_knows_what_it_does_not_know() {
        let p = Prices::shipped();
        let u = Usage { input: 1_000_000, cached: 1_000_000, output: 1_000_000, reasoning: 0 };
        assert_eq!(p.cost("claude-sonnet-4-5", &u), Some(18.3));
        assert_eq!(p.cost("claude-sonnet-4-5-20250929", &u), Some(18.3));
        // `gpt-5-mini` is its own entry, not `gpt-5`.
        assert_eq!(p.price("gpt-5-mini-2025-08-07").map(|p| p.input), Some(0.25));
        assert_eq!(p.cost("llama-3-70b", &u), None);
        assert!(Prices::parse("[models.x]\ninput = -1.0\noutput = 1.0").is_err());
        assert!(Prices::parse("[models.x]\ninput = 1.0\noutput = 1.0\nwat = 2").is_err());
    }
}
