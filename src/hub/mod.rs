//! The delivery plane: each practice with subscribers on this replica has one hub that
//! holds its subscriptions as small registrations and runs each distinct operation once
//! per event, handing the same serialised bytes to every registration of it. Connections
//! (websockets, SSE) own an `Outbound` queue the hubs push into, bounded in bytes; a
//! subscriber past the bound catches up from the log.
//!
//! `hubs` is the way in, `key` says which subscriptions may share an execution,
//! `producer` is a shared execution, `practice` a practice's hub task, `outbound` a
//! connection's queue, `budget` the hub's share of `maxDeliveriesPerDay`.

mod budget;
mod hubs;
mod key;
mod live;
mod metered;
mod outbound;
mod practice;
mod producer;

pub use hubs::{Hubs, LiveThrottle, Registration, Subscribe, Subscribed};
pub use key::{OperationKey, Scope};
pub use outbound::{Frame, Offer, Outbound, Tag};
