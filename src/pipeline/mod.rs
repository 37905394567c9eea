//! The job steps: brief, checkout, setup, agent, verify, fix, ship.
//! `run` is the whole job; `steps` its phases; `job_run` what they share.

pub mod agent;
pub mod brief;
pub mod detect;
pub mod git;
mod job_run;
mod plan;
pub mod run;
pub mod sanitize;
mod steps;
mod usage;
