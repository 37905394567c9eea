//! Who may do what: the sender's repository permission from the
//! collaborator-permission endpoint, cached for a few minutes per
//! (repository, user) so a burst of commands costs one GitHub call.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::github::{GitHubError, RepoClient, RepoPermission};
use crate::jobs::ControlAction;

/// Whether `has` may do `action` when the operator requires `required`.
/// `status`, `help` and near-miss hints are open to anyone who can comment.
pub fn permitted(action: &ControlAction, has: RepoPermission, required: RepoPermission) -> bool {
    !action.needs_permission() || has >= required
}

/// Permission look-ups with a time-to-live.
pub struct PermissionCache {
    ttl: Duration,
    entries: Mutex<HashMap<(String, String), (RepoPermission, Instant)>>,
}

impl PermissionCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// `user`'s permission on `repo`, from the cache or GitHub.
    pub async fn get(&self, repo: &RepoClient, user: &str) -> Result<RepoPermission, GitHubError> {
        // Logins and repository names are case-insensitive on GitHub.
        let key = (repo.full_name().to_ascii_lowercase(), user.to_ascii_lowercase());
        {
            let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((p, at)) = entries.get(&key)
                && at.elapsed() < self.ttl
            {
                return Ok(*p);
            }
        }
        let permission = repo.collaborator_permission(user).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Bounded: expired entries go whenever the map grows large.
        if entries.len() > 10_000 {
            entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
        }
        entries.insert(key, (permission, Instant::now()));
        Ok(permission)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::JobId;

    const LEVELS: [RepoPermission; 6] = [
        RepoPermission::None,
        RepoPermission::Read,
        RepoPermission::Triage,
        RepoPermission::Write,
        RepoPermission::Maintain,
        RepoPermission::Admin,
    ];

    fn actions() -> Vec<ControlAction> {
        let job = JobId(1);
        vec![
            ControlAction::Admit { job },
            ControlAction::AlreadyActive { job },
            ControlAction::Status,
            ControlAction::Cancel,
            ControlAction::Retry,
            ControlAction::Help,
            ControlAction::NearMiss { word: "cancle".into(), suggestion: "cancel".into() },
            ControlAction::Unlabeled,
            ControlAction::CheckRunRetry { job },
            ControlAction::CheckRunCancel { job },
        ]
    }

    /// Every action at every permission level under every operator setting.
    #[test]
    fn every_level_for_every_action() {
        for required in [RepoPermission::Triage, RepoPermission::Write, RepoPermission::Maintain, RepoPermission::Admin]
        {
            for action in actions() {
                for has in LEVELS {
                    let open =
                        matches!(action, ControlAction::Status | ControlAction::Help | ControlAction::NearMiss { .. });
                    let expected = open || has >= required;
                    assert_eq!(permitted(&action, has, required), expected, "{action:?} by {has:?} under {required:?}");
                }
            }
        }
        // Spot checks of the ordering the matrix relies on.
        assert!(!permitted(&ControlAction::Cancel, RepoPermission::Triage, RepoPermission::Write));
        assert!(permitted(&ControlAction::Cancel, RepoPermission::Admin, RepoPermission::Write));
        assert!(permitted(&ControlAction::Status, RepoPermission::None, RepoPermission::Admin));
    }
}
