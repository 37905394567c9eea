//! Unit tests for command detection: one repository shape per test.

use std::collections::BTreeMap;

use super::*;

fn plan(paths: &[&str], files: &[(&str, &str)]) -> (Vec<String>, Vec<String>) {
    let tree: Vec<String> = paths.iter().chain(files.iter().map(|(p, _)| p)).map(|p| p.to_string()).collect();
    let files: BTreeMap<String, String> = files.iter().map(|(p, t)| (p.to_string(), t.to_string())).collect();
    let p = detect(&tree, &files);
    (p.setup.into_iter().map(|c| c.run).collect(), p.verify.into_iter().map(|c| c.run).collect())
}

const PKG: &str = r#"{"scripts": {"lint": "eslint .", "build": "tsc -p .", "test": "vitest run", "dev": "vite"}}"#;

#[test]
fn npm_with_lockfile_uses_ci_and_its_scripts() {
    let (setup, verify) = plan(&["package-lock.json"], &[("package.json", PKG)]);
    assert_eq!(setup, ["npm ci"]);
    assert_eq!(verify, ["npm run lint", "npm run build", "npm test"]);
}

#[test]
fn lockfile_picks_the_package_manager() {
    let (s, v) = plan(&["pnpm-lock.yaml"], &[("package.json", PKG)]);
    assert_eq!(s, ["pnpm install --frozen-lockfile"]);
    assert_eq!(v, ["pnpm run lint", "pnpm run build", "pnpm test"]);
    let (s, v) = plan(&["yarn.lock"], &[("package.json", PKG)]);
    assert_eq!(s, ["yarn install --frozen-lockfile"]);
    assert_eq!(v, ["yarn run lint", "yarn run build", "yarn run test"]);
    let (s, _) = plan(&["yarn.lock", ".yarnrc.yml"], &[("package.json", PKG)]);
    assert_eq!(s, ["yarn install --immutable"]);
    let (s, v) = plan(&["bun.lockb"], &[("package.json", PKG)]);
    assert_eq!(s, ["bun install --frozen-lockfile"]);
    assert_eq!(v.last().map(String::as_str), Some("bun run test"));
    let (s, _) = plan(&[], &[("package.json", PKG)]);
    assert_eq!(s, ["npm install"]);
}

#[test]
fn package_manager_field_wins_over_a_stray_lockfile() {
    let pkg = r#"{"packageManager": "pnpm@9.1.0", "scripts": {"test": "jest"}}"#;
    let (s, v) = plan(&["package-lock.json"], &[("package.json", pkg)]);
    assert_eq!(s, ["pnpm install"]);
    assert_eq!(v, ["pnpm test"]);
}

#[test]
fn npm_placeholder_test_script_is_not_a_test_suite() {
    let pkg = r#"{"scripts": {"test": "echo \"Error: no test specified\" && exit 1"}}"#;
    let (_, v) = plan(&["package-lock.json"], &[("package.json", pkg)]);
    assert!(v.is_empty(), "{v:?}");
}

#[test]
fn typecheck_and_ci_test_scripts_are_used() {
    let pkg = r#"{"scripts": {"type-check": "tsc --noEmit", "test": "jest --watch", "test:ci": "jest"}}"#;
    let (_, v) = plan(&["package-lock.json"], &[("package.json", pkg)]);
    assert_eq!(v, ["npm run type-check", "npm run test:ci"]);
}

#[test]
fn unparsable_package_json_detects_nothing() {
    let (s, v) = plan(&["package-lock.json"], &[("package.json", "{not json")]);
    assert!(s.is_empty() && v.is_empty());
}

#[test]
fn cargo_package_and_workspace() {
    let (s, v) = plan(&["Cargo.lock", "src/lib.rs"], &[("Cargo.toml", "[package]\nname = \"x\"\n")]);
    assert_eq!(s, ["cargo fetch --locked"]);
    assert_eq!(v, ["cargo clippy --all-targets", "cargo build", "cargo test"]);
    let (s, v) = plan(&["rustfmt.toml"], &[("Cargo.toml", "[workspace]\nmembers = [\"a\"]\n")]);
    assert_eq!(s, ["cargo fetch"]);
    assert_eq!(
        v,
        [
            "cargo fmt --all --check",
            "cargo clippy --workspace --all-targets",
            "cargo build --workspace",
            "cargo test --workspace"
        ]
    );
}

#[test]
fn python_package_with_ruff_and_pytest() {
    let py = "[project]\nname = \"x\"\n[project.optional-dependencies]\ntest = [\"pytest\"]\n[tool.ruff]\nline-length = 100\n[tool.pytest.ini_options]\naddopts = \"-q\"\n";
    let (s, v) = plan(&[], &[("pyproject.toml", py)]);
    assert_eq!(s, ["pip install -e '.[test]'"]);
    assert_eq!(v, ["ruff check .", "pytest"]);
}

#[test]
fn python_tools_run_through_uv_or_poetry() {
    let py = "[project]\nname = \"x\"\n[tool.mypy]\nstrict = true\n";
    let (s, v) = plan(&["uv.lock", "tests/test_a.py"], &[("pyproject.toml", py)]);
    assert_eq!(s, ["uv sync --frozen"]);
    assert_eq!(v, ["uv run mypy .", "uv run pytest"]);
    let py = "[tool.poetry]\nname = \"x\"\n";
    let (s, v) = plan(&["poetry.lock", "conftest.py"], &[("pyproject.toml", py)]);
    assert_eq!(s, ["poetry install"]);
    assert_eq!(v, ["poetry run pytest"]);
}

#[test]
fn requirements_files_and_flake8() {
    let (s, v) = plan(&["requirements.txt", "requirements-dev.txt", ".flake8", "setup.py"], &[]);
    assert_eq!(s, ["pip install -e .", "pip install -r requirements.txt", "pip install -r requirements-dev.txt"]);
    assert_eq!(v, ["flake8"]);
}

#[test]
fn go_module() {
    let (s, v) = plan(&["go.mod", "main.go"], &[]);
    assert_eq!(s, ["go mod download"]);
    assert_eq!(v, ["go vet ./...", "go build ./...", "go test ./..."]);
}

#[test]
fn makefile_targets_replace_guesses_of_their_kind() {
    let mk = ".PHONY: lint test\nVERSION := 1\nlint:\n\truff check .\ntest: lint\n\tpytest -q\ninstall-deps:\n\tpip install x\n";
    let py = "[project]\nname = \"x\"\n[tool.ruff]\n";
    let (_, v) = plan(&["tests/t.py"], &[("pyproject.toml", py), ("Makefile", mk)]);
    assert_eq!(v, ["make lint", "make test"]);
    // Kinds the Makefile lacks keep their guesses.
    let (_, v) = plan(&["Cargo.lock"], &[("Cargo.toml", "[package]\n"), ("Makefile", "test:\n\tcargo nextest run\n")]);
    assert_eq!(v, ["cargo clippy --all-targets", "cargo build", "make test"]);
}

#[test]
fn make_target_parsing_ignores_variables_and_patterns() {
    let t = make_targets("A = b\nB := c\nC ::= d\n%.o: %.c\n$(X): y\nall build: deps\n\techo\n# test:\n");
    assert_eq!(t.into_iter().collect::<Vec<_>>(), ["all", "build"]);
}

#[test]
fn a_repository_without_known_files_has_no_commands() {
    let (s, v) = plan(&["README.md", "docs/index.md"], &[]);
    assert!(s.is_empty() && v.is_empty());
}

#[test]
fn only_the_root_counts() {
    let (s, v) = plan(&["web/package-lock.json", "web/package.json", "crates/a/Cargo.toml"], &[]);
    assert!(s.is_empty() && v.is_empty());
}

#[test]
fn polyglot_repository_gets_both_sets_in_kind_order() {
    let (s, v) = plan(&["package-lock.json", "Cargo.lock"], &[("package.json", PKG), ("Cargo.toml", "[package]\n")]);
    assert_eq!(s, ["npm ci", "cargo fetch --locked"]);
    assert_eq!(
        v,
        ["npm run lint", "cargo clippy --all-targets", "npm run build", "cargo build", "npm test", "cargo test"]
    );
}
