//! Missed-delivery recovery. GitHub does not redeliver a webhook that
//! failed (Maxion down, unreachable, answering 5xx), so at start-up and every
//! `MAXION_REDELIVERY_INTERVAL` one instance (holding the check's lease in
//! the store) pages through the App's delivery log back to the last check
//! (the first time: 24 hours), groups the attempts by event (`guid`, the
//! `X-GitHub-Delivery` header) and, for every event with no successful
//! attempt and no row in the deliveries table, asks GitHub to deliver its
//! newest attempt again. Each ask is claimed in the store first (one row per
//! guid), so several instances never ask twice; its outcome is recorded,
//! counted in [`metrics`] and summed up in one log line per check. An ask
//! that did not bring the event (GitHub refused it, or its new attempt
//! failed too) is repeated at later checks, at most [`MAX_ASKS`] times.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::github::{GitHubApp, HookDelivery};
use crate::jobs::{Claim, RedeliveryOutcome, Store};

/// How far back the first check looks.
const FIRST_LOOKBACK: Duration = Duration::from_secs(24 * 3600);
/// Each check also looks this far behind the previous one's start, for
/// attempts GitHub listed late; events already handled are skipped anyway.
const OVERLAP: Duration = Duration::from_secs(300);
/// How long a check may hold the lease before another instance may take over.
const LEASE: Duration = Duration::from_secs(600);
/// A bound on one check's pages (100 attempts each).
const MAX_PAGES: usize = 1000;
/// The most times Maxion asks GitHub to redeliver one event: enough to ride
/// out a restart or a short outage, few enough that an event Maxion can
/// never accept stops being asked for.
pub const MAX_ASKS: u32 = 3;

/// What one check found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub pages: usize,
    /// Attempts within the window.
    pub attempts: usize,
    /// Events with no successful attempt.
    pub missed: usize,
    /// ... of which Maxion has stored the delivery after all.
    pub already_stored: usize,
    /// ... of which a redelivery was already asked for (by any instance)
    /// and is still under way.
    pub already_asked: usize,
    /// ... of which were asked for [`MAX_ASKS`] times already: given up.
    pub given_up: usize,
    /// Redeliveries GitHub accepted.
    pub requested: usize,
    /// Redeliveries GitHub refused or that could not be asked for.
    pub failed: usize,
}

/// A check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Done(CheckReport),
    /// Another instance holds the lease.
    Busy,
}

/// Process-wide counters, since start.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Metrics {
    pub checks: u64,
    pub requested: u64,
    pub failed: u64,
}

static CHECKS: AtomicU64 = AtomicU64::new(0);
static REQUESTED: AtomicU64 = AtomicU64::new(0);
static FAILED: AtomicU64 = AtomicU64::new(0);

/// The counters of this process's checks.
pub fn metrics() -> Metrics {
    Metrics {
        checks: CHECKS.load(Ordering::Relaxed),
        requested: REQUESTED.load(Ordering::Relaxed),
        failed: FAILED.load(Ordering::Relaxed),
    }
}

/// The recovery of one instance.
#[derive(Debug, Clone)]
pub struct Redelivery {
    app: GitHubApp,
    store: Store,
    holder: String,
}

impl Redelivery {
    /// `holder` names this instance in leases and records.
    pub fn new(app: GitHubApp, store: Store, holder: impl Into<String>) -> Self {
        Self { app, store, holder: holder.into() }
    }

    /// Frees the check's lease and the unanswered claims an earlier process
    /// of this instance left (a holder `INSTANCE:PID` shares the prefix
    /// `INSTANCE:`); a holder without `:` names no instance and frees nothing.
    pub async fn release_predecessors(&self) -> anyhow::Result<u64> {
        let Some((instance, _)) = self.holder.rsplit_once(':') else { return Ok(0) };
        self.store.release_redelivery_predecessors(&format!("{instance}:"), &self.holder).await
    }

    /// Checks now, then every `interval`, until `stop`.
    pub fn spawn(self, interval: Duration, stop: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(async move {
            // Killed while checking, the last process would block every
            // instance's checks until its lease ran out.
            if let Err(e) = self.release_predecessors().await {
                tracing::warn!(error = %e, "freeing what an earlier run left of the missed-delivery check failed");
            }
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = ticks.tick() => {}
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    result = self.check() => {
                        if let Err(e) = result {
                            tracing::warn!(error = %e, "missed-delivery check failed; trying again at the next one");
                        }
                    }
                }
            }
        })
    }

    /// One check (see the module's description).
    pub async fn check(&self) -> anyhow::Result<Check> {
        let started = Utc::now();
        let Some(last) = self.store.lease_redelivery_check(&self.holder, LEASE).await? else {
            tracing::debug!("missed-delivery check skipped: another instance is checking");
            return Ok(Check::Busy);
        };
        let since = match last {
            Some(t) => t - chrono::Duration::from_std(OVERLAP).unwrap_or_default(),
            None => started - chrono::Duration::from_std(FIRST_LOOKBACK).unwrap_or_default(),
        };
        let mut report = CheckReport::default();
        let events = self.missed_events(since, &mut report).await?;
        report.missed = events.len();
        for newest in &events {
            let ask = Ask { guid: &newest.guid, id: newest.id, event: &newest.event, action: newest.action.as_deref() };
            self.recover(ask, &mut report).await?;
        }
        // Asks GitHub refused for events whose attempts are now older than
        // the window: asked again from what was recorded.
        for r in self.store.redeliveries_to_retry(MAX_ASKS).await? {
            if events.iter().any(|e| e.guid == r.guid) {
                continue;
            }
            report.missed += 1;
            let id = u64::try_from(r.delivery_id).unwrap_or_default();
            let ask = Ask { guid: &r.guid, id, event: &r.event, action: r.action.as_deref() };
            self.recover(ask, &mut report).await?;
        }
        self.store.finish_redelivery_check(&self.holder, started).await?;
        CHECKS.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            pages = report.pages,
            attempts = report.attempts,
            missed = report.missed,
            already_stored = report.already_stored,
            already_asked = report.already_asked,
            given_up = report.given_up,
            requested = report.requested,
            failed = report.failed,
            "missed-delivery check"
        );
        Ok(Check::Done(report))
    }

    /// The newest attempt of each event delivered since `since` that has no
    /// successful attempt, oldest event first.
    async fn missed_events(&self, since: DateTime<Utc>, report: &mut CheckReport) -> anyhow::Result<Vec<HookDelivery>> {
        struct Event {
            ok: bool,
            newest: HookDelivery,
        }
        let mut events: HashMap<String, Event> = HashMap::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.app.hook_deliveries(cursor.as_deref()).await?;
            report.pages += 1;
            let mut past_window = page.deliveries.is_empty();
            for d in page.deliveries {
                if d.delivered_at < since {
                    past_window = true;
                    continue;
                }
                report.attempts += 1;
                match events.get_mut(&d.guid) {
                    Some(e) => {
                        e.ok |= d.succeeded();
                        if (d.delivered_at, d.id) > (e.newest.delivered_at, e.newest.id) {
                            e.newest = d;
                        }
                    }
                    None => {
                        events.insert(d.guid.clone(), Event { ok: d.succeeded(), newest: d });
                    }
                }
            }
            match page.next_cursor {
                Some(next) if !past_window && report.pages < MAX_PAGES => cursor = Some(next),
                _ => break,
            }
        }
        let mut missed: Vec<HookDelivery> = events.into_values().filter(|e| !e.ok).map(|e| e.newest).collect();
        missed.sort_by_key(|d| (d.delivered_at, d.id));
        Ok(missed)
    }

    async fn recover(&self, ask: Ask<'_>, report: &mut CheckReport) -> anyhow::Result<()> {
        if self.store.delivery(ask.guid).await?.is_some() {
            report.already_stored += 1;
            return Ok(());
        }
        let id = i64::try_from(ask.id).unwrap_or(i64::MAX);
        match self.store.claim_redelivery(ask.guid, id, ask.event, ask.action, &self.holder, MAX_ASKS).await? {
            Claim::Claimed => {}
            Claim::Taken => {
                report.already_asked += 1;
                return Ok(());
            }
            Claim::Exhausted => {
                report.given_up += 1;
                return Ok(());
            }
        }
        match self.app.redeliver_hook_delivery(ask.id).await {
            Ok(()) => {
                self.store.record_redelivery(ask.guid, RedeliveryOutcome::Requested, None).await?;
                report.requested += 1;
                REQUESTED.fetch_add(1, Ordering::Relaxed);
                tracing::info!(guid = %ask.guid, event = %ask.event, "asked GitHub to redeliver a missed webhook");
            }
            Err(e) => {
                let detail = e.to_string();
                self.store.record_redelivery(ask.guid, RedeliveryOutcome::Failed, Some(&detail)).await?;
                report.failed += 1;
                FAILED.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(guid = %ask.guid, error = %detail, "asking GitHub to redeliver a webhook failed");
            }
        }
        Ok(())
    }
}

/// One event to ask GitHub for again: its newest known attempt.
#[derive(Clone, Copy)]
struct Ask<'a> {
    guid: &'a str,
    id: u64,
    event: &'a str,
    action: Option<&'a str>,
}
