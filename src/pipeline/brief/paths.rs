//! Finds the repository files an issue names: paths in prose or code spans,
//! with or without `./`, line suffixes (`:42`, `#L10-L20`), GitHub blob
//! links, and bare file names that match exactly one file. Pure; only paths
//! that exist in the tree are returned, so the text cannot name anything else.

use std::collections::{BTreeMap, BTreeSet};

/// Paths in `text` that are files of `tree`, in order of first mention, at most `max`.
pub fn mentioned_paths(text: &str, tree: &BTreeSet<String>, max: usize) -> Vec<String> {
    let mut by_name: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for p in tree {
        let name = p.rsplit('/').next().unwrap_or(p);
        by_name.entry(name).or_default().push(p);
    }
    let mut out: Vec<String> = Vec::new();
    let separators = |c: char| c.is_whitespace() || "()[]{}<>\"'`|,;*".contains(c);
    for token in text.split(separators) {
        if out.len() >= max {
            break;
        }
        let Some(path) = resolve(token, tree, &by_name) else {
            continue;
        };
        if !out.iter().any(|p| p == path) {
            out.push(path.to_owned());
        }
    }
    out
}

fn resolve<'t>(token: &str, tree: &'t BTreeSet<String>, by_name: &BTreeMap<&str, Vec<&'t str>>) -> Option<&'t str> {
    let mut t = token;
    // https://github.com/o/r/blob/<ref>/path/to/file#L3 -> path/to/file
    if let Some(i) = t.find("/blob/") {
        t = t[i + 6..].split_once('/').map(|(_, rest)| rest)?;
    }
    let t = t.split('#').next().unwrap_or(t);
    let t = t.trim_end_matches(['.', ',', ':', ';', '!', '?']);
    // `file.rs:12` and `file.rs:12:5`
    let t = strip_line_suffix(t);
    let t = t.trim_start_matches("./").trim_start_matches('/');
    if t.is_empty() || t.len() > 512 {
        return None;
    }
    if let Some(p) = tree.get(t) {
        return Some(p.as_str());
    }
    // Diff-style prefixes (`a/src/x.rs`).
    if let Some(rest) = t.strip_prefix("a/").or_else(|| t.strip_prefix("b/"))
        && let Some(p) = tree.get(rest)
    {
        return Some(p.as_str());
    }
    // A bare file name, when only one file has it.
    if !t.contains('/')
        && t.contains('.')
        && t.len() > 3
        && let Some([only]) = by_name.get(t).map(Vec::as_slice)
    {
        return Some(only);
    }
    None
}

fn strip_line_suffix(t: &str) -> &str {
    let mut t = t;
    for _ in 0..2 {
        match t.rsplit_once(':') {
            Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => t = head,
            _ => break,
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> BTreeSet<String> {
        ["src/lib.rs", "src/parser/mod.rs", "README.md", "docs/guide.md", "web/src/mod.rs", "Cargo.toml"]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn finds_paths_in_prose_code_spans_and_links() {
        let text = "The bug is in `src/parser/mod.rs:42` (see ./docs/guide.md, also \
                    https://github.com/o/r/blob/main/src/lib.rs#L10-L12). Cargo.toml too.";
        assert_eq!(
            mentioned_paths(text, &tree(), 10),
            ["src/parser/mod.rs", "docs/guide.md", "src/lib.rs", "Cargo.toml"]
        );
    }

    #[test]
    fn only_files_of_the_tree_count() {
        let text = "Read /etc/passwd and ../secrets.env and src/missing.rs and src/";
        assert!(mentioned_paths(text, &tree(), 10).is_empty());
    }

    #[test]
    fn bare_names_need_a_unique_match() {
        assert_eq!(mentioned_paths("see lib.rs", &tree(), 10), ["src/lib.rs"]);
        // Two files are called mod.rs: the name alone is ambiguous.
        assert!(mentioned_paths("see mod.rs", &tree(), 10).is_empty());
    }

    #[test]
    fn diff_prefixes_duplicates_and_the_cap() {
        let text = "a/src/lib.rs b/README.md src/lib.rs docs/guide.md";
        assert_eq!(mentioned_paths(text, &tree(), 2), ["src/lib.rs", "README.md"]);
    }
}
