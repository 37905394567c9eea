//! Jobs: the model and state machine (`model`), the durable store (`store`),
//! and the delivery ledger that records webhooks and creates jobs (`ledger`).

mod control_store;
pub mod ledger;
pub mod model;
pub mod redelivery_store;
pub mod request;
pub mod store;

pub use ledger::{DeliveryRecord, Effect, JobRate, Ledger, Recorded};
pub use model::*;
pub use redelivery_store::{RedeliveryOutcome, RedeliveryRecord};
pub use request::{ClaimedRequest, ControlAction, ControlRequest};
pub use store::{Backend, Store};
