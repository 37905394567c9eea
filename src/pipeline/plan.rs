//! The job's plan from the repository's `.github/maxion.yml`:
//! read it at the commit the job works on, resolve it within the operator's
//! bounds (reporting clamps), and fold it into the brief's input so the
//! brief lists exactly the commands the job runs.
//! Touches: GitHub (one contents read), the job's event log and reporter.

use std::time::Duration;

use super::brief;
use super::detect::PlannedCommand;
use super::job_run::{Log, failed};
use super::run::PipelineContext;
use crate::github::RepoClient;
use crate::jobs::JobEnd;
use crate::repoconfig::{self, Effective, LoadError};
use crate::report::text;

/// A command to run with its timeout.
pub(crate) struct TimedCommand {
    pub run: String,
    pub timeout: Duration,
}

/// The job's setup and verification commands, timeouts resolved.
pub(crate) struct TimedPlan {
    pub setup: Vec<TimedCommand>,
    pub verify: Vec<TimedCommand>,
}

/// Reads `.github/maxion.yml` at the commit the job works on and resolves it
/// within the operator's bounds. An invalid file ends the job here, before
/// any git or sandbox work; every clamp is reported on GitHub.
pub(crate) async fn repo_config(
    ctx: &PipelineContext,
    repo: &RepoClient,
    log: &mut Log<'_>,
    sha: &str,
) -> Result<Effective, JobEnd> {
    let t = log.step_started("config").await;
    let loaded = match repoconfig::load(repo, sha).await {
        Ok(c) => c,
        Err(LoadError::Invalid(e)) => {
            log.step_finished("config", false, None, t).await;
            return Err(JobEnd::failed(text::config_invalid(&e), Some("config")));
        }
        Err(e) => {
            log.step_finished("config", false, None, t).await;
            return Err(failed(e, "config"));
        }
    };
    let eff = repoconfig::resolve(loaded.as_ref(), &ctx.bounds);
    log.info(text::config_read(loaded.is_some())).await;
    for c in &eff.clamps {
        let note = text::clamp_note(c);
        log.info(note.clone()).await;
        log.reporter.note(note);
    }
    log.step_finished("config", true, None, t).await;
    Ok(eff)
}

/// Puts the configured commands (they replace detected ones), the extra
/// instructions and the protected paths into the brief's input, so that the
/// brief lists exactly what the job runs; returns the commands with timeouts.
pub(crate) fn apply_config(eff: &Effective, gathered: &mut brief::Gathered) -> TimedPlan {
    let planned = |list: &[repoconfig::ConfiguredCommand]| -> Vec<PlannedCommand> {
        list.iter()
            .map(|c| PlannedCommand { kind: c.kind, run: c.run.clone(), reason: repoconfig::CONFIG_PATH.into() })
            .collect()
    };
    if let Some(setup) = &eff.setup {
        gathered.commands.setup = planned(setup);
    }
    if let Some(verify) = &eff.verify {
        gathered.commands.verify = planned(verify);
    }
    gathered.input.commands = gathered.commands.clone();
    gathered.input.repo_instructions = eff.instructions.clone();
    gathered.input.protected_paths = eff.protected.patterns().to_vec();
    let timed = |configured: &Option<Vec<repoconfig::ConfiguredCommand>>, detected: &[PlannedCommand]| match configured
    {
        Some(list) => list.iter().map(|c| TimedCommand { run: c.run.clone(), timeout: eff.timeout_of(c) }).collect(),
        None => detected.iter().map(|c| TimedCommand { run: c.run.clone(), timeout: eff.step_timeout }).collect(),
    };
    TimedPlan {
        setup: timed(&eff.setup, &gathered.commands.setup),
        verify: timed(&eff.verify, &gathered.commands.verify),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::brief::{BriefInput, Gathered, Limits, assemble};
    use crate::pipeline::detect::{CommandKind, CommandPlan};
    use crate::repoconfig::{Bounds, NetworkMode, parse, resolve};

    fn gathered() -> Gathered {
        let detected = CommandPlan {
            setup: vec![PlannedCommand {
                kind: CommandKind::Setup,
                run: "npm ci".into(),
                reason: "package.json".into(),
            }],
            verify: vec![PlannedCommand {
                kind: CommandKind::Test,
                run: "npm test".into(),
                reason: "package.json".into(),
            }],
        };
        Gathered {
            input: BriefInput { repository: "acme/widgets".into(), commands: detected.clone(), ..Default::default() },
            commands: detected,
            default_branch: "main".into(),
            head_sha: "0".repeat(40),
            clone_url: "https://example.invalid/acme/widgets.git".into(),
        }
    }

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

    #[test]
    fn configured_commands_replace_detected_ones_and_the_brief_lists_them() {
        let c = parse(
            "verify:\n  - { run: make check, kind: lint, timeout: 2m }\ninstructions: Prefer small commits.\n\
             protected_paths: ['db/**']\n",
        )
        .expect("valid");
        let eff = resolve(Some(&c), &bounds());
        let mut g = gathered();
        let plan = apply_config(&eff, &mut g);
        // Setup is not configured: the detected one stays, with the step timeout.
        assert_eq!(plan.setup.len(), 1);
        assert_eq!((plan.setup[0].run.as_str(), plan.setup[0].timeout), ("npm ci", Duration::from_secs(900)));
        assert_eq!(plan.verify.len(), 1);
        assert_eq!((plan.verify[0].run.as_str(), plan.verify[0].timeout), ("make check", Duration::from_secs(120)));
        let brief = assemble(&g.input, &Limits::default());
        assert!(brief.contains("1. `make check` (lint)"), "{brief}");
        assert!(!brief.contains("npm test"), "{brief}");
        assert!(brief.contains("## Repository instructions") && brief.contains("Prefer small commits."), "{brief}");
        assert!(brief.contains("files matching `db/**`"), "{brief}");
    }

    #[test]
    fn without_a_file_the_detected_commands_and_default_protection_stay() {
        let eff = resolve(None, &bounds());
        let mut g = gathered();
        let plan = apply_config(&eff, &mut g);
        assert_eq!(plan.verify[0].run, "npm test");
        let brief = assemble(&g.input, &Limits::default());
        assert!(brief.contains("1. `npm test` (test)"), "{brief}");
        assert!(brief.contains("files matching `.github/workflows/**`"), "{brief}");
        assert!(!brief.contains("## Repository instructions"), "{brief}");
    }
}
