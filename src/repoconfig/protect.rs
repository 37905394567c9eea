//! GUARD: the paths the agent must not change. Globs are matched against
//! repository-relative paths with `/` as separator; `*` stays within one
//! directory, `**` spans any number (gitignore-like, via `globset`).

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Protected when the repository configures nothing: CI definitions run with
/// the repository's secrets, so an agent must never edit them unreviewed.
pub const DEFAULT_PROTECTED: &[&str] = &[".github/workflows/**"];

fn build(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern).literal_separator(true).backslash_escape(true).build()
}

/// Checks one pattern (for the parser's error message).
pub(super) fn check_glob(pattern: &str) -> Result<(), String> {
    let p = pattern.trim().trim_start_matches('/');
    if p.is_empty() {
        return Err("a protected path must not be empty".into());
    }
    build(p).map(|_| ()).map_err(|e| format!("`{pattern}` is not a valid glob: {}", e.kind()))
}

/// A compiled set of protected-path globs.
#[derive(Debug, Clone)]
pub struct PathGuard {
    patterns: Vec<String>,
    set: GlobSet,
}

impl PathGuard {
    /// Compiles the patterns; invalid ones were refused by the parser, so a
    /// failure here is a bug and leaves that pattern out with a log line.
    pub fn new(patterns: &[String]) -> Self {
        let mut b = GlobSetBuilder::new();
        let mut kept = Vec::new();
        for p in patterns {
            match build(p) {
                Ok(g) => {
                    b.add(g);
                    kept.push(p.clone());
                }
                Err(e) => tracing::warn!(pattern = %p, error = %e, "skipping an invalid protected-path glob"),
            }
        }
        let set = b.build().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "protected-path globs failed to build; protecting the defaults only");
            Self::defaults().set
        });
        PathGuard { patterns: kept, set }
    }

    pub fn defaults() -> Self {
        let mut b = GlobSetBuilder::new();
        for p in DEFAULT_PROTECTED {
            if let Ok(g) = build(p) {
                b.add(g);
            }
        }
        PathGuard {
            patterns: DEFAULT_PROTECTED.iter().map(|p| (*p).to_owned()).collect(),
            set: b.build().unwrap_or_else(|_| GlobSet::empty()),
        }
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    pub fn is_protected(&self, path: &str) -> bool {
        self.set.is_match(path)
    }

    /// The paths of `changed` that are protected, in their order.
    pub fn violations<'a>(&self, changed: &'a [String]) -> Vec<&'a str> {
        changed.iter().map(String::as_str).filter(|p| self.is_protected(p)).collect()
    }
}
