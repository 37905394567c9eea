//! What one webhook delivery means to Maxion, and what became of it: intake
//! turns a verified delivery into an [`Effect`], the ledger records it and
//! answers with a [`DeliveryOutcome`]. Plain data, no I/O.

use serde::{Deserialize, Serialize};

use super::model::{InstallationId, JobId, NewJob, RepoId};
use super::request::{CheckRunRequest, ControlRequest};

/// What a delivery does to the store, decided by intake before it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// `ping`: GitHub checking the hook.
    Ping,
    /// The App was installed, removed, suspended or unsuspended.
    Installation(InstallationChange),
    /// Repositories were added to or removed from an installation.
    InstallationRepos { installation_id: InstallationId, added: Vec<RepoBrief>, removed: Vec<RepoBrief> },
    /// Create a job, or attach the trigger to the active job.
    Run(NewJob),
    /// A command or a label removal; for the control loop.
    Control(ControlRequest),
    /// GitHub's "Re-run" or a button on Maxion's check run (names a job, not an issue).
    CheckRun(CheckRunRequest),
    /// Valid, but nothing for Maxion to do; the reason is recorded.
    Ignored(String),
    /// Signed, but not a payload Maxion can read; recorded and answered 400.
    Malformed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallationChange {
    pub action: InstallationAction,
    pub installation_id: InstallationId,
    pub account_login: String,
    pub account_id: i64,
    pub repos: Vec<RepoBrief>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstallationAction {
    Created,
    Deleted,
    Suspend,
    Unsuspend,
}

/// A repository as installation events list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoBrief {
    pub id: RepoId,
    pub full_name: String,
}

/// A stored delivery, as `Store::delivery` reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelivery {
    pub event: String,
    pub action: Option<String>,
    pub outcome: DeliveryOutcome,
    pub job_id: Option<JobId>,
}

/// What became of a delivery; stored in `deliveries.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// Stored; nothing else to do (ping, installation changes).
    Recorded,
    /// Valid, but nothing for Maxion to do.
    Ignored,
    /// Not a payload Maxion can read.
    Malformed,
    /// Inserted, its effect not applied yet (only seen inside the transaction).
    Pending,
    /// A new job was created.
    JobCreated,
    /// The trigger was attached to the active job.
    JobTriggered,
    /// A new job would have passed the installation's rate limit.
    RateLimited,
    /// A control request was stored.
    Command,
}

impl DeliveryOutcome {
    pub const ALL: [DeliveryOutcome; 8] = [
        DeliveryOutcome::Recorded,
        DeliveryOutcome::Ignored,
        DeliveryOutcome::Malformed,
        DeliveryOutcome::Pending,
        DeliveryOutcome::JobCreated,
        DeliveryOutcome::JobTriggered,
        DeliveryOutcome::RateLimited,
        DeliveryOutcome::Command,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Recorded => "recorded",
            DeliveryOutcome::Ignored => "ignored",
            DeliveryOutcome::Malformed => "malformed",
            DeliveryOutcome::Pending => "pending",
            DeliveryOutcome::JobCreated => "job_created",
            DeliveryOutcome::JobTriggered => "job_triggered",
            DeliveryOutcome::RateLimited => "rate_limited",
            DeliveryOutcome::Command => "command",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The control loop has something new to act on.
    pub fn wakes_control(self) -> bool {
        matches!(self, DeliveryOutcome::JobCreated | DeliveryOutcome::JobTriggered | DeliveryOutcome::Command)
    }
}

impl std::fmt::Display for DeliveryOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Effect {
    /// The outcome and detail stored when the delivery row is inserted.
    pub(crate) fn initial(&self) -> (DeliveryOutcome, Option<&str>) {
        match self {
            Effect::Ping => (DeliveryOutcome::Recorded, Some("ping")),
            Effect::Installation(_) | Effect::InstallationRepos { .. } => (DeliveryOutcome::Recorded, None),
            Effect::Run(_) | Effect::Control(_) | Effect::CheckRun(_) => (DeliveryOutcome::Pending, None),
            Effect::Ignored(reason) => (DeliveryOutcome::Ignored, Some(reason)),
            Effect::Malformed(message) => (DeliveryOutcome::Malformed, Some(message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryOutcome;

    #[test]
    fn outcomes_round_trip_through_their_column_text() {
        for o in DeliveryOutcome::ALL {
            assert_eq!(DeliveryOutcome::parse(o.as_str()), Some(o));
            assert_eq!(serde_json::to_value(o).unwrap(), serde_json::json!(o.as_str()));
        }
        assert_eq!(DeliveryOutcome::parse("job_creatd"), None);
    }
}
