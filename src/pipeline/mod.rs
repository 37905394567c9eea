//! The job steps: setup, implement, verify, fix, ship (issue #5).

pub mod brief;
pub mod detect;
pub mod git;
pub mod sanitize;
