//! Shared test support, included by each integration test with `mod support;`.
#![allow(dead_code, unused_imports)]

pub mod control;
pub mod docker;
pub mod e2e;
pub mod fake_github;
pub mod git_http;
pub mod service;
