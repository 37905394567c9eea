//! Wording about a repository's `.github/maxion.yml`: an invalid file, a
//! clamped request, a protected path the agent changed, and the effective
//! configuration (for `/maxion help`). Snapshot-tested in `repoconfig::tests`.

use std::fmt::Write as _;

use super::duration;
use crate::repoconfig::{CONFIG_PATH, Clamp, ClampValue, ConfigError, Effective, FailurePolicy};

/// Inline code that its content cannot end early.
pub(super) fn code(s: &str) -> String {
    let one_line = s.replace(['\n', '\r'], " ");
    let mut ticks = String::from("`");
    while one_line.contains(ticks.as_str()) {
        ticks.push('`');
    }
    let pad = if one_line.starts_with('`') || one_line.ends_with('`') { " " } else { "" };
    format!("{ticks}{pad}{one_line}{pad}{ticks}")
}

/// The failure reason for an invalid file: the error with its location.
pub fn config_invalid(e: &ConfigError) -> String {
    let at = match (e.line, e.column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    };
    format!(
        "`{CONFIG_PATH}` on the default branch is invalid{at}: {}. Fix the file there; nothing else ran.",
        e.message.trim_end_matches('.')
    )
}

/// A request past the instance's bounds, shown under the status headline.
pub fn clamp_note(c: &Clamp) -> String {
    format!(
        "`{CONFIG_PATH}` asks for {}, which is past this Maxion's limit ({}); the job uses {}.",
        code(&format!("{}: {}", c.field, clamp_value(&c.asked))),
        c.limit,
        code(&clamp_value(&c.applied))
    )
}

fn clamp_value(v: &ClampValue) -> String {
    match v {
        ClampValue::Duration(d) => duration(*d),
        ClampValue::Number(n) => n.to_string(),
        ClampValue::Text(t) => t.clone(),
    }
}

/// The failure reason when the agent changed protected paths.
pub fn protected_paths_changed(paths: &[&str]) -> String {
    const SHOWN: usize = 10;
    let mut list: Vec<String> = paths.iter().take(SHOWN).map(|p| code(p)).collect();
    if paths.len() > SHOWN {
        list.push(format!("and {} more", paths.len() - SHOWN));
    }
    format!(
        "the agent changed protected paths ({}), so nothing was pushed. \
         Protected paths are set by `protected_paths` in `{CONFIG_PATH}` (default: `.github/workflows/**`).",
        list.join(", ")
    )
}

/// The failure reason when verification fails and the policy is `no_pr`.
pub fn no_pr_on_failure(fix_rounds: u32) -> String {
    let rounds = if fix_rounds == 1 { "1 fix round".to_owned() } else { format!("{fix_rounds} fix rounds") };
    format!(
        "verification still fails after {rounds}; no pull request was opened \
         (`on_verify_failure: no_pr` in `{CONFIG_PATH}`)"
    )
}

fn commands(list: &Option<Vec<crate::repoconfig::ConfiguredCommand>>, e: &Effective, verify: bool) -> String {
    match list {
        None => "detected from the repository".into(),
        Some(l) if l.is_empty() => "none".into(),
        Some(l) => l
            .iter()
            .map(|c| {
                let kind = if verify { format!("{}, ", c.kind.as_str()) } else { String::new() };
                format!("{} ({kind}timeout {})", code(&c.run), duration(e.timeout_of(c)))
            })
            .collect::<Vec<_>>()
            .join("<br>"),
    }
}

/// The agent profile and its model, e.g. "`codex` with model `gpt-5-codex`".
fn agent(e: &Effective) -> String {
    let profile = code(e.agent.kind.name());
    match &e.agent.model {
        Some(m) => format!("{profile} with model {}", code(m)),
        None => format!("{profile} with its default model"),
    }
}

/// The effective configuration as a short Markdown table.
pub fn effective_config(e: &Effective) -> String {
    let mut out = String::new();
    if e.from_file {
        let _ =
            writeln!(out, "**Configuration** (`{CONFIG_PATH}` on the default branch, within this Maxion's limits)\n");
    } else {
        let _ = writeln!(out, "**Configuration** (no `{CONFIG_PATH}`: this Maxion's defaults)\n");
    }
    out.push_str("| Setting | Value |\n|---|---|\n");
    let failure = match e.on_verify_failure {
        FailurePolicy::Draft => "open a draft pull request",
        FailurePolicy::Ready => "open a pull request stating the failures",
        FailurePolicy::NoPr => "open no pull request; the job fails",
    };
    let protected: Vec<String> = e.protected.patterns().iter().map(|p| code(p)).collect();
    let rows = [
        ("Setup commands", commands(&e.setup, e, false)),
        ("Verification commands", commands(&e.verify, e, true)),
        ("Agent", agent(e)),
        ("Sandbox network", code(e.network.as_str())),
        ("Fix rounds", e.fix_rounds.to_string()),
        ("Job timeout", duration(e.job_timeout)),
        ("Step timeout", duration(e.step_timeout)),
        ("When verification still fails", failure.to_owned()),
        ("Branches", code(&format!("{}/issue-<number>-<title>", e.branch_prefix))),
        ("Protected paths", if protected.is_empty() { "none".into() } else { protected.join(", ") }),
        (
            "Extra instructions",
            e.instructions.as_ref().map_or("none".into(), |i| format!("{} characters", i.chars().count())),
        ),
    ];
    for (name, value) in rows {
        let _ = writeln!(out, "| {name} | {} |", value.replace('|', "\\|"));
    }
    if !e.clamps.is_empty() {
        out.push('\n');
        for c in &e.clamps {
            let _ = writeln!(out, "- ⚠️ {}", clamp_note(c));
        }
    }
    out
}
