//! The job model: what a job is, its state machine and the events it records.
//! Plain data, no I/O; the store (`store.rs`) persists it.

use serde::{Deserialize, Serialize};

pub use crate::github::{CommentId, InstallationId, IssueNumber, RepoId};

/// A job's id in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// `received -> queued -> running -> succeeded | failed | cancelled | timed_out`,
/// or `received -> refused` when the sender may not start jobs.
/// A running job whose lease is lost goes back to `queued` once (see the worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Recorded by intake; waits for the control loop to check the sender's
    /// permission. Not claimable by workers.
    Received,
    Queued,
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
    /// The sender lacked the permission to start a job.
    Refused,
}

impl JobState {
    pub const ALL: [JobState; 8] = [
        JobState::Received,
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::TimedOut,
        JobState::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Received => "received",
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::TimedOut => "timed_out",
            JobState::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Received, queued and running jobs are "active": at most one per (repository, issue).
    pub fn is_active(self) -> bool {
        matches!(self, JobState::Received | JobState::Queued | JobState::Running)
    }

    pub fn is_terminal(self) -> bool {
        !self.is_active()
    }

    /// The transitions the state machine allows.
    pub fn can_move_to(self, next: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Received, Queued)
                | (Received, Refused)
                | (Received, Cancelled)
                | (Received, Failed)
                | (Queued, Running)
                | (Queued, Cancelled)
                | (Running, Queued)
                | (Running, Succeeded)
                | (Running, Failed)
                | (Running, Cancelled)
                | (Running, TimedOut)
                | (Queued, Failed)
        )
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What started a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// The trigger label was added to the issue.
    Label,
    /// A `/maxion [instructions]` comment.
    Comment,
    /// `/maxion retry` or a check-run re-run.
    Retry,
    /// `/maxion <feedback>` on a pull request Maxion opened.
    FollowUp,
}

impl TriggerKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Label => "label",
            TriggerKind::Comment => "comment",
            TriggerKind::Retry => "retry",
            TriggerKind::FollowUp => "follow_up",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [TriggerKind::Label, TriggerKind::Comment, TriggerKind::Retry, TriggerKind::FollowUp]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// The repository a job works on, as the webhook described it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoRef {
    pub id: RepoId,
    /// `owner/name`.
    pub full_name: String,
    pub clone_url: String,
    pub default_branch: String,
}

impl RepoRef {
    /// `(owner, name)`; `full_name` always has one slash (checked at intake).
    pub fn owner_and_name(&self) -> (&str, &str) {
        self.full_name.split_once('/').unwrap_or((self.full_name.as_str(), ""))
    }
}

/// Everything needed to create a job; built by intake from a trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewJob {
    pub installation_id: InstallationId,
    pub repo: RepoRef,
    pub issue_number: IssueNumber,
    pub issue_title: String,
    pub trigger: TriggerKind,
    /// The comment that triggered the job (for the `eyes` reaction), if any.
    pub trigger_comment_id: Option<CommentId>,
    pub sender_login: String,
    pub sender_id: i64,
    /// Extra instructions from `/maxion <text>` (for a follow-up, the feedback).
    pub instructions: Option<String>,
    pub delivery_id: String,
    /// Set when the job continues a pull request Maxion opened; `issue_number`
    /// is then the pull request's number. Kept by retries of the job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow_up: Option<FollowUp>,
}

/// Feedback on a pull request Maxion opened, and where it was given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowUp {
    pub source: FeedbackSource,
    /// For a review comment: the file, line and diff hunk it is attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchor: Option<ReviewAnchor>,
}

/// Where on the pull request the feedback was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackSource {
    /// A comment in the pull request's conversation.
    Comment,
    /// The body of a review.
    Review,
    /// A comment on a line of the diff.
    ReviewComment,
}

/// The part of the diff a review comment is attached to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewAnchor {
    pub path: String,
    pub line: Option<i64>,
    pub diff_hunk: Option<String>,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub state: JobState,
    #[serde(flatten)]
    pub spec: NewJob,
    /// How many times a worker has started this job (crash recovery retries once).
    pub attempts: i64,
    /// The step the job is in while running (`setup`, `implement`, ...).
    pub step: Option<String>,
    pub error: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The branch the job pushed and the pull request it opened or updated.
    pub branch: Option<String>,
    pub pr_number: Option<IssueNumber>,
    /// The status comment posted when the job was admitted; the job edits it by id.
    #[serde(skip)]
    pub status_comment_id: Option<CommentId>,
}

/// Which output stream a line came from (the sandbox's own type: stdout,
/// stderr, or a notice Maxion wrote into the output, like bytes dropped).
pub use crate::sandbox::OutputStream;

/// One entry of a job's append-only event log. Text fields are masked
/// before they are stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobEvent {
    StateChanged {
        from: JobState,
        to: JobState,
        reason: Option<String>,
    },
    StepStarted {
        step: String,
    },
    StepFinished {
        step: String,
        ok: bool,
        exit_code: Option<i64>,
        duration_ms: u64,
        /// Set when the step was stopped (cancelled, out of time) rather than failing.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stopped: Option<super::StepStop>,
    },
    Output {
        step: String,
        stream: OutputStream,
        text: String,
    },
    Info {
        message: String,
    },
    Error {
        message: String,
    },
    /// One decision of the egress proxy (mode `filtered`).
    Egress {
        /// `CONNECT` or the forwarded request's method.
        method: String,
        host: String,
        port: u16,
        /// The address dialled (allowed) or the one that caused a refusal.
        address: Option<String>,
        allowed: bool,
        reason: Option<String>,
        bytes_up: u64,
        bytes_down: u64,
        duration_ms: u64,
    },
    /// One model call through the LLM gateway.
    LlmCall {
        provider: String,
        model: String,
        /// The upstream's HTTP status (or the gateway's own refusal).
        status: u16,
        input_tokens: u64,
        cached_tokens: u64,
        output_tokens: u64,
        reasoning_tokens: u64,
        latency_ms: u64,
        /// `false`: the answer carried no usage (e.g. a stream cut off), the
        /// tokens are the gateway's estimate of the input.
        usage_reported: bool,
        /// `None`: the model is not in the price table.
        cost_usd: Option<f64>,
    },
}

impl JobEvent {
    /// The short kind stored in its own column, for filtering.
    pub fn kind(&self) -> &'static str {
        match self {
            JobEvent::StateChanged { .. } => "state_changed",
            JobEvent::StepStarted { .. } => "step_started",
            JobEvent::StepFinished { .. } => "step_finished",
            JobEvent::Output { .. } => "output",
            JobEvent::Info { .. } => "info",
            JobEvent::Error { .. } => "error",
            JobEvent::Egress { .. } => "egress",
            JobEvent::LlmCall { .. } => "llm_call",
        }
    }
}

/// A stored event with its id (monotonically increasing, also within a job).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub id: i64,
    pub job_id: JobId,
    pub at: chrono::DateTime<chrono::Utc>,
    #[serde(flatten)]
    pub event: JobEvent,
}
