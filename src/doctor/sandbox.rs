//! The checks that run throwaway containers of the sandbox image: the agent
//! programs it holds, and, when network mode `filtered` is configured or
//! allowed, the same DNS isolation check `maxion serve` runs at start-up.

use bollard::Docker;

use super::Check;
use crate::config::Settings;
use crate::pipeline::agent::{AgentProfile, ProfileKind};
use crate::report::text::doctor as text;
use crate::sandbox::NetworkMode;

pub(super) async fn checks(settings: &Settings, docker: &Docker) -> Vec<Check> {
    // The serve instance's id: the orphan sweep of `maxion serve` removes a
    // probe a crash left behind.
    let instance = crate::worker::instance_id(&settings.data_dir).unwrap_or_else(|_| "doctor".to_owned());
    let mut checks = vec![agents(settings, docker, &instance).await];
    let p = &settings.pipeline;
    if p.sandbox_network == NetworkMode::Filtered || p.allowed_network_modes.contains(&NetworkMode::Filtered) {
        checks.push(dns(docker, &p.sandbox_image, &instance).await);
    }
    checks
}

async fn dns(docker: &Docker, image: &str, instance: &str) -> Check {
    match crate::sandbox::check_internal_dns(docker, image, instance).await {
        Ok(crate::sandbox::DnsCheck::Isolated) => Check::pass(text::dns_isolated()),
        Ok(crate::sandbox::DnsCheck::Leaks { engine_version }) => {
            Check::fail(text::dns_leaks(&engine_version), text::DNS_LEAKS_FIX)
        }
        Err(e) => Check::fail(text::dns_unchecked(&e.to_string()), text::PROBE_FIX),
    }
}

async fn agents(settings: &Settings, docker: &Docker, instance: &str) -> Check {
    let image = &settings.pipeline.sandbox_image;
    let kinds: Vec<ProfileKind> = ProfileKind::ALL.into_iter().filter(|k| k.program().is_some()).collect();
    let programs: Vec<&str> = kinds.iter().filter_map(|k| k.program()).collect();
    let found = match crate::sandbox::programs_in_image(docker, image, &programs, instance).await {
        Ok(f) => f,
        Err(e) => return Check::fail(text::agents_unchecked(&e.to_string()), text::PROBE_FIX),
    };
    let present: Vec<&str> = programs.iter().zip(&found).filter(|(_, f)| **f).map(|(p, _)| *p).collect();
    let absent: Vec<&str> = programs.iter().zip(&found).filter(|(_, f)| !**f).map(|(p, _)| *p).collect();
    let profile = AgentProfile::for_kind(&settings.pipeline.agent);
    match profile.kind.program() {
        Some(program) if absent.contains(&program) => Check::fail(
            text::agent_missing(image, &profile.name, program, &present),
            &text::agent_fix(profile.kind.image_stage()),
        ),
        program => Check::pass(text::agents_ok(image, &profile.name, program, &present, &absent)),
    }
}
