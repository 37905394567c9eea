//! Prunes a repository's file list for the brief: generated and vendored
//! directories always collapse to `dir/ (N files)`, then the deepest, largest
//! directories collapse until the listing fits. Pure.

use std::collections::{BTreeSet, HashMap, HashSet};

/// Directory names that hold generated, vendored or tool-private files.
pub const COLLAPSED_DIRS: &[&str] = &[
    ".git",
    ".cache",
    ".gradle",
    ".mypy_cache",
    ".next",
    ".nuxt",
    ".pnpm-store",
    ".pytest_cache",
    ".ruff_cache",
    ".tox",
    ".venv",
    ".yarn",
    "Pods",
    "__pycache__",
    "bower_components",
    "build",
    "coverage",
    "dist",
    "node_modules",
    "target",
    "third_party",
    "vendor",
    "venv",
];

/// The listing of `paths` (files, `/`-separated) in at most `max_lines` lines
/// where possible; beyond that the caller's budget cuts it. Sorted.
pub fn prune_tree(paths: &[String], max_lines: usize) -> Vec<String> {
    let paths: BTreeSet<&str> = paths.iter().map(|p| p.trim_matches('/')).filter(|p| !p.is_empty()).collect();
    // Every directory is a prefix of a path, so borrowed slices serve as keys.
    let mut collapsed: HashSet<&str> = HashSet::new();
    for p in &paths {
        if let Some(d) = ancestors(p).find(|a| COLLAPSED_DIRS.contains(&a.rsplit('/').next().unwrap_or(a))) {
            collapsed.insert(d);
        }
    }

    // Files under each directory, and lines shown under it right now.
    let mut files_under: HashMap<&str, usize> = HashMap::new();
    let mut visible: HashMap<&str, usize> = HashMap::new();
    // (path or collapsed directory, is a collapsed directory)
    let mut lines: HashSet<(&str, bool)> = HashSet::new();
    for p in &paths {
        for d in ancestors(p) {
            *files_under.entry(d).or_default() += 1;
        }
        lines.insert(match top_collapsed(p, &collapsed) {
            Some(d) => (d, true),
            None => (p, false),
        });
    }
    for (key, is_dir) in &lines {
        for d in ancestors(key) {
            *visible.entry(d).or_default() += 1;
        }
        if *is_dir {
            visible.insert(key, 1);
        }
    }
    let mut total = lines.len();
    if total > max_lines {
        let mut candidates: Vec<(usize, usize, &str)> = visible
            .iter()
            .filter(|(d, n)| **n >= 2 && !collapsed.contains(*d))
            .map(|(d, n)| (d.matches('/').count(), *n, *d))
            .collect();
        // Deepest first, then largest.
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
        for (_, _, d) in candidates {
            if total <= max_lines {
                break;
            }
            if ancestors(d).any(|a| collapsed.contains(a)) {
                continue;
            }
            let saved = visible.get(d).copied().unwrap_or(1).saturating_sub(1);
            if saved == 0 {
                continue;
            }
            total -= saved;
            for a in ancestors(d) {
                if let Some(v) = visible.get_mut(a) {
                    *v -= saved;
                }
            }
            visible.insert(d, 1);
            collapsed.insert(d);
        }
    }

    let mut out: Vec<String> = Vec::new();
    let mut last_dir: Option<&str> = None;
    for p in &paths {
        match top_collapsed(p, &collapsed) {
            Some(d) => {
                if last_dir != Some(d) {
                    let n = files_under.get(d).copied().unwrap_or(0);
                    out.push(format!("{d}/ ({n} {})", if n == 1 { "file" } else { "files" }));
                    last_dir = Some(d);
                }
            }
            None => out.push((*p).to_owned()),
        }
    }
    out
}

/// Proper ancestor directories of `p`, shallowest first (`a`, `a/b` for `a/b/c`).
fn ancestors(p: &str) -> impl Iterator<Item = &str> {
    p.match_indices('/').map(move |(i, _)| &p[..i])
}

fn top_collapsed<'a>(p: &'a str, collapsed: &HashSet<&str>) -> Option<&'a str> {
    ancestors(p).find(|a| collapsed.contains(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn small_trees_are_listed_whole() {
        let t = s(&["src/main.rs", "README.md", "src/lib.rs"]);
        assert_eq!(prune_tree(&t, 100), s(&["README.md", "src/lib.rs", "src/main.rs"]));
    }

    #[test]
    fn vendored_and_generated_directories_always_collapse() {
        let t = s(&[
            "package.json",
            "node_modules/a/index.js",
            "node_modules/b/index.js",
            "web/node_modules/c/x.js",
            "dist/app.js",
            "src/index.ts",
        ]);
        assert_eq!(
            prune_tree(&t, 100),
            s(&[
                "dist/ (1 file)",
                "node_modules/ (2 files)",
                "package.json",
                "src/index.ts",
                "web/node_modules/ (1 file)"
            ])
        );
    }

    #[test]
    fn deep_large_directories_collapse_first_until_it_fits() {
        let mut t = s(&["README.md", "src/lib.rs", "src/parser/mod.rs"]);
        for i in 0..50 {
            t.push(format!("tests/fixtures/cases/case{i:02}.json"));
        }
        for i in 0..5 {
            t.push(format!("docs/page{i}.md"));
        }
        let out = prune_tree(&t, 20);
        assert!(out.len() <= 20, "{out:?}");
        assert!(out.contains(&"tests/fixtures/cases/ (50 files)".to_owned()), "{out:?}");
        // Shallow files the limit did not require collapsing are still listed.
        assert!(out.contains(&"src/parser/mod.rs".to_owned()));
        assert!(out.contains(&"docs/page3.md".to_owned()));
    }

    #[test]
    fn collapsing_climbs_to_shallower_directories_when_needed() {
        let mut t = Vec::new();
        for d in 0..10 {
            for f in 0..10 {
                t.push(format!("pkg{d}/sub/f{f}.txt"));
            }
        }
        let out = prune_tree(&t, 10);
        assert_eq!(out.len(), 10, "{out:?}");
        assert!(out.iter().all(|l| l.ends_with("(10 files)")), "{out:?}");
    }

    #[test]
    fn a_listing_that_cannot_fit_is_as_small_as_collapsing_makes_it() {
        let t: Vec<String> = (0..30).map(|i| format!("f{i}.txt")).collect();
        assert_eq!(prune_tree(&t, 10).len(), 30);
    }
}
