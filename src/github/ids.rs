//! GitHub's ids, as Maxion's own types. Each crosses modules (intake reads it,
//! the store keeps it, the client sends it), so a bare integer could be passed
//! where another was meant; these cannot. GitHub's ids and numbers are
//! non-negative; the store keeps them as SQL integers (`db`, `TryFrom<i64>`).

use serde::{Deserialize, Serialize};

macro_rules! github_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The value for an SQL integer column. GitHub's ids stay far below 2^63.
            pub fn db(self) -> i64 {
                i64::try_from(self.0).unwrap_or(i64::MAX)
            }
        }

        impl TryFrom<i64> for $name {
            type Error = std::num::TryFromIntError;
            fn try_from(v: i64) -> Result<Self, Self::Error> {
                u64::try_from(v).map($name)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

github_id!(
    /// An App installation (`installation.id`).
    InstallationId
);
github_id!(
    /// A repository (`repository.id`), stable across renames.
    RepoId
);
github_id!(
    /// An issue's or pull request's number within its repository.
    IssueNumber
);
github_id!(
    /// A comment's id (issue comments and review comments alike).
    CommentId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_sql_and_json() {
        let n = IssueNumber(42);
        assert_eq!(IssueNumber::try_from(n.db()), Ok(n));
        assert!(RepoId::try_from(-1).is_err());
        assert_eq!(serde_json::to_string(&InstallationId(7)).unwrap(), "7");
        assert_eq!(n.to_string(), "42");
    }
}
