//! What every service function works with: the database, the bus and the clock.

use sea_orm::DatabaseConnection;
use std::sync::Arc;

use super::reminders::Reminders;
use crate::clock::SharedClock;
use crate::events::SharedBus;

#[derive(Clone)]
pub struct Services {
    pub db: DatabaseConnection,
    pub bus: SharedBus,
    pub clock: SharedClock,
    /// SHA-256 (hex) of the bootstrap `ADMIN_KEY`, if one is configured.
    pub admin_key_hash: Option<String>,
    /// The reminder lead and the scheduler's wake-up, shared with the scheduler task.
    pub reminders: Arc<Reminders>,
}

impl Services {
    pub fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }
}
