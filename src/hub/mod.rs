//! The delivery plane: each practice with subscribers on this replica has one hub that
//! holds its subscriptions as small registrations and runs each distinct operation once
//! per event, handing the same serialised bytes to every registration of it. Connections
//! (websockets, SSE) own an `Outbound` queue the hubs push into, bounded in bytes; a
//! subscriber past the bound catches up from the log.
//!
//! `hubs` is the way in; `practice` is a practice's hub task, which serves its shared
//! subscriptions (`operations`, lagging ones through `catch_up`) and its live queries
//! (`live_queries`: `live_runs` and `live_subscribers`). They exchange `messages` about
//! `registrations` and hold `shared` state; `key` says which subscriptions may share an
//! execution, `producer` is a shared execution, `outbound` a connection's queue,
//! `metered` what a delivery is counted under, `budget` the hub's share of
//! `maxDeliveriesPerDay`. Each file imports only those named after it here.

mod budget;
mod catch_up;
mod hubs;
mod key;
mod live_queries;
mod live_runs;
mod live_start;
mod live_subscribers;
mod messages;
mod metered;
mod operations;
mod outbound;
mod practice;
mod producer;
mod registrations;
mod shared;

pub use hubs::{Hubs, Registration, Subscribe, Subscribed};
pub use key::{OperationKey, Scope};
pub use outbound::{Frame, Offer, Outbound, Tag};
pub use shared::LiveThrottle;
