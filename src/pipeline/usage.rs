//! At the end of a job's sandbox work: its model usage and refused hosts go
//! to the event log and, as notes, to the status comment and check run.

use super::run::{Log, Stop};
use crate::egress::JobEgress;
use crate::gateway::budget::Exceeded;
use crate::jobs::JobEvent;
use crate::report::text;

/// The usage view of a job's gateway totals.
pub(crate) fn view(e: &JobEgress) -> text::UsageView {
    let t = e.totals();
    text::UsageView {
        calls: t.calls,
        input: t.input,
        cached: t.cached,
        output: t.output,
        cost_usd: t.cost_usd,
        unpriced_calls: t.unpriced_calls,
        llm_time: t.llm_time,
    }
}

pub(crate) async fn report(log: &mut Log<'_>, e: &JobEgress) {
    let mut notes = Vec::new();
    if let Some(line) = text::usage_line(&view(e)) {
        notes.push(line);
    }
    if let Some(line) = text::blocked_hosts(&e.refused_hosts()) {
        notes.push(line);
    }
    log.pr_notes.extend(notes.iter().cloned());
    for note in notes {
        log.event(JobEvent::Info { message: note.clone() }).await;
        if let Some(r) = log.reporter.as_deref_mut() {
            r.note(note);
        }
    }
}

/// The stop of a job that ran into its model budget.
pub(crate) fn budget_stop(e: &JobEgress) -> Option<Stop> {
    let reason = match e.totals().exceeded? {
        Exceeded::Tokens { used, budget } => text::budget_stopped_tokens(used, budget),
        Exceeded::Usd { used, budget } => text::budget_stopped_usd(used, budget),
        Exceeded::Daily { used, budget } => text::budget_stopped_daily(used, budget),
    };
    Some(Stop::Failed { reason, step: Some("agent".into()), last_lines: Vec::new() })
}

/// The job's egress limits from its effective configuration.
pub(crate) fn limits(eff: &crate::repoconfig::Effective, installation_id: i64) -> crate::egress::JobLimits {
    crate::egress::JobLimits {
        allow: eff.egress.allow.clone(),
        budget: crate::gateway::Budget {
            tokens: eff.egress.tokens,
            usd: eff.egress.usd_micros.map(|m| m as f64 / crate::repoconfig::egress::MICROS_PER_USD),
            daily: None,
        },
        installation_id,
    }
}
