//! Jobs: the model and state machine (`model`), how a job's run ends (`end`),
//! the durable store (`store`), what a webhook delivery means (`delivery`) and
//! the ledger that records it and creates jobs (`ledger`), and the control
//! loop's requests (`request`).

mod api_store;
mod control_store;
pub mod delivery;
mod doctor_store;
mod end;
mod end_store;
pub mod ledger;
mod llm_store;
mod metrics_store;
pub mod model;
pub mod redelivery_store;
pub mod request;
pub mod store;

pub use api_store::{Deleted, Submitted};
pub use delivery::{DeliveryOutcome, Effect, InstallationAction, InstallationChange, RepoBrief, StoredDelivery};
pub use end::{Failure, JobEnd, StepStop};
pub use ledger::{DeliveryRecord, JobRate, Ledger, Recorded};
pub use llm_store::LlmSums;
pub use metrics_store::MetricsSnapshot;
pub use model::*;
pub use redelivery_store::{Claim, RedeliveryOutcome, RedeliveryRecord};
pub use request::{CheckRunButton, CheckRunRequest, ClaimedRequest, ControlAction, ControlOutcome, ControlRequest};
pub use store::{Backend, Store};
