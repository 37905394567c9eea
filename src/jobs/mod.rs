//! Jobs: the model and state machine (`model`), the durable store (`store`),
//! and the delivery ledger that records webhooks and creates jobs (`ledger`).

mod api_store;
mod control_store;
mod doctor_store;
pub mod ledger;
mod metrics_store;
pub mod model;
pub mod request;
pub mod store;

pub use api_store::{Deleted, Submitted};
pub use ledger::{DeliveryRecord, Effect, JobRate, Ledger, Recorded};
pub use metrics_store::MetricsSnapshot;
pub use model::*;
pub use request::{ClaimedRequest, ControlAction, ControlRequest};
pub use store::{Backend, Store};
