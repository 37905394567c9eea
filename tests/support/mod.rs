//! Shared test support: the harness of the integration tests in `tests/it/`
//! (`service`: the fake GitHub and the real service, with or without Docker
//! and workers) and the pieces below it.
#![allow(dead_code, unused_imports)]

pub mod docker;
pub mod egress;
pub mod events;
pub mod fake_github;
pub mod fake_model;
pub mod git_http;
pub mod github;
pub mod jobs;
pub mod logs;
pub mod service;
pub mod service_jobs;
pub mod soak;
pub mod wait;
pub mod web;
