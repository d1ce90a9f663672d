//! A practice hub's shared subscriptions: each distinct operation and its subscribers,
//! installed and removed, and what a new event sends them. An operation's results come
//! from one shared execution (its producer), which a practice's patients' operations of
//! the same document share among them (`OperationKey::rendering`).
//!
//! A subscriber is *caught up* or *lagging*. Caught-up ones get every matching event as
//! it comes, rendered once per operation. A lagging one — replaying after its cursor,
//! started before the hub had caught up with it, or pushed past its connection's byte
//! bound — reads the log page by page from its own last seq (`catch_up`) until it reaches
//! the hub's position, and then is caught up.

use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use indexmap::IndexMap;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

use super::budget::Budget;
use super::key::OperationKey;
use super::messages::{InstallAck, RegistrationId, SubscriptionInstall};
use super::outbound::{Frame, Offer};
use super::producer::{Prepared, Producer};
use super::registrations::Subscriber;
use super::shared::HubContext;
use crate::error::AppResult;
use crate::events::{FeedFilter, StoredEvent};

#[derive(Default)]
pub(super) struct Operations {
    pub by_id: HashMap<u64, Operation>,
    pub by_key: HashMap<OperationKey, u64>,
    /// The executions rendering the operations' results, by `OperationKey::rendering`.
    pub producers: HashMap<OperationKey, SharedProducer>,
    /// The log reads of lagging subscribers under way.
    pub reads: FuturesUnordered<BoxFuture<'static, PageRead>>,
    /// Their share of `maxDeliveriesPerDay`.
    pub budget: Budget,
}

/// One execution, used by every operation that renders through it (the hub's one task
/// takes the lock, so it is never contended).
pub(super) type SharedProducer = Arc<Mutex<Producer>>;

pub(super) struct Operation {
    pub key: OperationKey,
    /// Which events its subscribers get: what the first one's own start bound (every
    /// subscriber of one key binds the same).
    pub filter: FeedFilter,
    pub producer: SharedProducer,
    pub caught_up: IndexMap<u64, Subscriber>,
    pub lagging: HashMap<u64, Lagging>,
}

impl Operation {
    fn is_empty(&self) -> bool {
        self.caught_up.is_empty() && self.lagging.is_empty()
    }
}

pub(super) struct Lagging {
    pub subscriber: Subscriber,
    pub last: i64,
    /// A log read is in flight, or the connection's queue has yet to drain.
    pub busy: bool,
}

pub(super) struct PageRead {
    pub id: RegistrationId,
    /// None: the wait after a failed or empty read is over; read again.
    pub result: Option<AppResult<Vec<StoredEvent>>>,
}

impl Operations {
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Adds a subscriber; `fresh` are unused ids, its operation's used only if its
    /// operation is not served yet.
    pub async fn install(
        &mut self,
        install: SubscriptionInstall,
        fresh: RegistrationId,
        ack: InstallAck,
        cx: &HubContext<'_>,
    ) {
        let operation = match self.by_key.get(&install.prepared.key) {
            Some(id) => *id,
            None => match self.producer(&install, cx).await {
                Ok(producer) => {
                    let id = fresh.operation;
                    let key = install.prepared.key.clone();
                    self.by_key.insert(key.clone(), id);
                    let filter = install.filter.clone();
                    let (caught_up, lagging) = (IndexMap::new(), HashMap::new());
                    self.by_id.insert(id, Operation { key, filter, producer, caught_up, lagging });
                    cx.shared.services.counters.shared_operations.inc();
                    id
                }
                Err(reason) => {
                    let _ = ack.send(Err(reason));
                    return;
                }
            },
        };
        let id = RegistrationId { operation, subscriber: fresh.subscriber };
        if ack.send(Ok(id)).is_err() {
            // The subscriber left while it was being installed.
            self.forget_if_empty(operation, cx);
            return;
        }
        let Some(op) = self.by_id.get_mut(&operation) else { return };
        if install.start == cx.position {
            op.caught_up.insert(id.subscriber, install.subscriber);
        } else {
            let lagging = Lagging { subscriber: install.subscriber, last: install.start, busy: false };
            op.lagging.insert(id.subscriber, lagging);
            self.advance(id, cx);
        }
    }

    /// The execution a new operation renders through: the one already running for its
    /// rendering key, or a new one.
    async fn producer(&mut self, install: &SubscriptionInstall, cx: &HubContext<'_>) -> Result<SharedProducer, String> {
        let rendering = install.prepared.key.rendering();
        if let Some(producer) = self.producers.get(&rendering) {
            return Ok(producer.clone());
        }
        let prepared = Prepared { key: rendering.clone(), variables: install.prepared.variables.clone() };
        let running = &cx.shared.services.counters.shared_renderers;
        let producer = Producer::start(&cx.shared.schema, &prepared, cx.practice_id, running).await?;
        let producer = Arc::new(Mutex::new(producer));
        self.producers.insert(rendering, producer.clone());
        Ok(producer)
    }

    /// Stops offering `producer` to new operations of `key`'s rendering (if it is still the
    /// one offered: a broken one may have been replaced).
    fn unlist_producer(&mut self, key: &OperationKey, producer: &SharedProducer) {
        let rendering = key.rendering();
        if self.producers.get(&rendering).is_some_and(|p| Arc::ptr_eq(p, producer)) {
            self.producers.remove(&rendering);
        }
    }

    pub fn remove(&mut self, id: RegistrationId, cx: &HubContext<'_>) {
        let Some(op) = self.by_id.get_mut(&id.operation) else { return };
        if op.caught_up.swap_remove(&id.subscriber).is_none() {
            op.lagging.remove(&id.subscriber);
        }
        self.forget_if_empty(id.operation, cx);
    }

    pub(super) fn forget_if_empty(&mut self, operation: u64, cx: &HubContext<'_>) {
        if self.by_id.get(&operation).is_some_and(Operation::is_empty)
            && let Some(op) = self.by_id.remove(&operation)
        {
            self.by_key.remove(&op.key);
            // Held by the map and this operation only: no other operation renders through it.
            if Arc::strong_count(&op.producer) <= 2 {
                self.unlist_producer(&op.key, &op.producer);
            }
            cx.shared.services.counters.shared_operations.dec();
        }
    }

    /// A new event (`cx.position` is still the one before it): rendered once per
    /// operation it matches, then queued for every caught-up subscriber of that operation.
    pub async fn event(&mut self, event: &Arc<StoredEvent>, cx: &HubContext<'_>) {
        // One quota check per event for the whole practice; over `maxDeliveriesPerDay`
        // every caught-up subscriber is held at what it has and later reads the log.
        let needed: usize = self
            .by_id
            .values()
            .filter(|op| !op.caught_up.is_empty() && op.filter.matches(event))
            .map(|op| op.caught_up.len())
            .sum();
        let limits = &cx.shared.services.limits;
        if needed > 0 && (self.budget.is_held() || !self.budget.spend(limits, cx.practice_id, needed as i64).await) {
            self.all_lagging(cx.position);
            return;
        }
        let cx = HubContext { position: event.seq, ..*cx };
        let mut unsent = 0;
        let counters = cx.shared.services.counters.clone();
        let age = (cx.shared.services.clock.now() - event.occurred_at).num_microseconds().unwrap_or(0).max(0);
        let age = age as f64 / 1e6;
        let mut broken = Vec::new();
        for (id, op) in self.by_id.iter_mut() {
            if op.caught_up.is_empty() || !op.filter.matches(event) {
                continue;
            }
            let Some(json) = op.producer.lock().await.render(event).await else {
                broken.push(*id);
                continue;
            };
            counters.shared_executions.inc();
            let mut i = 0;
            while let Some((_, subscriber)) = op.caught_up.get_index(i) {
                let frame = Frame::Next { tag: subscriber.tag.clone(), payload: json.clone(), event: event.clone() };
                match subscriber.outbound.offer(frame) {
                    Offer::Queued => {
                        subscriber.delivered.inc();
                        subscriber.metered.delivered(event);
                        counters.delivery_latency.observe(age);
                        i += 1;
                    }
                    // Past its byte bound: it reads this event and the next from the log.
                    Offer::Full => {
                        counters.lag_catch_ups.inc();
                        unsent += 1;
                        if let Some((subscriber_id, subscriber)) = op.caught_up.swap_remove_index(i) {
                            op.lagging.insert(subscriber_id, Lagging { subscriber, last: event.seq - 1, busy: false });
                        }
                    }
                    Offer::Closed => {
                        unsent += 1;
                        op.caught_up.swap_remove_index(i);
                    }
                }
            }
        }
        self.budget.give_back(unsent);
        for id in broken {
            self.end(id, &cx);
        }
        self.advance_all(&cx);
    }

    /// An operation whose execution broke: its subscribers are told it ended.
    pub(super) fn end(&mut self, operation: u64, cx: &HubContext<'_>) {
        let Some(op) = self.by_id.get_mut(&operation) else { return };
        tracing::warn!(practice_id = %cx.practice_id, "a shared subscription execution broke; ending it");
        // New operations start an execution of their own; those still on it end as they meet it.
        let (key, producer) = (op.key.clone(), op.producer.clone());
        self.unlist_producer(&key, &producer);
        let Some(op) = self.by_id.get_mut(&operation) else { return };
        let caught_up = op.caught_up.drain(..).map(|(_, subscriber)| subscriber);
        for subscriber in caught_up.chain(op.lagging.drain().map(|(_, lagging)| lagging.subscriber)) {
            subscriber.outbound.push(Frame::Complete { tag: subscriber.tag });
        }
        self.forget_if_empty(operation, cx);
    }
}
