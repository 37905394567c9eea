//! Guesses a repository's setup and verification commands from its file tree
//! and a few small files ([`PROBE_FILES`]: `package.json`, `Cargo.toml`,
//! `pyproject.toml`, `Makefile`, ...). Used when the repository configures no
//! commands of its own.
//!
//! Pure: the caller fetches the files; nothing here touches the network or disk.
//! Only the repository root is considered: a monorepo's packages are for the
//! repository's own configuration to name.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Root files whose contents [`detect`] reads when they exist in the tree.
pub const PROBE_FILES: &[&str] =
    &["package.json", "Cargo.toml", "pyproject.toml", "setup.cfg", "tox.ini", "Makefile", "makefile", "GNUmakefile"];

pub use crate::repoconfig::CommandKind;

/// One shell command, run in `/workspace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedCommand {
    pub kind: CommandKind,
    pub run: String,
    /// Why it was chosen, for the job log (e.g. `package.json script "lint"`).
    pub reason: String,
}

/// The commands a job runs: setup once, verify after every agent round.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandPlan {
    pub setup: Vec<PlannedCommand>,
    pub verify: Vec<PlannedCommand>,
}

impl CommandPlan {
    pub fn is_empty(&self) -> bool {
        self.setup.is_empty() && self.verify.is_empty()
    }
}

/// Detects commands from the tree's blob paths and the contents of the
/// [`PROBE_FILES`] that exist (keyed by path; missing or unreadable ones absent).
pub fn detect(tree: &[String], files: &BTreeMap<String, String>) -> CommandPlan {
    let root: BTreeSet<&str> = tree.iter().map(String::as_str).collect();
    let has = |p: &str| root.contains(p);
    let has_dir = |d: &str| {
        let prefix = format!("{d}/");
        tree.iter().any(|p| p.starts_with(&prefix))
    };
    let mut setup = Vec::new();
    let mut verify = Vec::new();
    node(&has, files, &mut setup, &mut verify);
    python(&has, &has_dir, files, &mut setup, &mut verify);
    rust(&has, files, &mut setup, &mut verify);
    if has("go.mod") {
        setup.push(cmd(CommandKind::Setup, "go mod download", "go.mod"));
        verify.push(cmd(CommandKind::Lint, "go vet ./...", "go.mod"));
        verify.push(cmd(CommandKind::Build, "go build ./...", "go.mod"));
        verify.push(cmd(CommandKind::Test, "go test ./...", "go.mod"));
    }
    // A Makefile target is the repository's own entry point for its kind (it
    // knows the flags and covers every language), so it replaces the guesses.
    if let Some((name, text)) =
        ["Makefile", "makefile", "GNUmakefile"].iter().find_map(|n| files.get(*n).map(|t| (*n, t)))
    {
        let targets = make_targets(text);
        for (target, kind) in [("lint", CommandKind::Lint), ("build", CommandKind::Build), ("test", CommandKind::Test)]
        {
            if targets.contains(target) {
                verify.retain(|c| c.kind != kind);
                verify.push(cmd(kind, &format!("make {target}"), &format!("{name} target \"{target}\"")));
            }
        }
    }
    verify.sort_by_key(|c| c.kind);
    CommandPlan { setup, verify }
}

fn cmd(kind: CommandKind, run: &str, reason: &str) -> PlannedCommand {
    PlannedCommand { kind, run: run.to_owned(), reason: reason.to_owned() }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum NodePm {
    Npm,
    Pnpm,
    Yarn,
    YarnBerry,
    Bun,
}

fn node(
    has: &dyn Fn(&str) -> bool,
    files: &BTreeMap<String, String>,
    setup: &mut Vec<PlannedCommand>,
    verify: &mut Vec<PlannedCommand>,
) {
    let Some(text) = files.get("package.json") else {
        return;
    };
    let Ok(pkg) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let declared = pkg.get("packageManager").and_then(|v| v.as_str()).unwrap_or("");
    let yarn_berry = has(".yarnrc.yml") || declared.strip_prefix("yarn@").is_some_and(|v| !v.starts_with('1'));
    let pm = if declared.starts_with("pnpm@") || has("pnpm-lock.yaml") {
        NodePm::Pnpm
    } else if declared.starts_with("yarn@") || has("yarn.lock") {
        if yarn_berry { NodePm::YarnBerry } else { NodePm::Yarn }
    } else if declared.starts_with("bun@") || has("bun.lockb") || has("bun.lock") {
        NodePm::Bun
    } else {
        NodePm::Npm
    };
    let npm_lock = has("package-lock.json") || has("npm-shrinkwrap.json");
    let (install, why) = match pm {
        NodePm::Npm if npm_lock => ("npm ci", "package-lock.json"),
        NodePm::Npm => ("npm install", "package.json without a lockfile"),
        NodePm::Pnpm if has("pnpm-lock.yaml") => ("pnpm install --frozen-lockfile", "pnpm-lock.yaml"),
        NodePm::Pnpm => ("pnpm install", "packageManager pnpm"),
        NodePm::Yarn if has("yarn.lock") => ("yarn install --frozen-lockfile", "yarn.lock"),
        NodePm::Yarn => ("yarn install", "packageManager yarn"),
        NodePm::YarnBerry if has("yarn.lock") => ("yarn install --immutable", "yarn.lock (Yarn 2+)"),
        NodePm::YarnBerry => ("yarn install", "packageManager yarn"),
        NodePm::Bun => ("bun install --frozen-lockfile", "bun lockfile"),
    };
    setup.push(cmd(CommandKind::Setup, install, why));

    let scripts: BTreeMap<String, String> = pkg
        .get("scripts")
        .and_then(|s| s.as_object())
        .map(|o| o.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned()))).collect())
        .unwrap_or_default();
    let run = |script: &str| match pm {
        NodePm::Npm => format!("npm run {script}"),
        NodePm::Pnpm => format!("pnpm run {script}"),
        NodePm::Yarn | NodePm::YarnBerry => format!("yarn run {script}"),
        NodePm::Bun => format!("bun run {script}"),
    };
    let mut add = |kind: CommandKind, names: &[&str]| {
        if let Some(name) = names.iter().find(|n| scripts.contains_key(**n)) {
            let line = match (kind, pm, *name) {
                (CommandKind::Test, NodePm::Npm, "test") => "npm test".to_owned(),
                (CommandKind::Test, NodePm::Pnpm, "test") => "pnpm test".to_owned(),
                _ => run(name),
            };
            verify.push(cmd(kind, &line, &format!("package.json script \"{name}\"")));
        }
    };
    add(CommandKind::Lint, &["lint"]);
    add(CommandKind::Typecheck, &["typecheck", "type-check", "check-types", "tsc"]);
    add(CommandKind::Build, &["build"]);
    // `npm init` writes a test script that always fails; it is not a test suite.
    let placeholder = scripts.get("test").is_some_and(|t| t.contains("no test specified"));
    if placeholder {
        add(CommandKind::Test, &["test:ci"]);
    } else {
        // A CI variant exists because `test` watches or needs a display.
        add(CommandKind::Test, &["test:ci", "test"]);
    }
}

fn python(
    has: &dyn Fn(&str) -> bool,
    has_dir: &dyn Fn(&str) -> bool,
    files: &BTreeMap<String, String>,
    setup: &mut Vec<PlannedCommand>,
    verify: &mut Vec<PlannedCommand>,
) {
    let pyproject = files.get("pyproject.toml").and_then(|t| t.parse::<toml::Table>().ok());
    let setup_cfg = files.get("setup.cfg").map(String::as_str).unwrap_or("");
    let tox_ini = files.get("tox.ini").map(String::as_str).unwrap_or("");
    let requirements: Vec<&str> = [
        "requirements.txt",
        "requirements-dev.txt",
        "dev-requirements.txt",
        "requirements-test.txt",
        "requirements/dev.txt",
        "requirements/test.txt",
    ]
    .into_iter()
    .filter(|p| has(p))
    .collect();
    let is_python = pyproject.is_some() || has("setup.py") || !requirements.is_empty();
    if !is_python {
        return;
    }
    let table = |path: &[&str]| -> Option<&toml::Value> {
        let mut v = pyproject.as_ref()?.get(path[0])?;
        for key in &path[1..] {
            v = v.get(key)?;
        }
        Some(v)
    };
    let prefix = if has("uv.lock") {
        setup.push(cmd(CommandKind::Setup, "uv sync --frozen", "uv.lock"));
        "uv run "
    } else if has("poetry.lock") || table(&["tool", "poetry"]).is_some() {
        setup.push(cmd(CommandKind::Setup, "poetry install", "Poetry project"));
        "poetry run "
    } else {
        if table(&["build-system"]).is_some() || table(&["project"]).is_some() || has("setup.py") {
            let extras: Vec<&str> = ["dev", "test", "tests"]
                .into_iter()
                .filter(|e| table(&["project", "optional-dependencies", e]).is_some())
                .collect();
            let target = if extras.is_empty() { ".".to_owned() } else { format!("'.[{}]'", extras.join(",")) };
            setup.push(cmd(
                CommandKind::Setup,
                &format!("pip install -e {target}"),
                "Python package (pyproject.toml / setup.py)",
            ));
        }
        for r in &requirements {
            setup.push(cmd(CommandKind::Setup, &format!("pip install -r {r}"), r));
        }
        ""
    };
    if table(&["tool", "ruff"]).is_some() || has("ruff.toml") || has(".ruff.toml") {
        verify.push(cmd(CommandKind::Lint, &format!("{prefix}ruff check ."), "ruff configuration"));
    } else if has(".flake8") || setup_cfg.contains("[flake8]") || tox_ini.contains("[flake8]") {
        verify.push(cmd(CommandKind::Lint, &format!("{prefix}flake8"), "flake8 configuration"));
    }
    if table(&["tool", "mypy"]).is_some() || has("mypy.ini") || setup_cfg.contains("[mypy]") {
        verify.push(cmd(CommandKind::Typecheck, &format!("{prefix}mypy ."), "mypy configuration"));
    }
    let pytest_configured = table(&["tool", "pytest"]).is_some()
        || has("pytest.ini")
        || has("conftest.py")
        || setup_cfg.contains("[tool:pytest]")
        || tox_ini.contains("[pytest]");
    if pytest_configured || has_dir("tests") || has_dir("test") {
        verify.push(cmd(CommandKind::Test, &format!("{prefix}pytest"), "pytest configuration or tests/ directory"));
    }
}

fn rust(
    has: &dyn Fn(&str) -> bool,
    files: &BTreeMap<String, String>,
    setup: &mut Vec<PlannedCommand>,
    verify: &mut Vec<PlannedCommand>,
) {
    let Some(manifest) = files.get("Cargo.toml").and_then(|t| t.parse::<toml::Table>().ok()) else {
        return;
    };
    let ws = if manifest.contains_key("workspace") { " --workspace" } else { "" };
    let fetch = if has("Cargo.lock") { "cargo fetch --locked" } else { "cargo fetch" };
    setup.push(cmd(CommandKind::Setup, fetch, "Cargo.toml"));
    if has("rustfmt.toml") || has(".rustfmt.toml") {
        verify.push(cmd(CommandKind::Lint, "cargo fmt --all --check", "rustfmt configuration"));
    }
    // Warnings are not denied: warnings already on the default branch would
    // fail every job; a repository wanting `-D warnings` configures it.
    verify.push(cmd(CommandKind::Lint, &format!("cargo clippy{ws} --all-targets"), "Cargo.toml"));
    verify.push(cmd(CommandKind::Build, &format!("cargo build{ws}"), "Cargo.toml"));
    verify.push(cmd(CommandKind::Test, &format!("cargo test{ws}"), "Cargo.toml"));
}

/// Target names defined in a Makefile (`name:` at the start of a line, not `name :=`).
fn make_targets(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with(['\t', ' ', '#', '.']) {
            continue;
        }
        let Some(colon) = line.find(':') else { continue };
        if line[colon + 1..].trim_start_matches(':').starts_with('=') {
            continue;
        }
        let names = &line[..colon];
        if names.contains(['=', '$', '%']) {
            continue;
        }
        out.extend(names.split_whitespace().map(str::to_owned));
    }
    out
}

#[cfg(test)]
mod tests;
