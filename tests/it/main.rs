//! The integration tests, one binary: each module is one area, entering
//! through the same harness (`support`). One binary links once, which keeps
//! CI inside its disk and time (twenty binaries once filled the disk).
//! `tests/telemetry_masking.rs` stays apart: it installs the process-wide log
//! subscriber, which can happen once per process.

#[path = "../support/mod.rs"]
mod support;

mod agents;
mod agents_config;
mod agents_failures;
mod api;
mod browser;
mod cli;
mod collect_changes;
mod control;
mod control_permissions;
mod doctor;
mod e2e;
mod e2e_crash;
mod e2e_git_failures;
mod e2e_overhead;
mod egress;
mod egress_firewall;
mod fake_github_selftest;
mod fake_model_selftest;
mod gateway;
mod gateway_daily;
mod gateway_timeout;
mod github_client;
mod masker_props;
mod metrics;
mod pipeline_brief;
mod pipeline_git;
mod redelivery;
mod report;
mod sandbox_exec;
mod sandbox_hostile;
mod setup;
mod signin;
mod soak;
mod store;
mod web;
mod webhook;
mod webhook_examples;
mod worker;
