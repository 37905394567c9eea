//! The configured model providers answer with the operator's real key.

use super::Check;
use crate::config::Settings;
use crate::gateway::probe::{ModelsAnswer, models};
use crate::gateway::{Gateway, Provider};
use crate::report::text::doctor as text;

pub(super) async fn checks(settings: &Settings) -> Vec<Check> {
    let e = &settings.egress;
    let gateway = Gateway::new(e.anthropic.clone(), e.openai.clone(), e.prices.clone()).with_llm_timeout(e.llm_timeout);
    let mut checks = Vec::new();
    for (provider, name, key_setting, url_setting) in [
        (Provider::Anthropic, "Anthropic", "ANTHROPIC_API_KEY", "MAXION_ANTHROPIC_URL"),
        (Provider::OpenAi, "OpenAI", "OPENAI_API_KEY", "MAXION_OPENAI_URL"),
    ] {
        let Some(answer) = models(&gateway, provider).await else { continue };
        checks.push(match answer {
            ModelsAnswer::Ok { url } => Check::pass(text::provider_ok(name, &url)),
            ModelsAnswer::Refused { url, status } => {
                Check::fail(text::provider_refused(name, &url, status), &text::provider_refused_fix(key_setting))
            }
            ModelsAnswer::Unexpected { url, status } => {
                Check::fail(text::provider_unexpected(name, &url, status), &text::provider_url_fix(url_setting))
            }
            ModelsAnswer::Unreachable { url, error } => {
                Check::fail(text::provider_unreachable(name, &url, &error), &text::provider_url_fix(url_setting))
            }
        });
    }
    checks
}
