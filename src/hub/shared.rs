//! What every practice hub on this replica shares: the schema and services, the usage meter and audit recorder, the stop
//! token, the registry of running hubs by practice, the live query throttle; and what one
//! practice hub lends the parts it runs (its shared subscriptions and live queries).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::messages::HubCommand;
use crate::audit::Recorder;
use crate::domain::Services;
use crate::graphql::AppSchema;
use crate::live::Types;
use crate::usage::Meter;

/// What every practice hub shares.
pub(super) struct Shared {
    pub schema: AppSchema,
    pub services: Services,
    /// What the hubs' deliveries are metered and audited in.
    pub usage: Arc<Meter>,
    pub audit: Arc<Recorder>,
    pub stop: CancellationToken,
    /// How long a hub without registrations stays (so a reconnecting client finds it).
    pub linger: Duration,
    pub tracker: TaskTracker,
    /// The running hubs, by practice.
    pub hubs: Mutex<HashMap<String, mpsc::UnboundedSender<HubCommand>>>,
    /// The turns of subscriptions being started at once.
    pub starts: Arc<Semaphore>,
    /// The schema's types, for instrumenting live queries.
    pub types: Types,
    pub live_throttle: LiveThrottle,
}

/// How often a live query may be re-sent: `default` when it asks nothing, at most `max`.
#[derive(Clone, Copy, Debug)]
pub struct LiveThrottle {
    pub default: Duration,
    pub max: Duration,
}

impl Shared {
    /// Called by an idle hub: it goes only if nothing was sent to it meanwhile.
    pub(super) fn retire(&self, practice_id: &str, commands: &mpsc::UnboundedReceiver<HubCommand>) -> bool {
        let mut hubs = self.hubs.lock().unwrap_or_else(|e| e.into_inner());
        if !commands.is_empty() {
            return false;
        }
        hubs.remove(practice_id);
        true
    }
}

/// What a practice hub lends the parts it runs: the borrows are of the hub's fields other
/// than the part itself.
pub(super) struct HubContext<'a> {
    pub practice_id: &'a str,
    pub shared: &'a Arc<Shared>,
    /// The hub's own command channel, for the drain notices connections send back.
    pub commands: &'a mpsc::UnboundedSender<HubCommand>,
    /// The last seq the hub has handed out.
    pub position: i64,
}
