//! What `/metrics` reads from the store at scrape time.

use std::time::Duration;

use anyhow::Context;
use sqlx::Row;

use super::model::JobState;
use super::store::{Store, now_ms};

/// Totals over the whole store (every instance sharing it sees the same).
#[derive(Debug, Default)]
pub struct MetricsSnapshot {
    pub jobs_by_state: Vec<(JobState, i64)>,
    pub oldest_queued_wait: Duration,
    /// `(event, outcome, count)`.
    pub deliveries: Vec<(String, String, i64)>,
}

impl Store {
    pub async fn metrics_snapshot(&self) -> anyhow::Result<MetricsSnapshot> {
        let rows = sqlx::query("SELECT state, COUNT(*) FROM jobs GROUP BY state")
            .fetch_all(&self.pool)
            .await
            .context("counting jobs by state")?;
        let mut jobs_by_state = Vec::new();
        for r in rows {
            let state: String = r.try_get(0)?;
            if let Some(s) = JobState::parse(&state) {
                jobs_by_state.push((s, r.try_get::<i64, _>(1)?));
            }
        }
        let row = sqlx::query("SELECT MIN(created_at) FROM jobs WHERE state = 'queued'")
            .fetch_one(&self.pool)
            .await
            .context("reading the oldest queued job")?;
        let oldest: Option<i64> = row.try_get(0)?;
        let oldest_queued_wait =
            oldest.map_or(Duration::ZERO, |t| Duration::from_millis(u64::try_from(now_ms() - t).unwrap_or(0)));
        let rows = sqlx::query("SELECT event, outcome, COUNT(*) FROM deliveries GROUP BY event, outcome")
            .fetch_all(&self.pool)
            .await
            .context("counting deliveries")?;
        let deliveries = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(MetricsSnapshot { jobs_by_state, oldest_queued_wait, deliveries })
    }
}
