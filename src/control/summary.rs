//! A job as `/maxion status` shows it: state, step, elapsed time, queue
//! position and the expected wait, from the store.

use std::time::Duration;

use chrono::Utc;

use super::Control;
use crate::jobs::{Job, JobState};
use crate::report::text::JobSummary;

impl Control {
    pub(super) async fn summarize(&self, job: &Job) -> anyhow::Result<JobSummary> {
        let since = |t: chrono::DateTime<Utc>| (Utc::now() - t).to_std().unwrap_or_default();
        let (elapsed, position, wait) = match job.state {
            JobState::Running => (job.started_at.map(since), None, None),
            JobState::Queued => {
                let position = self.store.queue_position(job.id).await?;
                let recent = self.store.recent_run_times().await?;
                (None, Some(position), wait_estimate(position, &recent, self.settings.workers))
            }
            JobState::Received => (None, None, None),
            _ => {
                let ran = match (job.started_at, job.finished_at) {
                    (Some(s), Some(f)) => (f - s).to_std().ok(),
                    _ => None,
                };
                (ran, None, None)
            }
        };
        Ok(JobSummary {
            job_id: job.id,
            job_url: self.settings.report.job_url(job.id),
            state: job.state,
            step: job.step.clone(),
            elapsed,
            position,
            wait,
            error: job.error.clone(),
        })
    }
}

/// The jobs ahead, spread over the workers, times the mean recent run time.
/// A rough figure on purpose: `None` without history.
pub(super) fn wait_estimate(position: i64, recent: &[Duration], workers: usize) -> Option<Duration> {
    if recent.is_empty() {
        return None;
    }
    let mean = recent.iter().sum::<Duration>() / u32::try_from(recent.len()).unwrap_or(u32::MAX);
    let ahead = u32::try_from(position.saturating_sub(1).max(0)).unwrap_or(u32::MAX);
    let workers = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
    Some(mean * ahead.div_ceil(workers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_estimate_spreads_the_queue_over_the_workers() {
        let recent = [Duration::from_secs(60), Duration::from_secs(180)];
        assert_eq!(wait_estimate(1, &recent, 3), Some(Duration::ZERO));
        assert_eq!(wait_estimate(2, &recent, 3), Some(Duration::from_secs(120)));
        assert_eq!(wait_estimate(5, &recent, 3), Some(Duration::from_secs(240)));
        assert_eq!(wait_estimate(5, &recent, 0), Some(Duration::from_secs(480)));
        assert_eq!(wait_estimate(3, &[], 3), None);
    }
}
