//! Progress reporting: the status comment and check runs (issue #3).
