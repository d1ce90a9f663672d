//! The in-memory side: deltas since the last flush, and the open connections and
//! subscriptions whose per-hour peak is kept.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::hour_of;
use crate::clock::SharedClock;
use crate::vocab::{EventType, Transport};

/// What usage is counted under: a practice and an API key (`""` for the bootstrap `ADMIN_KEY`).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct UsageKey {
    pub practice_id: Arc<str>,
    pub api_key_id: Arc<str>,
}

impl UsageKey {
    pub fn new(practice_id: &str, api_key_id: Option<&str>) -> Self {
        Self { practice_id: practice_id.into(), api_key_id: api_key_id.unwrap_or("").into() }
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum OpKind {
    Query,
    Mutation,
    /// A subscription or live query starting.
    Subscription,
}

/// What is counted.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(crate) enum Metric {
    Op(OpKind),
    Delivery(Transport),
    Event(EventType),
}

impl Metric {
    pub(super) fn name(self) -> String {
        match self {
            Metric::Op(OpKind::Query) => "op:QUERY".into(),
            Metric::Op(OpKind::Mutation) => "op:MUTATION".into(),
            Metric::Op(OpKind::Subscription) => "op:SUBSCRIPTION".into(),
            Metric::Delivery(t) => format!("delivery:{}", t.as_str()),
            Metric::Event(e) => format!("event:{}", e.as_str()),
        }
    }
}

/// Open connections (0) and subscriptions (1).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub(super) enum Gauge {
    Connections,
    Subscriptions,
}

impl Gauge {
    pub(super) fn name(self) -> &'static str {
        match self {
            Gauge::Connections => "connections",
            Gauge::Subscriptions => "subscriptions",
        }
    }
}

/// The deltas a flush takes.
#[derive(Default)]
pub(super) struct Taken {
    pub counts: HashMap<(UsageKey, i64, Metric), u64>,
    /// (practice, key or `*`, hour, gauge) → this replica's peak.
    pub peaks: HashMap<(Arc<str>, Arc<str>, i64, Gauge), i64>,
}

/// A subscriber's identity by its address: a hub subscriber holds one `Arc<UsageKey>` for its
/// life (interned by [`Meter::key`]), so a delivery hashes a pointer, not two ids (see
/// `delivered_to`).
struct ByAddress(Arc<UsageKey>);

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
struct State {
    taken: Taken,
    /// Hub deliveries per (subscriber, hour, transport, event type), folded into
    /// `taken.counts` when taken.
    deliveries: HashMap<(ByAddress, i64, Transport, EventType), u64>,
    /// Open now, per (practice, key) and per (practice, `*`).
    open: HashMap<(Arc<str>, Arc<str>, Gauge), i64>,
}

/// The usage keys in use, one allocation per (practice, key): what a connection or
/// subscription holds for its life. Let go of at the next take once nothing holds them.
type Interned = HashMap<Arc<str>, HashMap<Arc<str>, Arc<UsageKey>>>;

/// The replica's meter. Every hook is one call that takes a short lock.
pub struct Meter {
    clock: SharedClock,
    state: Mutex<State>,
    keys: Mutex<Interned>,
    all: Arc<str>,
    /// Per-practice Prometheus series, when `METRICS_PER_PRACTICE` asks for them.
    per_practice: Option<super::PerPractice>,
}

impl Meter {
    pub fn new(clock: SharedClock) -> Self {
        Self { clock, state: Mutex::default(), keys: Mutex::default(), all: "*".into(), per_practice: None }
    }

    /// The usage key of `practice_id` and `api_key_id`, shared with every other holder of
    /// the same pair: 150,000 subscriptions of one key hold one allocation, not 450,000.
    pub fn key(&self, practice_id: &str, api_key_id: Option<&str>) -> Arc<UsageKey> {
        let api_key_id = api_key_id.unwrap_or("");
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(who) = keys.get(practice_id).and_then(|by_key| by_key.get(api_key_id)) {
            return who.clone();
        }
        let practice: Arc<str> = match keys.get_key_value(practice_id) {
            Some((practice, _)) => practice.clone(),
            None => practice_id.into(),
        };
        let who = Arc::new(UsageKey { practice_id: practice.clone(), api_key_id: api_key_id.into() });
        keys.entry(practice).or_default().insert(who.api_key_id.clone(), who.clone());
        who
    }

    /// Lets go of the interned keys nothing else holds.
    fn prune_keys(&self) {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.retain(|_, by_key| {
            by_key.retain(|_, who| Arc::strong_count(who) > 1);
            !by_key.is_empty()
        });
    }

    /// A meter that also keeps per-practice Prometheus series.
    pub fn with_prometheus(clock: SharedClock) -> Self {
        Self { per_practice: Some(super::PerPractice::default()), ..Self::new(clock) }
    }

    pub fn per_practice(&self) -> Option<&super::PerPractice> {
        self.per_practice.as_ref()
    }

    fn hour(&self) -> i64 {
        hour_of(self.clock.now().timestamp_millis())
    }

    fn add(&self, who: &UsageKey, metric: Metric, n: u64) {
        if let Some(series) = &self.per_practice {
            series.count(&who.practice_id, metric, n);
        }
        let hour = self.hour();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state.taken.counts.entry((who.clone(), hour, metric)).or_default() += n;
    }

    /// An operation started (a query or mutation run, a subscription started).
    pub fn operation(&self, who: &UsageKey, kind: OpKind) {
        self.add(who, Metric::Op(kind), 1);
    }

    /// An event handed to a subscriber's transport (or a webhook receiver, or a broker).
    pub fn delivered(&self, who: &UsageKey, transport: Transport, event_type: EventType) {
        if let Some(series) = &self.per_practice {
            series.count(&who.practice_id, Metric::Delivery(transport), 1);
        }
        let hour = self.hour();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state.taken.counts.entry((who.clone(), hour, Metric::Delivery(transport))).or_default() += 1;
        *state.taken.counts.entry((who.clone(), hour, Metric::Event(event_type))).or_default() += 1;
    }

    /// An event handed to a hub subscriber's transport: `delivered`, for the hot path
    /// (one entry, keyed by the subscriber's address; about a fifth of the cost).
    pub fn delivered_to(&self, who: &Arc<UsageKey>, transport: Transport, event_type: EventType) {
        if let Some(series) = &self.per_practice {
            series.count(&who.practice_id, Metric::Delivery(transport), 1);
        }
        let hour = self.hour();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *state.deliveries.entry((ByAddress(who.clone()), hour, transport, event_type)).or_default() += 1;
    }

    /// A result that is no single event's (a live query's) handed to a transport.
    pub fn delivered_result(&self, who: &UsageKey, transport: Transport) {
        self.add(who, Metric::Delivery(transport), 1);
    }

    /// A connection opened; it counts as open until the returned guard drops.
    pub fn connection(self: &Arc<Self>, who: Arc<UsageKey>) -> Held {
        self.hold(who, Gauge::Connections)
    }

    /// A subscription (or live query) started; open until the guard drops.
    pub fn subscription(self: &Arc<Self>, who: Arc<UsageKey>) -> Held {
        self.hold(who, Gauge::Subscriptions)
    }

    fn hold(self: &Arc<Self>, who: Arc<UsageKey>, gauge: Gauge) -> Held {
        self.change(&who, gauge, 1);
        Held { meter: self.clone(), who, gauge }
    }

    fn change(&self, who: &UsageKey, gauge: Gauge, by: i64) {
        let hour = self.hour();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State { taken, open, .. } = &mut *state;
        for key in [who.api_key_id.clone(), self.all.clone()] {
            let now = open.entry((who.practice_id.clone(), key.clone(), gauge)).or_default();
            *now += by;
            let now = *now;
            let peak = taken.peaks.entry((who.practice_id.clone(), key, hour, gauge)).or_default();
            *peak = (*peak).max(now);
        }
        open.retain(|_, n| *n > 0);
    }

    /// Takes everything counted since the last take. What is open now is this hour's
    /// peak at least (so an hour with no change still has its peak).
    pub(super) fn take(&self) -> Taken {
        self.prune_keys();
        let hour = self.hour();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let State { taken, open, deliveries } = &mut *state;
        for ((ByAddress(who), hour, transport, event_type), n) in deliveries.drain() {
            let counts = &mut taken.counts;
            *counts.entry(((*who).clone(), hour, Metric::Delivery(transport))).or_default() += n;
            *counts.entry(((*who).clone(), hour, Metric::Event(event_type))).or_default() += n;
        }
        for ((practice, key, gauge), n) in open.iter() {
            let peak = taken.peaks.entry((practice.clone(), key.clone(), hour, *gauge)).or_default();
            *peak = (*peak).max(*n);
        }
        std::mem::take(taken)
    }

    /// Puts back what a failed flush took, so it is written by the next one.
    pub(super) fn restore(&self, failed: Taken) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for (key, n) in failed.counts {
            *state.taken.counts.entry(key).or_default() += n;
        }
        for (key, n) in failed.peaks {
            let peak = state.taken.peaks.entry(key).or_default();
            *peak = (*peak).max(n);
        }
    }
}

/// An open connection or subscription, counted until dropped.
pub struct Held {
    meter: Arc<Meter>,
    who: Arc<UsageKey>,
    gauge: Gauge,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.meter.change(&self.who, self.gauge, -1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_one_allocation_while_held_and_let_go_of_after() {
        let meter = Arc::new(Meter::new(Arc::new(crate::clock::SystemClock)));
        let one = meter.key("prc_1", Some("key_1"));
        let two = meter.key("prc_1", Some("key_1"));
        assert!(Arc::ptr_eq(&one, &two));
        assert_eq!(*one, UsageKey::new("prc_1", Some("key_1")));
        let admin = meter.key("prc_1", None);
        assert_eq!(&*admin.api_key_id, "");
        assert!(!Arc::ptr_eq(&one, &admin));
        assert!(Arc::ptr_eq(&one.practice_id, &admin.practice_id), "one practice id per practice");
        let open = meter.subscription(one.clone());
        drop((one, two, admin));
        meter.take();
        let interned = |meter: &Meter| meter.keys.lock().unwrap().values().map(HashMap::len).sum::<usize>();
        assert_eq!(interned(&meter), 1, "the held key stays, the other goes");
        drop(open);
        meter.take();
        assert_eq!(interned(&meter), 0);
        assert_eq!(*meter.key("prc_1", Some("key_1")), UsageKey::new("prc_1", Some("key_1")));
    }

    #[test]
    fn hub_deliveries_fold_into_the_same_counts_as_the_others() {
        let meter = Meter::new(Arc::new(crate::clock::SystemClock));
        let who = UsageKey::new("prc_1", Some("key_1"));
        let (one, two) = (Arc::new(who.clone()), Arc::new(who.clone()));
        meter.delivered_to(&one, Transport::Websocket, EventType::PaymentPosted);
        meter.delivered_to(&two, Transport::Websocket, EventType::PaymentPosted);
        meter.delivered_to(&two, Transport::Sse, EventType::PatientCreated);
        meter.delivered(&who, Transport::Websocket, EventType::PaymentPosted);
        let counts = meter.take().counts;
        let count =
            |metric| counts.iter().filter(|((w, _, m), _)| *w == who && *m == metric).map(|(_, n)| *n).sum::<u64>();
        assert_eq!(count(Metric::Delivery(Transport::Websocket)), 3u64);
        assert_eq!(count(Metric::Delivery(Transport::Sse)), 1);
        assert_eq!(count(Metric::Event(EventType::PaymentPosted)), 3);
        assert_eq!(count(Metric::Event(EventType::PatientCreated)), 1);
        assert!(meter.take().counts.is_empty(), "taken once");
    }
}
