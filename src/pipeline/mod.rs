//! The job steps: setup, implement, verify, fix, ship.

pub mod agent;
pub mod brief;
mod collect;
pub mod detect;
pub mod git;
mod plan;
pub mod run;
pub mod sanitize;
mod ship;
