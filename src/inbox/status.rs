//! One command consumer's state as this replica sees it: connected or failing, with the
//! last error (logged, and `clinicstream_commands_up` on `/metrics`).

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use std::sync::Mutex;

use super::metrics::{Door, DoorLabel};

pub struct ConsumerStatus {
    door: Door,
    up: Family<DoorLabel, Gauge>,
    last_error: Mutex<Option<String>>,
}

impl ConsumerStatus {
    pub fn new(door: Door, up: Family<DoorLabel, Gauge>) -> Self {
        up.get_or_create(&DoorLabel { door }).set(0);
        Self { door, up, last_error: Mutex::new(None) }
    }

    pub fn connected(&self) {
        self.up.get_or_create(&DoorLabel { door: self.door }).set(1);
    }

    pub fn failed(&self, error: &str) {
        self.up.get_or_create(&DoorLabel { door: self.door }).set(0);
        *self.last_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(error.to_string());
    }

    /// The last error, if the consumer ever failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}
