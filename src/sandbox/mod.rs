//! One hardened Docker container per job, driven through bollard (issue #4).
