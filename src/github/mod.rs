//! GitHub App authentication and the API calls Maxion makes.
//!
//! [`GitHubApp`] is the App-level client (JWT, installation tokens, `/app`);
//! [`RepoClient`] makes the calls for one (installation, repository) pair,
//! each with a token narrowed to that repository and the permission the call
//! needs. Every request goes through octocrab's raw request API with Maxion's
//! own retry policy ([`RetryPolicy`]) and per-installation mutation limiter
//! ([`MutationQuota`]). [`Coalescer`] throttles progress updates.

mod app;
mod checks;
mod coalesce;
mod error;
mod hook_deliveries;
mod ids;
mod issues;
pub mod jwt;
mod limiter;
pub mod manifest;
mod pulls;
mod repo;
mod tasks;
mod tokens;
mod transport;
mod types;
mod user;

pub use app::{GitHubApp, GitHubConfig, RetryPolicy};
pub use checks::{ANNOTATIONS_PER_REQUEST, MAX_ACTIONS, MAX_OUTPUT_CHARS, truncate_with_note};
pub use coalesce::Coalescer;
pub use error::GitHubError;
pub use hook_deliveries::{HOOK_DELIVERIES_PER_PAGE, HookDelivery, HookDeliveryPage};
pub use ids::{CommentId, InstallationId, IssueNumber, RepoId};
pub use limiter::{MutationLimiter, MutationQuota};
pub use repo::RepoClient;
pub use tasks::HookConfig;
pub use tokens::{Access, Permissions, git_basic_credential};
pub use types::*;
pub use user::{OAuthClient, UserRepo};
