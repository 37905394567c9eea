//! Brief assembly benchmark: the pure half of building a brief (sanitize,
//! prune, cut to the budget) for a typical issue and for megabytes of input,
//! plus tree pruning of a 100,000-file repository.
//!
//! ```sh
//! cargo run --release --example brief_bench
//! ```
//! Prints a Markdown table for docs/BENCHMARKS.md.

use std::hint::black_box;
use std::time::{Duration, Instant};

use maxion::pipeline::brief::{
    BriefInput, FileText, IssueComment, IssueText, Limits, RelatedEntry, TreeListing, assemble, prune_tree,
};

fn input(scale: usize) -> BriefInput {
    let body: String =
        (0..40 * scale).map(|i| format!("Step {i}: the widget <!-- x --> must\u{200b} do {i}.\n")).collect();
    BriefInput {
        repository: "acme/widgets".into(),
        default_branch: "main".into(),
        head_sha: "4f2a9c0d1e5b6a7980c1d2e3f4a5b6c7d8e9f0a1".into(),
        issue: IssueText {
            number: maxion::github::IssueNumber(12),
            title: "Widgets wobble".into(),
            body,
            ..Default::default()
        },
        triggered_by: "alice".into(),
        comments: (0..10)
            .map(|i| IssueComment {
                author: format!("m{i}"),
                permission: "write".into(),
                body: "detail ".repeat(100 * scale),
            })
            .collect(),
        guidelines: vec![FileText { path: "AGENTS.md".into(), text: "Rule.\n".repeat(200 * scale), note: None }],
        named_files: (0..5)
            .map(|i| FileText { path: format!("src/m{i}.rs"), text: "fn f() {}\n".repeat(300 * scale), note: None })
            .collect(),
        related: (0..15)
            .map(|n| RelatedEntry {
                number: maxion::github::IssueNumber(n),
                title: format!("PR {n}"),
                state: "open".into(),
                is_pull_request: true,
                other_repository: None,
                files: vec!["src/a.rs".into(); 30],
                more_files: 0,
            })
            .collect(),
        tree: TreeListing {
            lines: (0..1_500).map(|i| format!("src/dir{}/file{i}.rs", i % 40)).collect(),
            total_files: 1_500,
            incomplete: false,
        },
        ..Default::default()
    }
}

fn time<T>(mut f: impl FnMut() -> T) -> (Duration, T) {
    // Warm up, then take the median of 15 runs.
    let mut out = f();
    let mut runs = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        out = black_box(f());
        runs.push(t.elapsed());
    }
    runs.sort();
    (runs[runs.len() / 2], out)
}

fn main() {
    let limits = Limits::default();
    println!("| case | input | brief | median time |");
    println!("|---|---|---|---|");
    for (name, scale) in [("typical issue", 1), ("oversized inputs", 50)] {
        let i = input(scale);
        let size = serde_json::to_string(&i).map(|s| s.len()).unwrap_or(0);
        let (d, brief) = time(|| assemble(&i, &limits));
        println!(
            "| assemble, {name} | {:.1} KB | {:.1} KB | {:.2} ms |",
            size as f64 / 1e3,
            brief.len() as f64 / 1e3,
            d.as_secs_f64() * 1e3
        );
    }
    let paths: Vec<String> =
        (0..100_000).map(|i| format!("pkg{}/src/mod{}/sub{}/file{i}.ts", i % 20, i % 300, i % 7)).collect();
    let (d, lines) = time(|| prune_tree(&paths, limits.tree_lines));
    println!(
        "| prune_tree, 100,000 files | {} paths | {} lines | {:.2} ms |",
        paths.len(),
        lines.len(),
        d.as_secs_f64() * 1e3
    );
}
