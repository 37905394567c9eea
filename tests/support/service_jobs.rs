//! The harness's jobs: admitting one, waiting for a request, a state or a
//! job's end, and what a job recorded on the way.

use std::time::Duration;

use maxion::jobs::{Job, JobEvent, JobId, JobState, StoredEvent};

use super::fake_github::Pull;
use super::service::TestService;
use super::wait::until;

/// Long enough for any job of the scripted agent on a loaded machine.
pub const JOB_LIMIT: Duration = Duration::from_secs(120);

impl TestService {
    /// Waits until the control loop has processed the delivery's request; its outcome.
    pub async fn processed(&self, delivery: &str) -> String {
        until(Duration::from_secs(60), async || match self.store().control_outcome(delivery).await.expect("read") {
            Some((true, outcome)) => Ok(outcome.map(|o| o.as_str().to_owned()).unwrap_or_default()),
            Some((false, _)) => Err(format!("delivery {delivery} not processed")),
            None => panic!("delivery {delivery} stored no control request"),
        })
        .await
    }

    /// `login` comments `body` on the issue; the outcome once the control loop has processed it.
    pub async fn command(&self, issue: u64, login: &str, body: &str) -> String {
        let (delivery, _) = self.comment(issue, login, body).await;
        self.processed(&delivery).await
    }

    /// Starts a job for the issue by `alice`'s comment and waits for its admission.
    pub async fn queued_job(&self, issue: u64, instructions: &str) -> Job {
        let (d, outcome) = self.comment(issue, "alice", &format!("/maxion {instructions}")).await;
        assert_eq!(outcome, "job_created");
        assert_eq!(self.processed(&d).await, "admitted");
        let job = self.latest(issue).await.expect("a job");
        assert_eq!(job.state, JobState::Queued);
        job
    }

    /// A job admitted as [`TestService::queued_job`] and then claimed by
    /// another instance, as if running there.
    pub async fn running_job(&self, issue: u64, instructions: &str) -> Job {
        let job = self.queued_job(issue, instructions).await;
        self.run_elsewhere(job.id).await;
        job
    }

    /// The job is claimed by another instance, as if running there.
    pub async fn run_elsewhere(&self, job: JobId) {
        let claimed = self.store().claim_next("another-instance", Duration::from_secs(600)).await.expect("claim");
        assert_eq!(claimed.map(|j| j.id), Some(job));
    }

    /// The newest job for an issue, once it exists.
    pub async fn job_for(&self, issue: u64) -> Job {
        until(Duration::from_secs(10), async || {
            self.latest(issue).await.ok_or_else(|| format!("no job for issue #{issue}"))
        })
        .await
    }

    /// Waits (up to `limit`) until the job is in a terminal state.
    pub async fn wait_terminal(&self, id: JobId, limit: Duration) -> Job {
        until(limit, async || {
            let job = self.job(id).await;
            if job.state.is_terminal() { Ok(job) } else { Err(format!("job {id} still {}", job.state)) }
        })
        .await
    }

    /// Waits until the job reaches `state`.
    pub async fn wait_state(&self, id: JobId, state: JobState, limit: Duration) -> Job {
        until(limit, async || {
            let job = self.job(id).await;
            if job.state == state { Ok(job) } else { Err(format!("job {id} is {} not {state}", job.state)) }
        })
        .await
    }

    /// The issue's job, once it has ended.
    pub async fn job_ends(&self, issue: u64) -> Job {
        let job = self.job_for(issue).await;
        self.wait_terminal(job.id, JOB_LIMIT).await
    }

    /// Labels a new issue for the scripted agent's `script` and waits for its
    /// job to end: (issue, job).
    pub async fn run_to_end(&self, title: &str, script: &str) -> (u64, Job) {
        let issue = self.label_issue(title, script).await;
        (issue, self.job_ends(issue).await)
    }

    /// As [`TestService::run_to_end`], for a job that must succeed.
    pub async fn run_to_success(&self, title: &str, script: &str) -> (u64, Job) {
        let (issue, job) = self.run_to_end(title, script).await;
        assert_eq!(job.state, JobState::Succeeded, "job error: {:?}", job.error);
        (issue, job)
    }

    /// Everything the job recorded.
    pub async fn events(&self, job: JobId) -> Vec<StoredEvent> {
        self.store().job_events(job, 0, 10_000).await.expect("events")
    }

    /// The steps the job started, in order.
    pub async fn steps_started(&self, job: JobId) -> Vec<String> {
        self.events(job)
            .await
            .into_iter()
            .filter_map(|s| match s.event {
                JobEvent::StepStarted { step } => Some(step),
                _ => None,
            })
            .collect()
    }

    /// The pull request opened for the issue.
    pub fn pull_for(&self, issue: u64) -> Pull {
        let pulls = self.gh.pulls(self.repo);
        pulls.into_iter().find(|p| p.head.contains(&format!("issue-{issue}-"))).expect("a PR for the issue")
    }
}
