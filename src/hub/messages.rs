//! What is sent to a practice hub's task, and the ids its registrations are known by: the
//! installs `Hubs` hands over, the removal a dropped `Registration` sends, and the notice a
//! connection sends when its full queue has room again.

use async_graphql::Variables;
use async_graphql::parser::types::ExecutableDocument;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

use super::key::OperationKey;
use super::producer::Prepared;
use super::registrations::{LiveQuerySubscriber, Subscriber};
use crate::events::FeedFilter;
use crate::live::Reads;

pub(super) enum HubCommand {
    Install(SubscriptionInstall, InstallAck),
    InstallLiveQuery(LiveQueryInstall, InstallAck),
    /// The registration was dropped: its subscriber leaves.
    Remove(RegistrationId),
    /// A lagging subscriber's queue has room again.
    Drained(RegistrationId),
    /// A live query subscriber's queue has room again.
    LiveQueryDrained(RegistrationId),
}

/// The answer to an install: the registration's id, or why the hub cannot serve it.
pub(super) type InstallAck = oneshot::Sender<Result<RegistrationId, String>>;

/// A registration in its hub: the operation (shared subscription or live query) and the
/// subscriber of it. Ids are unique across both kinds within a hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct RegistrationId {
    pub operation: u64,
    pub subscriber: u64,
}

/// A shared subscription to serve.
#[derive(Clone)]
pub(super) struct SubscriptionInstall {
    pub prepared: Prepared,
    /// The events the subscriber gets: what its own start bound, in its own scope.
    pub filter: FeedFilter,
    pub subscriber: Subscriber,
    /// The last seq the subscriber has seen.
    pub start: i64,
}

/// A live query to serve.
pub(super) struct LiveQueryInstall {
    pub key: OperationKey,
    /// The query with its private selections (see `live::track`).
    pub document: Arc<ExecutableDocument>,
    pub variables: Variables,
    /// What its root arguments read.
    pub arguments: Reads,
    pub throttle: Duration,
    pub subscriber: LiveQuerySubscriber,
}
