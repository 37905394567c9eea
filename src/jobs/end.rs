//! How a job's run ended: the one type the pipeline returns, the reporter
//! words and the worker records.
//!
//! The job-end types and how they map (only these stay, each for its layer):
//! - [`JobEnd`] (here): how a run ended, with what a reader needs to know
//!   (the pull request, the failure and its output, who cancelled). Pipeline
//!   steps return it as their error (never `Succeeded`); the reporter shows it
//!   as `report::text::Phase::Ended`.
//! - [`super::JobState`]: the stored state machine, which also has the states
//!   before an end (`received`, `queued`, `running`) and `refused` (decided
//!   before any run). [`JobEnd::state`] is the mapping.
//! - `worker::JobOutcome`: what the worker pool records when a runner returns
//!   (a state and the stored reason). The pool runs any runner, so it takes
//!   this plain pair; the pipeline derives it from a [`JobEnd`] with the
//!   wording of `report::text::end_reason`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::JobState;

/// Why a step stopped before it could pass or fail on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStop {
    /// Someone cancelled the job, or the service shut down.
    Cancelled,
    /// The job's deadline passed.
    TimedOut,
}

/// How a job's run ended (stored as JSON while it is being shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "end", rename_all = "snake_case")]
pub enum JobEnd {
    /// `pull_request`: the PR's URL; `None` when there was nothing to change.
    Succeeded {
        pull_request: Option<String>,
    },
    Failed(Failure),
    /// `by`: the login of whoever asked; `None` for a shutdown or an unknown asker.
    Cancelled {
        by: Option<String>,
    },
    /// The job's deadline passed after `after`.
    TimedOut {
        after: Duration,
    },
}

/// Why a job failed, in which step, and the output that shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// One line for readers; worded by `report::text` or an error's message.
    pub reason: String,
    pub step: Option<String>,
    /// The last lines of the failing step's output (may be empty).
    pub last_lines: Vec<String>,
}

impl JobEnd {
    /// A failure in `step` without output to show.
    pub fn failed(reason: impl Into<String>, step: Option<&str>) -> Self {
        JobEnd::Failed(Failure { reason: reason.into(), step: step.map(str::to_owned), last_lines: Vec::new() })
    }

    /// The terminal state the store records for this end.
    pub fn state(&self) -> JobState {
        match self {
            JobEnd::Succeeded { .. } => JobState::Succeeded,
            JobEnd::Failed(_) => JobState::Failed,
            JobEnd::Cancelled { .. } => JobState::Cancelled,
            JobEnd::TimedOut { .. } => JobState::TimedOut,
        }
    }

    /// How a step still running at this end stopped; `None`: it failed.
    pub fn step_stop(&self) -> Option<StepStop> {
        match self {
            JobEnd::Cancelled { .. } => Some(StepStop::Cancelled),
            JobEnd::TimedOut { .. } => Some(StepStop::TimedOut),
            JobEnd::Succeeded { .. } | JobEnd::Failed(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_is_a_terminal_state_a_running_job_may_reach() {
        let ends = [
            JobEnd::Succeeded { pull_request: None },
            JobEnd::failed("r", None),
            JobEnd::Cancelled { by: None },
            JobEnd::TimedOut { after: Duration::from_secs(1) },
        ];
        for end in ends {
            assert!(end.state().is_terminal() && JobState::Running.can_move_to(end.state()), "{end:?}");
        }
    }
}
