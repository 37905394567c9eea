//! Shared test support: the harness of the integration tests in `tests/it/`.
#![allow(dead_code, unused_imports)]

pub mod control;
pub mod docker;
pub mod e2e;
pub mod egress;
pub mod fake_github;
pub mod fake_model;
pub mod git_http;
pub mod service;
