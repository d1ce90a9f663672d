//! The delivery plane: each practice with subscribers on this replica has one hub that
//! holds its subscriptions as small registrations and runs each distinct operation once
//! per event, handing the same serialised bytes to every registration of it. Connections
//! (websockets, SSE) own an `Outbound` queue the hubs push into, bounded in bytes; a
//! subscriber past the bound catches up from the log.
//!
//! `hubs` is the way in (`live_start` for a live query); `practice` is a practice's hub
//! task, which serves its shared subscriptions (`operations`, a lagging subscriber through
//! `catch_up`) and its live queries (`live_queries`, run by `live_runs`, delivered by
//! `live_subscribers`). What they send each other is in `messages`, what they hold per
//! subscriber in `registrations`, what every hub shares in `shared`. `key` says which
//! subscriptions may share an execution, `producer` is a shared execution, `outbound` a
//! connection's queue, `metered` what a delivery is counted under, `budget` the hub's
//! share of `maxDeliveriesPerDay`.
//!
//! Each file imports (`use super::`) only files after it in this order, so there is no
//! circle: `live_start`, `hubs`, `practice`, `catch_up`, `operations`, `live_runs`,
//! `live_subscribers`, `live_queries`, `shared`, `messages`, `registrations`, `producer`,
//! and the leaves `key`, `outbound`, `metered`, `budget`.

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

pub use hubs::{Hubs, Registration, Subscribe, Subscribed, Turn};
pub use key::{OperationKey, Scope};
pub use outbound::{Frame, Offer, Outbound, Tag};
pub use shared::LiveThrottle;
