//! The in-memory side: rows waiting for the next flush, and delivery counts per
//! (subscriber identity, patient) since the last one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::auth::Principal;
use crate::clock::SharedClock;
use crate::vocab::{AuditAction, Role, Transport};

/// Who acted, and through which door.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Actor {
    pub api_key_id: Option<Arc<str>>,
    pub role: Role,
    pub transport: Transport,
    pub operation_name: Option<Arc<str>>,
}

impl Actor {
    pub fn of(principal: &Principal, transport: Transport, operation_name: Option<&str>) -> Self {
        let role = match principal {
            Principal::Admin { .. } => Role::Admin,
            Principal::Scoped { role, .. } => *role,
        };
        Self {
            api_key_id: principal.key_id().map(Into::into),
            role,
            transport,
            operation_name: operation_name.map(Into::into),
        }
    }
}

/// One row to append.
#[derive(Clone, Debug)]
pub struct Entry {
    pub practice_id: String,
    pub at_ms: i64,
    pub actor: Actor,
    pub action: AuditAction,
    pub patient_ids: Vec<String>,
    pub filter: Option<String>,
    pub deliveries: Option<i64>,
}

/// A subscription's identity in DELIVER rows.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Watched {
    practice_id: Arc<str>,
    actor: Actor,
    filter: Option<Arc<str>>,
}

#[derive(Default)]
struct Pending {
    rows: Vec<Entry>,
    deliveries: HashMap<Arc<Watched>, HashMap<Arc<str>, i64>>,
}

/// The replica's recorder; `enabled: false` (`AUDIT=false`) records nothing.
pub struct Recorder {
    enabled: bool,
    clock: SharedClock,
    pending: Mutex<Pending>,
}

impl Recorder {
    pub fn new(enabled: bool, clock: SharedClock) -> Self {
        Self { enabled, clock, pending: Mutex::default() }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn now_ms(&self) -> i64 {
        self.clock.now().timestamp_millis()
    }

    /// Queues one row (written at the next flush).
    pub fn record(
        &self,
        practice_id: &str,
        actor: Actor,
        action: AuditAction,
        patient_ids: Vec<String>,
        filter: Option<String>,
    ) {
        if !self.enabled {
            return;
        }
        let entry = Entry {
            practice_id: practice_id.to_string(),
            at_ms: self.now_ms(),
            actor,
            action,
            patient_ids,
            filter,
            deliveries: None,
        };
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).rows.push(entry);
    }

    /// A subscription (or live query, or webhook endpoint) starts being watched: records
    /// SUBSCRIBE (unless `quiet`) and returns the handle its deliveries are counted by;
    /// dropping a non-quiet handle records UNSUBSCRIBE.
    pub fn watch(self: &Arc<Self>, practice_id: &str, actor: Actor, filter: Option<String>, quiet: bool) -> Watch {
        let watched = Arc::new(Watched { practice_id: practice_id.into(), actor, filter: filter.map(Into::into) });
        if !quiet {
            self.entry_of(&watched, AuditAction::Subscribe);
        }
        Watch { recorder: self.clone(), watched, quiet }
    }

    fn entry_of(&self, watched: &Watched, action: AuditAction) {
        self.record(
            &watched.practice_id,
            watched.actor.clone(),
            action,
            Vec::new(),
            watched.filter.as_deref().map(str::to_string),
        );
    }

    /// Takes the rows to write: those queued, and one DELIVER row per subscriber
    /// identity and delivery count (patients with the same count share a row).
    pub(super) fn take(&self) -> Vec<Entry> {
        let Pending { mut rows, deliveries } =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let at_ms = self.now_ms();
        for (watched, patients) in deliveries {
            let mut by_count: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
            for (patient, n) in patients {
                by_count.entry(n).or_default().push(patient.to_string());
            }
            for (n, mut patient_ids) in by_count {
                patient_ids.sort();
                rows.push(Entry {
                    practice_id: watched.practice_id.to_string(),
                    at_ms,
                    actor: watched.actor.clone(),
                    action: AuditAction::Deliver,
                    patient_ids,
                    filter: watched.filter.as_deref().map(str::to_string),
                    deliveries: Some(n),
                });
            }
        }
        rows
    }

    /// Puts back rows a failed flush took.
    pub(super) fn restore(&self, mut rows: Vec<Entry>) {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        rows.append(&mut pending.rows);
        pending.rows = rows;
    }
}

/// A watched subscription: its deliveries are counted per patient.
pub struct Watch {
    recorder: Arc<Recorder>,
    watched: Arc<Watched>,
    quiet: bool,
}

impl Watch {
    /// An event about `patient_id` was delivered.
    pub fn delivered(&self, patient_id: &str) {
        if !self.recorder.enabled {
            return;
        }
        let mut pending = self.recorder.pending.lock().unwrap_or_else(|e| e.into_inner());
        let patients = pending.deliveries.entry(self.watched.clone()).or_default();
        match patients.get_mut(patient_id) {
            Some(n) => *n += 1,
            None => {
                patients.insert(patient_id.into(), 1);
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if !self.quiet {
            self.recorder.entry_of(&self.watched, AuditAction::Unsubscribe);
        }
    }
}
