//! A job's end, recorded before it is shown (see the migration
//! `pending_end`): the pipeline writes it just before telling GitHub, the
//! worker's state change follows once GitHub was told, and crash recovery
//! finishes the job from it when the process died in between, instead of
//! running the job again.

use anyhow::Context;
use sqlx::Row;

use super::JobId;
use super::end::JobEnd;
use super::model::JobState;
use super::store::Store;

impl Store {
    /// Records how attempt `attempt` of running job `job` ended, before it is
    /// shown. `false` if the job is no longer that attempt running (another
    /// instance took it over, or it already ended). Text is masked.
    pub async fn record_pending_end(
        &self,
        job: JobId,
        attempt: i64,
        state: JobState,
        reason: Option<&str>,
        end: &JobEnd,
    ) -> anyhow::Result<bool> {
        anyhow::ensure!(state.is_terminal(), "a pending end must be terminal, not {state}");
        let masker = crate::masker::global();
        let shown = masker.mask(&serde_json::to_string(end).context("encoding a job's end")?);
        let done = sqlx::query(
            "UPDATE jobs SET pending_end_state = $1, pending_end_reason = $2, pending_end = $3 \
             WHERE id = $4 AND attempts = $5 AND state = 'running'",
        )
        .bind(state.as_str())
        .bind(reason.map(|r| masker.mask(r)))
        .bind(shown)
        .bind(job.0)
        .bind(attempt)
        .execute(&self.pool)
        .await
        .context("recording a job's end before showing it")?;
        Ok(done.rows_affected() == 1)
    }

    /// The end recorded for `job` before it was shown, if any.
    pub async fn pending_end(&self, job: JobId) -> anyhow::Result<Option<JobEnd>> {
        let row = sqlx::query("SELECT pending_end FROM jobs WHERE id = $1")
            .bind(job.0)
            .fetch_optional(&self.pool)
            .await
            .context("reading a job's recorded end")?;
        let Some(json) = row.map(|r| r.try_get::<Option<String>, _>(0)).transpose()?.flatten() else {
            return Ok(None);
        };
        Ok(Some(serde_json::from_str(&json).context("a recorded job end is not valid JSON")?))
    }
}
