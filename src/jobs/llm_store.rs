//! Model calls through the LLM gateway, one row each (`llm_calls`): per job
//! sums for its report, and an installation's spend per UTC day for
//! `MAXION_DAILY_COST_BUDGET`.

use anyhow::Context;
use sqlx::Row;

use super::model::{JobEvent, JobId};
use super::store::{Store, now_ms};

/// A job's model usage, summed.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LlmSums {
    pub calls: u64,
    pub input_tokens: u64,
    pub cached_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_tokens: u64,
    pub latency_ms: u64,
    pub cost_usd: f64,
}

/// Costs are stored in millionths of a USD: integers sum exactly.
const MICROS: f64 = 1_000_000.0;

fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// Records one `JobEvent::LlmCall` (other events are ignored).
    pub async fn record_llm_call(&self, job: JobId, installation_id: i64, event: &JobEvent) -> anyhow::Result<()> {
        let JobEvent::LlmCall {
            provider,
            model,
            status,
            input_tokens,
            cached_tokens,
            output_tokens,
            reasoning_tokens,
            latency_ms,
            usage_reported,
            cost_usd,
        } = event
        else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO llm_calls (job_id, installation_id, at, provider, model, status, input_tokens, \
             cached_tokens, output_tokens, reasoning_tokens, latency_ms, usage_reported, cost_micro_usd) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(job.0)
        .bind(installation_id)
        .bind(now_ms())
        .bind(provider.as_str())
        .bind(crate::masker::global().mask(model))
        .bind(i32::from(*status))
        .bind(int(*input_tokens))
        .bind(int(*cached_tokens))
        .bind(int(*output_tokens))
        .bind(int(*reasoning_tokens))
        .bind(int(*latency_ms))
        .bind(i32::from(*usage_reported))
        .bind(cost_usd.map(|c| (c * MICROS).round() as i64))
        .execute(&self.pool)
        .await
        .context("recording a model call")?;
        Ok(())
    }

    /// A job's model usage, summed over its calls.
    pub async fn llm_sums(&self, job: JobId) -> anyhow::Result<LlmSums> {
        let row = sqlx::query(
            "SELECT CAST(COUNT(*) AS BIGINT), CAST(COALESCE(SUM(input_tokens), 0) AS BIGINT), \
             CAST(COALESCE(SUM(cached_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(output_tokens), 0) AS BIGINT), \
             CAST(COALESCE(SUM(reasoning_tokens), 0) AS BIGINT), CAST(COALESCE(SUM(latency_ms), 0) AS BIGINT), \
             CAST(COALESCE(SUM(cost_micro_usd), 0) AS BIGINT) FROM llm_calls WHERE job_id = $1",
        )
        .bind(job.0)
        .fetch_one(&self.pool)
        .await
        .context("summing a job's model calls")?;
        let n = |i: usize| row.try_get::<i64, _>(i).map(|v| v.max(0) as u64);
        Ok(LlmSums {
            calls: n(0)?,
            input_tokens: n(1)?,
            cached_tokens: n(2)?,
            output_tokens: n(3)?,
            reasoning_tokens: n(4)?,
            latency_ms: n(5)?,
            cost_usd: row.try_get::<i64, _>(6)? as f64 / MICROS,
        })
    }

    /// What an installation's model calls cost since `since_ms` (Unix ms).
    pub async fn llm_cost_since(&self, installation_id: i64, since_ms: i64) -> anyhow::Result<f64> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(cost_micro_usd), 0) AS BIGINT) FROM llm_calls \
             WHERE installation_id = $1 AND at >= $2",
        )
        .bind(installation_id)
        .bind(since_ms)
        .fetch_one(&self.pool)
        .await
        .context("summing an installation's model spend")?;
        Ok(row.try_get::<i64, _>(0)? as f64 / MICROS)
    }
}
