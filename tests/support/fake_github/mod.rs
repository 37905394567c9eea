//! The fake GitHub (issue #3).
