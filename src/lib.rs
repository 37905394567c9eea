//! Maxion: a self-hosted GitHub App that turns issues into pull requests
//! written by a coding agent inside a locked-down Docker sandbox.
//!
//! Module map (see docs/ARCHITECTURE.md for how an event flows through it):
//! - [`config`]: typed settings from env / `.env` / TOML.
//! - [`server`]: axum router, the verified webhook extractor, the JSON API.
//! - [`intake`]: GitHub webhook payloads -> Maxion's own trigger types, `/maxion` grammar.
//! - [`jobs`]: job model, state machine, durable store (SQLite / PostgreSQL), queue.
//! - [`control`]: admission (permission check, acknowledgement) and the `/maxion` commands.
//! - [`github`]: App authentication and one named method per GitHub API call.
//! - [`sandbox`]: one hardened Docker container per job, driven through bollard.
//! - [`masker`]: the streaming secret masker every outgoing byte passes through.
//! - [`pipeline`]: the job steps (setup, implement, verify, fix, ship).
//! - [`report`]: status comment and check runs.

pub mod config;
pub mod control;
pub mod github;
pub mod intake;
pub mod jobs;
pub mod masker;
pub mod pipeline;
pub mod redelivery;
pub mod repoconfig;
pub mod report;
pub mod sandbox;
pub mod server;
pub mod service;
pub mod telemetry;
pub mod worker;
