//! The phases of a job, in order, one file each: `brief` (the issue and the
//! repository's configuration, no git yet), `checkout` (mirror and working
//! copy), `sandbox` (setup, `agent`, `verify` with fix rounds) and `ship`
//! (`collect` the work, commit, push, the pull request). `exec` runs one
//! command in the sandbox as a step.

pub(crate) mod agent;
pub(crate) mod brief;
pub(crate) mod checkout;
pub(crate) mod collect;
pub(crate) mod exec;
pub(crate) mod sandbox;
pub(crate) mod ship;
pub(crate) mod verify;

pub(crate) use checkout::WorkDir;
