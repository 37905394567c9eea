use std::time::Duration;

use super::*;
use crate::report::text;

fn bounds() -> Bounds {
    Bounds {
        default_network: NetworkMode::None,
        allowed_networks: vec![NetworkMode::None],
        default_job_timeout: Duration::from_secs(1800),
        max_job_timeout: Duration::from_secs(3600),
        default_step_timeout: Duration::from_secs(900),
        max_fix_rounds: 2,
        draft_on_failure: true,
        egress: None,
        agent: Default::default(),
    }
}

fn err(yaml: &str) -> ConfigError {
    parse(yaml).expect_err(yaml)
}

#[test]
fn the_documented_example_is_valid_and_sets_every_field() {
    let c = parse(include_str!("../../docs/maxion.example.yml")).expect("docs/maxion.example.yml is valid");
    let setup = c.setup.as_ref().expect("setup");
    assert_eq!(setup[0], ConfiguredCommand { run: "npm ci".into(), kind: CommandKind::Setup, timeout: None });
    assert_eq!(setup[1].timeout, Some(Duration::from_secs(600)));
    let verify = c.verify.as_ref().expect("verify");
    let kinds: Vec<_> = verify.iter().map(|v| v.kind).collect();
    assert_eq!(kinds, [CommandKind::Lint, CommandKind::Build, CommandKind::Test]);
    assert_eq!(verify[2].timeout, Some(Duration::from_secs(1200)));
    assert_eq!(c.network, Some(NetworkMode::Open));
    assert_eq!(c.fix_rounds, Some(1));
    assert_eq!(c.step_timeout, Some(Duration::from_secs(900)));
    assert_eq!(c.job_timeout, Some(Duration::from_secs(2700)));
    assert_eq!(c.on_verify_failure, Some(FailurePolicy::Draft));
    assert_eq!(c.branch_prefix.as_deref(), Some("maxion"));
    assert!(c.instructions.as_deref().is_some_and(|i| i.contains("CHANGELOG.md")));
    assert_eq!(c.protected_paths.as_ref().map(Vec::len), Some(3));
    let agent = c.agent.as_ref().expect("agent");
    assert_eq!((agent.profile.as_deref(), agent.model.as_deref()), (Some("claude-code"), Some("claude-sonnet-4-5")));
}

#[test]
fn an_empty_or_comment_only_file_is_the_default() {
    for text in ["", "\n", "# nothing here\n", "---\n"] {
        assert_eq!(parse(text).expect(text), RepoConfig::default(), "{text:?}");
    }
}

#[test]
fn short_and_long_command_forms_and_durations() {
    let c =
        parse("verify:\n  - cargo test\n  - { run: cargo clippy, kind: lint, timeout: 90 }\ntimeouts: { step: 2h }\n")
            .expect("valid");
    let v = c.verify.expect("verify");
    assert_eq!(v[0], ConfiguredCommand { run: "cargo test".into(), kind: CommandKind::Test, timeout: None });
    assert_eq!(v[1].kind, CommandKind::Lint);
    assert_eq!(v[1].timeout, Some(Duration::from_secs(90)));
    assert_eq!(c.step_timeout, Some(Duration::from_secs(7200)));
    assert_eq!(parse("setup: []\n").expect("empty setup").setup, Some(vec![]));
    assert_eq!(file::parse_duration("10m"), Ok(600));
    assert!(file::parse_duration("10 parsecs").is_err());
}

#[test]
fn every_error_names_line_and_column() {
    let cases: &[(&str, (u64, u64), &str)] = &[
        ("fix_rounds: 1\nverfiy:\n  - npm test\n", (2, 1), "unknown field `verfiy`"),
        ("fix_rounds: many\n", (1, 13), "invalid u32"),
        ("fix_rounds: -1\n", (1, 13), ""),
        ("network: wide\n", (1, 10), "unknown network mode `wide`"),
        ("network_hosts: [example.com]\n", (1, 16), "network_hosts"),
        ("egress: [pypi.org, 10.0.0.1]\n", (1, 20), "not a host name"),
        ("budget: { usd: -1 }\n", (1, 9), "positive"),
        ("timeouts:\n  job: 0\n", (2, 8), "positive"),
        ("timeouts:\n  job: 5 days\n", (2, 8), "unknown unit"),
        ("timeouts:\n  jobs: 5m\n", (2, 3), "unknown field `jobs`"),
        ("setup:\n  - run: make\n    kind: build\n", (3, 11), "`kind` applies to `verify` commands only"),
        ("verify:\n  - run: ''\n", (2, 10), "must not be empty"),
        ("verify:\n  - run: make\n    timout: 5m\n", (3, 5), "unknown field `timout`"),
        ("verify:\n  - { run: make, kind: smoke }\n", (2, 24), "smoke"),
        ("on_verify_failure: ready\n", (1, 20), "ready"),
        ("branch_prefix: 'bad..name'\n", (1, 16), "cannot start a git branch name"),
        ("protected_paths:\n  - 'src/[oops'\n", (2, 5), "not a valid glob"),
        ("fix_rounds: 1\nfix_rounds: 2\n", (2, 1), "duplicate"),
        ("verify: [\n", (1, 9), "unclosed bracket"),
        ("agent: { profile: claude }\n", (1, 19), "unknown agent profile `claude`"),
        ("agent:\n  model: 'gpt 5'\n", (2, 10), "`gpt 5` is not a model name"),
        ("agent: { modle: gpt-5 }\n", (1, 10), "unknown field `modle`"),
    ];
    let mut wrong = Vec::new();
    for (yaml, (line, column), needle) in cases {
        let e = err(yaml);
        if !(e.message.contains(needle) && e.to_string().starts_with(&format!("line {line}, column {column}: "))) {
            wrong.push(format!("{yaml:?} -> {e}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn oversized_files_and_instructions_are_refused() {
    let big = format!("instructions: |\n  {}\n", "x".repeat(MAX_INSTRUCTIONS_BYTES + 1));
    assert!(err(&big).message.contains("at most 8000"));
    let huge = format!("# {}\n", "x".repeat(MAX_FILE_BYTES));
    let e = err(&huge);
    assert_eq!(e.line, None);
    assert!(e.message.contains("at most 65536 are allowed"), "{e}");
}

#[test]
fn an_invalid_file_comment_quotes_the_error_and_its_place() {
    let e = err("fix_rounds: 1\nverfiy:\n  - npm test\n");
    insta::assert_snapshot!(text::config_invalid(&e));
}

#[test]
fn no_file_resolves_to_the_instance_defaults() {
    let e = resolve(None, &bounds());
    assert!(!e.from_file && e.clamps.is_empty());
    assert_eq!((e.fix_rounds, e.network, e.job_timeout), (2, NetworkMode::None, Duration::from_secs(1800)));
    assert_eq!(e.step_timeout, Duration::from_secs(900));
    assert_eq!(e.on_verify_failure, FailurePolicy::Draft);
    assert_eq!(e.branch_prefix, "maxion");
    assert_eq!(e.protected.patterns(), [".github/workflows/**"]);
    assert!(e.setup.is_none() && e.verify.is_none());
    let ready = resolve(None, &Bounds { draft_on_failure: false, ..bounds() });
    assert_eq!(ready.on_verify_failure, FailurePolicy::Ready);
    insta::assert_snapshot!(text::effective_config(&e));
}

#[test]
fn requests_within_bounds_are_granted() {
    let mut b = bounds();
    b.allowed_networks = vec![NetworkMode::None, NetworkMode::Open];
    let c = parse("network: open\nfix_rounds: 0\ntimeouts: { job: 1h, step: 5m }\non_verify_failure: no_pr\n")
        .expect("valid");
    let e = resolve(Some(&c), &b);
    assert!(e.clamps.is_empty(), "{:?}", e.clamps);
    assert_eq!((e.network, e.fix_rounds), (NetworkMode::Open, 0));
    assert_eq!((e.job_timeout, e.step_timeout), (Duration::from_secs(3600), Duration::from_secs(300)));
    assert_eq!(e.on_verify_failure, FailurePolicy::NoPr);
}

#[test]
fn requests_past_a_bound_are_clamped_and_reported() {
    let c = parse(
        "network: open\nfix_rounds: 5\ntimeouts: { job: 2h, step: 3h }\n\
         verify:\n  - run: make test\n    timeout: 5h\n  - make lint\nagent: { profile: codex, model: gpt-5 }\n",
    )
    .expect("valid");
    let e = resolve(Some(&c), &bounds());
    assert_eq!(e.network, NetworkMode::None);
    assert_eq!(e.fix_rounds, 2);
    assert_eq!(e.job_timeout, Duration::from_secs(3600));
    assert_eq!(e.step_timeout, Duration::from_secs(3600));
    let verify = e.verify.as_ref().expect("verify");
    assert_eq!(e.timeout_of(&verify[0]), Duration::from_secs(3600));
    assert_eq!(e.timeout_of(&verify[1]), Duration::from_secs(3600));
    let fields: Vec<&str> = e.clamps.iter().map(|c| c.field.as_str()).collect();
    assert_eq!(
        fields,
        ["timeouts.job", "timeouts.step", "verify[1].timeout", "network", "fix_rounds", "agent.profile", "agent.model"]
    );
    assert_eq!(e.agent.kind, crate::config::AgentKind::Pi, "the operator's agent runs");
    let notes: Vec<String> = e.clamps.iter().map(text::clamp_note).collect();
    insta::assert_snapshot!("clamp_notes", notes.join("\n"));
    insta::assert_snapshot!("clamped_effective_config", text::effective_config(&e));
}

#[test]
fn an_allowed_agent_profile_and_its_model_are_granted() {
    let mut b = bounds();
    b.agent.allowed.push(crate::config::AgentKind::Codex);
    let c = parse("agent:\n  profile: codex\n  model: gpt-5.1-codex\n").expect("valid");
    let e = resolve(Some(&c), &b);
    assert!(e.clamps.is_empty(), "{:?}", e.clamps);
    assert_eq!(e.agent.kind, crate::config::AgentKind::Codex);
    assert_eq!(e.agent.model.as_deref(), Some("gpt-5.1-codex"));
    assert!(text::effective_config(&e).contains("| Agent | `codex` with model `gpt-5.1-codex` |"));
}

#[test]
fn protected_paths_match_like_gitignore() {
    let g = PathGuard::defaults();
    assert!(g.is_protected(".github/workflows/ci.yml"));
    assert!(g.is_protected(".github/workflows/nested/x.yml"));
    assert!(!g.is_protected(".github/maxion.yml"));
    assert!(!g.is_protected("src/.github/workflows/ci.yml"));
    let c = parse("protected_paths: ['/docs/*.md', 'secrets/**']\n").expect("valid");
    let e = resolve(Some(&c), &bounds());
    assert_eq!(e.protected.patterns(), ["docs/*.md", "secrets/**"]);
    let changed: Vec<String> =
        ["docs/a.md", "docs/deep/b.md", "secrets/k", ".github/workflows/ci.yml"].map(String::from).to_vec();
    assert_eq!(e.protected.violations(&changed), ["docs/a.md", "secrets/k"]);
    assert!(resolve(Some(&parse("protected_paths: []\n").expect("valid")), &bounds()).protected.patterns().is_empty());
}

#[test]
fn failure_wording() {
    insta::assert_snapshot!(text::protected_paths_changed(&[".github/workflows/x.yml", "weird`name"]));
    insta::assert_snapshot!(text::no_pr_on_failure(1));
}
