//! At the end of a job's sandbox work: its model usage and refused hosts go
//! to the event log and, as notes, to the status comment and check run.

use super::job_run::{JobRun, Log};
use super::steps::verify::VerifyResult;
use crate::egress::JobEgress;
use crate::gateway::budget::Exceeded;
use crate::jobs::{Failure, JobEnd, JobEvent};
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
        log.reporter.note(note);
    }
}

/// After the sandbox work: the gateway is closed (its token revoked), the
/// usage and refused hosts reported, and a job its budget stopped ends so,
/// whatever the agent did after the refusal.
pub(crate) async fn after_sandbox(
    run: &mut JobRun<'_>,
    worked: Result<Vec<VerifyResult>, JobEnd>,
) -> Result<Vec<VerifyResult>, JobEnd> {
    let Some(e) = run.egress.clone() else { return worked };
    e.close();
    report(&mut run.log, &e).await;
    match budget_stop(&e) {
        Some(end) => Err(end),
        None => worked,
    }
}

/// The end of a job that ran into its model budget.
pub(crate) fn budget_stop(e: &JobEgress) -> Option<JobEnd> {
    let reason = match e.totals().exceeded? {
        Exceeded::Tokens { used, budget } => text::budget_stopped_tokens(used, budget),
        Exceeded::Usd { used, budget } => text::budget_stopped_usd(used, budget),
        Exceeded::Daily { used, budget } => text::budget_stopped_daily(used, budget),
    };
    Some(JobEnd::Failed(Failure { reason, step: Some("agent".into()), last_lines: Vec::new() }))
}

/// The job's egress limits from its effective configuration.
pub(crate) fn limits(eff: &crate::repoconfig::Effective, installation_id: i64) -> crate::egress::JobLimits {
    crate::egress::JobLimits {
        allow: eff.egress.allow.clone(),
        budget: crate::gateway::Budget {
            tokens: eff.egress.tokens,
            usd: eff.egress.usd_micros.map(|m| m as f64 / crate::repoconfig::egress::MICROS_PER_USD),
        },
        installation_id,
    }
}
