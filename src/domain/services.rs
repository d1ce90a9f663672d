//! What every service function works with: the database, the bus and the clock, and the
//! few shared parts the business rules reach (writers, owners, reminders, the limits, and
//! the sessions and key cache a revoked key is taken from). What only the layers above
//! use — usage metering, the audit trail — is not here: the app-wide container
//! (`crate::services::AppServices`) holds it beside these.

use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use tokio::sync::watch;

use super::reminders::Reminders;
use crate::clock::SharedClock;
use crate::events::{Counters, SharedBus};

#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub bus: SharedBus,
    pub clock: SharedClock,
    /// SHA-256 (hex) of the bootstrap `ADMIN_KEY`, if one is configured.
    pub admin_key_hash: Option<String>,
    /// The reminder lead and the scheduler's wake-up, shared with the scheduler task.
    pub reminders: Arc<Reminders>,
    pub counters: Arc<Counters>,
    pub faults: Arc<Faults>,
    /// Open connections by API key, to close them when the key stops being valid.
    pub sessions: Arc<crate::auth::Sessions>,
    /// The rate limit, connection caps, quotas and the control channel, shared by
    /// replicas through Redis when there is one.
    pub limits: Arc<crate::limits::Limits>,
    /// Resolved API keys, kept for a second.
    pub keys: Arc<crate::auth::KeyCache>,
    /// People's access tokens, when an issuer is configured.
    pub identity: Option<Arc<crate::identity::Identity>>,
    /// Which practice each patient, provider and appointment belongs to.
    pub owners: Arc<super::owners::Owners>,
    /// The practices' writers (group commit); they know whether appends also write an
    /// outbox row (when the bus crosses a network).
    pub writers: Arc<super::writer::Writers>,
}

impl Services {
    pub fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }
}

/// Fault injection for tests of the delivery guarantees. Nothing in production sets these.
#[derive(Default, Debug)]
pub struct Faults {
    /// Commit but do not publish, as if the process died between the two.
    pub skip_publish: AtomicBool,
    /// While true, a practice's writer that has a mutation waits before it starts the
    /// batch (so that tests can queue mutations into one batch).
    pub hold_batches: watch::Sender<bool>,
    /// Writers waiting at that hold now.
    pub held_batches: AtomicUsize,
}

impl Faults {
    pub fn skip_publish(&self) -> bool {
        self.skip_publish.load(Ordering::SeqCst)
    }

    /// Returns once batches are not held.
    pub async fn batches_allowed(&self) {
        if *self.hold_batches.borrow() {
            self.held_batches.fetch_add(1, Ordering::SeqCst);
            let _ = self.hold_batches.subscribe().wait_for(|held| !held).await;
            self.held_batches.fetch_sub(1, Ordering::SeqCst);
        }
    }
}
