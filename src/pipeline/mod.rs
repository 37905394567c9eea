//! The job steps: setup, implement, verify, fix, ship (issue #5).
pub mod git;
