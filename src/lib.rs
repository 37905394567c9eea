//! Maxion: a self-hosted GitHub App that turns issues into pull requests
//! written by a coding agent inside a locked-down Docker sandbox.
//!
//! Module map, top layer first; each imports only from the layers below it
//! (docs/ARCHITECTURE.md draws them and shows how an event flows through):
//! - [`service`]: start/stop of the whole service (used by `main` and the tests); [`doctor`]: `maxion doctor`.
//! - [`web`]: the server-rendered pages (job list, job page with its live log, sign-in with GitHub).
//! - [`server`]: axum router, the verified webhook handler, the JSON API, the SSE stream, `/metrics`.
//! - [`control`]: admission (permission check, acknowledgement) and the `/maxion` commands.
//! - [`pipeline`]: the job steps (brief, setup, implement, verify, fix, ship).
//! - [`intake`]: GitHub webhook payloads -> the `jobs::Effect` the ledger records; `/maxion` grammar.
//! - [`worker`]: the worker pool (leases, heartbeat, recovery, shutdown).
//! - [`report`]: the status comment, check runs, and all user-facing wording.
//! - [`repoconfig`]: a repository's `.github/maxion.yml`, within the operator's bounds.
//! - [`config`]: settings, parsed once into typed values.
//! - [`jobs`]: job model, state machine, durable store (SQLite / PostgreSQL), ledger, queue.
//! - [`github`]: App authentication, one named method per GitHub API call, GitHub's ids.
//! - [`sandbox`]: one hardened Docker container per job, driven through bollard.
//! - [`masker`], [`telemetry`], [`branch`], [`metrics`], [`backoff`]: leaves (secret masking, logging, branch names,
//!   counters, retry delays with per-process jitter).

pub mod backoff;
pub mod branch;
pub mod config;
pub mod control;
pub mod doctor;
pub mod egress;
pub mod gateway;
pub mod github;
pub mod intake;
pub mod jobs;
pub mod masker;
pub mod metrics;
pub mod pipeline;
pub mod redelivery;
pub mod repoconfig;
pub mod report;
pub mod sandbox;
pub mod server;
pub mod service;
pub mod telemetry;
pub mod web;
pub mod worker;
