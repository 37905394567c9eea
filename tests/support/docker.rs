//! Docker test helpers (sandbox tests).
