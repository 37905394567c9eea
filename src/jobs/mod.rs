//! Jobs: the model and state machine (`model`), the durable store (`store`).

pub mod model;

pub use model::*;
