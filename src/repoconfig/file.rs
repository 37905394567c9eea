//! PARSE: the text of `.github/maxion.yml` -> [`RepoConfig`], or a
//! [`ConfigError`] with the line and column of the offending node.
//!
//! The YAML is read with serde-saphyr into `Raw*` structs that deny unknown
//! fields (a typo must fail loudly, not be ignored). Values that need a check
//! beyond their type are validated inside their `Deserialize` impls, so the
//! parser attaches the location; checks across fields use `Spanned`.

use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_saphyr::Spanned;

use super::{CommandKind, ConfigError, ConfiguredCommand, FailurePolicy, RepoConfig};
use crate::sandbox::NetworkMode;

/// Larger files are refused: a configuration is a few hundred bytes.
pub const MAX_FILE_BYTES: usize = 64 * 1024;
/// The extra instructions are part of every brief; keep them brief.
pub const MAX_INSTRUCTIONS_BYTES: usize = 8_000;
/// At most this many commands per list.
const MAX_COMMANDS: usize = 20;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    setup: Option<Spanned<Vec<RawCommand>>>,
    verify: Option<Spanned<Vec<RawCommand>>>,
    network: Option<NetworkField>,
    network_hosts: Option<Spanned<Vec<String>>>,
    fix_rounds: Option<u32>,
    timeouts: Option<RawTimeouts>,
    on_verify_failure: Option<FailurePolicy>,
    branch_prefix: Option<BranchPrefix>,
    instructions: Option<Instructions>,
    protected_paths: Option<Vec<Glob>>,
    egress: Option<Spanned<Vec<Spanned<String>>>>,
    budget: Option<Spanned<super::egress::RawBudget>>,
    agent: Option<super::agent::RawAgent>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeouts {
    step: Option<Secs>,
    job: Option<Secs>,
}

/// A command: `- npm test` or `- { run: npm test, kind: test, timeout: 10m }`.
#[derive(Debug)]
struct RawCommand {
    run: String,
    kind: Option<Spanned<KindField>>,
    timeout: Option<Duration>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCommandMap {
    run: CommandText,
    kind: Option<Spanned<KindField>>,
    timeout: Option<Secs>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindField {
    Lint,
    Typecheck,
    Build,
    Test,
}

impl From<KindField> for CommandKind {
    fn from(k: KindField) -> Self {
        match k {
            KindField::Lint => CommandKind::Lint,
            KindField::Typecheck => CommandKind::Typecheck,
            KindField::Build => CommandKind::Build,
            KindField::Test => CommandKind::Test,
        }
    }
}

impl<'de> Deserialize<'de> for RawCommand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> de::Visitor<'de> for V {
            type Value = RawCommand;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a command string, or a mapping with `run` and optional `kind` and `timeout`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawCommand, E> {
                Ok(RawCommand { run: command_text(v)?, kind: None, timeout: None })
            }
            // `true` and `false` are commands too, as plain YAML scalars.
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawCommand, E> {
                self.visit_str(if v { "true" } else { "false" })
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<RawCommand, A::Error> {
                let m = RawCommandMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawCommand { run: m.run.0, kind: m.kind, timeout: m.timeout.map(|s| s.0) })
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug)]
struct CommandText(String);

impl<'de> Deserialize<'de> for CommandText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        command_text(&s).map(CommandText)
    }
}

fn command_text<E: de::Error>(v: &str) -> Result<String, E> {
    let t = v.trim();
    if t.is_empty() {
        return Err(E::custom("a command must not be empty"));
    }
    if t.contains('\0') {
        return Err(E::custom("a command must not contain a NUL character"));
    }
    Ok(t.to_owned())
}

#[derive(Debug, Clone, Copy)]
enum NetworkField {
    None,
    Open,
    Filtered,
}

impl<'de> Deserialize<'de> for NetworkField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match String::deserialize(d)?.as_str() {
            "none" => Ok(NetworkField::None),
            "open" => Ok(NetworkField::Open),
            "filtered" => Ok(NetworkField::Filtered),
            other => {
                Err(de::Error::custom(format!("unknown network mode `{other}`, expected `none`, `open` or `filtered`")))
            }
        }
    }
}

/// A duration: whole seconds (`90`) or a number with a unit (`90s`, `10m`, `2h`).
#[derive(Debug, Clone, Copy)]
struct Secs(Duration);

impl<'de> Deserialize<'de> for Secs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Secs;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a duration such as 90, 90s, 10m or 2h")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Secs, E> {
                secs(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Secs, E> {
                u64::try_from(v).map_err(|_| E::custom("a duration must be positive")).and_then(secs)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Secs, E> {
                parse_duration(v).map_err(E::custom).and_then(secs)
            }
        }
        d.deserialize_any(V)
    }
}

fn secs<E: de::Error>(v: u64) -> Result<Secs, E> {
    match v {
        0 => Err(E::custom("a duration must be positive")),
        // Longer than a week is a typo, not a request (bounds clamp the rest).
        v if v > 7 * 86_400 => Err(E::custom("a duration must be at most a week")),
        v => Ok(Secs(Duration::from_secs(v))),
    }
}

/// `90`, `90s`, `10m`, `2h` -> seconds.
pub(super) fn parse_duration(v: &str) -> Result<u64, String> {
    let t = v.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("`{v}` is not a duration such as 90, 90s, 10m or 2h"))?;
    let factor = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3600,
        _ => return Err(format!("`{v}` has an unknown unit; use s, m or h")),
    };
    n.checked_mul(factor).ok_or_else(|| format!("`{v}` is too long"))
}

#[derive(Debug)]
struct BranchPrefix(String);

impl<'de> Deserialize<'de> for BranchPrefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let p = s.trim().trim_matches('/');
        if p.is_empty() || p.len() > 50 {
            return Err(de::Error::custom("a branch prefix must be 1 to 50 characters"));
        }
        // The prefix becomes part of a branch name on a git argv: the same
        // rules as every branch name Maxion uses, checked on a sample.
        let sample = crate::branch::branch_name(p, 1, "x");
        crate::branch::validate_branch(&sample)
            .map_err(|_| de::Error::custom(format!("`{s}` cannot start a git branch name")))?;
        Ok(BranchPrefix(p.to_owned()))
    }
}

#[derive(Debug)]
struct Instructions(String);

impl<'de> Deserialize<'de> for Instructions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() > MAX_INSTRUCTIONS_BYTES {
            return Err(de::Error::custom(format!(
                "instructions are {} bytes; at most {MAX_INSTRUCTIONS_BYTES} are allowed",
                s.len()
            )));
        }
        Ok(Instructions(s))
    }
}

#[derive(Debug)]
struct Glob(String);

impl<'de> Deserialize<'de> for Glob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        super::protect::check_glob(&s).map_err(de::Error::custom)?;
        Ok(Glob(s.trim().trim_start_matches('/').to_owned()))
    }
}

/// Parses the file's text. An empty file (or one with only comments) is
/// the default configuration.
pub fn parse(text: &str) -> Result<RepoConfig, ConfigError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(ConfigError::whole(format!(
            "the file is {} bytes; at most {MAX_FILE_BYTES} are allowed",
            text.len()
        )));
    }
    let mut options = serde_saphyr::Options::default();
    // Our own message carries the location; no source snippet in it.
    options.with_snippet = false;
    // `yes`/`no`/`on`/`off` are strings, not booleans (YAML 1.2).
    options.strict_booleans = true;
    let raw: Option<RawFile> = serde_saphyr::from_str_with_options(text, options).map_err(ConfigError::from_yaml)?;
    let raw = raw.unwrap_or_default();
    if let Some(hosts) = &raw.network_hosts {
        return Err(ConfigError::at(
            &hosts.referenced,
            "`network_hosts` is not a field; the hosts a `filtered` sandbox reaches are the operator's MAXION_EGRESS_ALLOW",
        ));
    }
    let timeouts = raw.timeouts.unwrap_or_default();
    Ok(RepoConfig {
        setup: raw.setup.map(|s| commands(s, false)).transpose()?,
        verify: raw.verify.map(|s| commands(s, true)).transpose()?,
        network: raw.network.map(|n| match n {
            NetworkField::None => NetworkMode::None,
            NetworkField::Open => NetworkMode::Open,
            NetworkField::Filtered => NetworkMode::Filtered,
        }),
        fix_rounds: raw.fix_rounds,
        step_timeout: timeouts.step.map(|s| s.0),
        job_timeout: timeouts.job.map(|s| s.0),
        on_verify_failure: raw.on_verify_failure,
        branch_prefix: raw.branch_prefix.map(|b| b.0),
        instructions: raw.instructions.map(|i| i.0).filter(|i| !i.trim().is_empty()),
        protected_paths: raw.protected_paths.map(|g| g.into_iter().map(|g| g.0).collect()),
        egress: raw.egress.map(egress_hosts).transpose()?,
        budget: raw.budget.map(|b| b.value.check().map_err(|m| ConfigError::at(&b.referenced, m))).transpose()?,
        agent: raw.agent.map(Into::into),
    })
}

/// `egress: [pypi.org, "*.example.com"]`: names or `*.suffix` patterns.
fn egress_hosts(list: Spanned<Vec<Spanned<String>>>) -> Result<Vec<String>, ConfigError> {
    if list.value.len() > 100 {
        return Err(ConfigError::at(&list.referenced, "at most 100 `egress` hosts are allowed"));
    }
    let mut out = Vec::new();
    for h in list.value {
        let host = h.value.trim().to_ascii_lowercase();
        if !crate::config::valid_host_pattern(&host) {
            return Err(ConfigError::at(
                &h.referenced,
                format!("`{host}` is not a host name or a `*.suffix` pattern (no addresses, ports or URLs)"),
            ));
        }
        out.push(host);
    }
    Ok(out)
}

fn commands(list: Spanned<Vec<RawCommand>>, verify: bool) -> Result<Vec<ConfiguredCommand>, ConfigError> {
    if list.value.len() > MAX_COMMANDS {
        return Err(ConfigError::at(&list.referenced, format!("at most {MAX_COMMANDS} commands are allowed")));
    }
    let mut out = Vec::new();
    for c in list.value {
        let kind = match (c.kind, verify) {
            (Some(k), true) => k.value.into(),
            (None, true) => CommandKind::Test,
            (Some(k), false) => {
                return Err(ConfigError::at(&k.referenced, "`kind` applies to `verify` commands only"));
            }
            (None, false) => CommandKind::Setup,
        };
        out.push(ConfiguredCommand { run: c.run, kind, timeout: c.timeout });
    }
    Ok(out)
}
