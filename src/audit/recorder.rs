//! The in-memory side: rows waiting for the next flush, and delivery counts per
//! (subscriber identity, patient) since the last one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;

use crate::auth::Principal;
use crate::clock::SharedClock;
use crate::vocab::{AuditAction, Role, Transport};

/// Who acted, and through which door: a key by its id, a person by their subject and
/// display name (shared strings: an actor is cloned into every row it writes).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct Actor {
    pub api_key_id: Option<Arc<str>>,
    /// A person's `sub` at the issuer; None for keys.
    pub subject: Option<Arc<str>>,
    /// A person's display name, if their token gave one; None for keys.
    pub actor_name: Option<Arc<str>>,
    pub role: Role,
    pub transport: Transport,
    pub operation_name: Option<Arc<str>>,
}

impl Actor {
    pub fn of(principal: &Principal, transport: Transport, operation_name: Option<&str>) -> Self {
        let role = principal.role();
        let person = principal.person();
        Self {
            api_key_id: principal.key_id().map(Into::into),
            subject: person.map(|p| p.subject.as_str().into()),
            actor_name: person.and_then(|p| p.name.as_deref()).map(Into::into),
            role,
            transport,
            operation_name: operation_name.map(Into::into),
        }
    }
}

/// One row to append.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Shared with the subscriber identity it is of (a subscription's rows copy no
    /// string: thousands of SUBSCRIBE rows can wait for one flush).
    pub practice_id: Arc<str>,
    pub at_ms: i64,
    pub actor: Actor,
    pub action: AuditAction,
    pub patient_ids: Vec<String>,
    pub filter: Option<Arc<str>>,
    pub deliveries: Option<i64>,
}

/// A subscription's identity in DELIVER rows.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Watched {
    practice_id: Arc<str>,
    actor: Actor,
    filter: Option<Arc<str>>,
}

/// A watched identity by its address: identities are interned, so equal ones share one
/// allocation, and a delivery hashes a pointer rather than a filter of up to 2 KB.
struct ByAddress(Arc<Watched>);

impl std::hash::Hash for ByAddress {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as usize).hash(state);
    }
}

impl PartialEq for ByAddress {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for ByAddress {}

#[derive(Default)]
struct Pending {
    rows: Vec<Entry>,
    /// Per watched identity (held, so its address is not reused before the flush):
    /// deliveries per patient.
    deliveries: HashMap<ByAddress, HashMap<Arc<str>, i64>>,
}

/// The watched identities alive now, so that equal ones share one allocation.
#[derive(Default)]
struct Interned {
    live: HashMap<Watched, Weak<Watched>>,
    /// The size after the last sweep of dead entries.
    swept_at: usize,
}

impl Interned {
    fn get(&mut self, watched: Watched) -> Arc<Watched> {
        if let Some(alive) = self.live.get(&watched).and_then(Weak::upgrade) {
            return alive;
        }
        let shared = Arc::new(watched.clone());
        self.live.insert(watched, Arc::downgrade(&shared));
        if self.live.len() > 2 * self.swept_at.max(64) {
            self.live.retain(|_, weak| weak.strong_count() > 0);
            self.swept_at = self.live.len();
        }
        shared
    }
}

/// Rows queued that make a flush due before its interval: one INSERT's worth. At 2,000
/// mutations/s, a flush every 2 s wrote 4,000 rows in one burst that held a core for
/// ~100 ms and set the mutations' p99 (BENCHMARKS.md, "The audit trail's burst").
pub const FLUSH_AT: usize = 300;

/// The replica's recorder; `enabled: false` (`AUDIT=false`) records nothing.
pub struct Recorder {
    enabled: bool,
    clock: SharedClock,
    pending: Mutex<Pending>,
    interned: Mutex<Interned>,
    /// Told when FLUSH_AT rows are queued.
    due: Arc<Notify>,
}

impl Recorder {
    pub fn new(enabled: bool, clock: SharedClock) -> Self {
        Self { enabled, clock, pending: Mutex::default(), interned: Mutex::default(), due: Arc::default() }
    }

    /// Told when FLUSH_AT rows are queued, so the flusher writes them before its interval.
    /// Rows a failed flush put back are retried at the next interval.
    pub fn due(&self) -> Arc<Notify> {
        self.due.clone()
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
        self.push(practice_id.into(), actor, action, patient_ids, filter.map(Into::into));
    }

    fn push(
        &self,
        practice_id: Arc<str>,
        actor: Actor,
        action: AuditAction,
        patient_ids: Vec<String>,
        filter: Option<Arc<str>>,
    ) {
        if !self.enabled {
            return;
        }
        let entry = Entry { practice_id, at_ms: self.now_ms(), actor, action, patient_ids, filter, deliveries: None };
        let queued = {
            let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            pending.rows.push(entry);
            pending.rows.len()
        };
        if queued == FLUSH_AT {
            self.due.notify_one();
        }
    }

    /// A subscription (or live query, or webhook endpoint) starts being watched: records
    /// SUBSCRIBE (unless `quiet`) and returns the handle its deliveries are counted by;
    /// dropping a non-quiet handle records UNSUBSCRIBE.
    pub fn watch(self: &Arc<Self>, practice_id: &str, actor: Actor, filter: Option<String>, quiet: bool) -> Watch {
        let watched = Watched { practice_id: practice_id.into(), actor, filter: filter.map(Into::into) };
        let watched = self.interned.lock().unwrap_or_else(|e| e.into_inner()).get(watched);
        if !quiet {
            self.entry_of(&watched, AuditAction::Subscribe);
        }
        Watch { recorder: self.clone(), watched, quiet }
    }

    fn entry_of(&self, watched: &Watched, action: AuditAction) {
        self.push(watched.practice_id.clone(), watched.actor.clone(), action, Vec::new(), watched.filter.clone());
    }

    /// Takes the rows to write: those queued, and one DELIVER row per subscriber
    /// identity and delivery count (patients with the same count share a row).
    pub(super) fn take(&self) -> Vec<Entry> {
        let Pending { mut rows, deliveries } =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let at_ms = self.now_ms();
        for (ByAddress(watched), patients) in deliveries {
            let mut by_count: std::collections::BTreeMap<i64, Vec<String>> = Default::default();
            for (patient, n) in patients {
                by_count.entry(n).or_default().push(patient.to_string());
            }
            for (n, mut patient_ids) in by_count {
                patient_ids.sort();
                rows.push(Entry {
                    practice_id: watched.practice_id.clone(),
                    at_ms,
                    actor: watched.actor.clone(),
                    action: AuditAction::Deliver,
                    patient_ids,
                    filter: watched.filter.clone(),
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
        let patients = pending.deliveries.entry(ByAddress(self.watched.clone())).or_default();
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
