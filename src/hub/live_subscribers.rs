//! The subscriber side of a practice hub's live queries: adding and removing subscribers,
//! a subscriber's first result (or none, when it resumes from a revision nothing has
//! changed since), and the current result for one that was behind or held.

use futures_util::FutureExt;
use indexmap::IndexMap;
use std::sync::Arc;

use super::budget::{self, Budget, RECHECK, Spent};
use super::live_queries::{Current, LiveQueries, LiveQuery, Work};
use super::messages::{HubCommand, InstallAck, LiveQueryInstall, RegistrationId};
use super::outbound::{Frame, Offer};
use super::registrations::{LiveQuerySubscriber, ResultState};
use super::shared::HubContext;
use crate::events::log;
use crate::live::Format;

/// Events read to decide whether a resuming subscriber's result changed; past this,
/// it gets the current result.
const RESUME_CHECK: u64 = 1000;

impl LiveQueries {
    /// Adds a subscriber; `fresh` are unused ids, its operation's used only if its query
    /// is not served yet.
    pub fn install(&mut self, install: LiveQueryInstall, fresh: RegistrationId, ack: InstallAck, cx: &HubContext) {
        let LiveQueryInstall { key, document, variables, arguments, throttle, subscriber } = install;
        let operation = match self.by_key.get(&key) {
            Some(id) => *id,
            None => {
                let op = LiveQuery {
                    key: key.clone(),
                    document,
                    variables,
                    arguments,
                    reads: None,
                    throttle,
                    subscribers: IndexMap::new(),
                    current: None,
                    born: 0,
                    changed_at: None,
                    running: false,
                    dirty: true,
                    cause: None,
                    waking: false,
                    last_run: None,
                    failures: 0,
                };
                self.by_key.insert(key, fresh.operation);
                self.by_id.insert(fresh.operation, op);
                cx.shared.services.counters.live_queries.inc();
                fresh.operation
            }
        };
        let id = RegistrationId { operation, subscriber: fresh.subscriber };
        if ack.send(Ok(id)).is_err() {
            self.forget_if_empty(operation, cx);
            return;
        }
        let Some(op) = self.by_id.get_mut(&operation) else { return };
        op.subscribers.insert(id.subscriber, subscriber);
        if op.current.is_some() {
            self.start(id, cx);
        }
        self.schedule(operation, cx);
    }

    /// Whether `id` was a live query's subscriber (and is gone now).
    pub fn remove(&mut self, id: RegistrationId, cx: &HubContext) -> bool {
        let Some(op) = self.by_id.get_mut(&id.operation) else { return false };
        op.subscribers.shift_remove(&id.subscriber);
        self.forget_if_empty(id.operation, cx);
        true
    }

    pub(super) fn forget_if_empty(&mut self, operation: u64, cx: &HubContext) {
        if self.by_id.get(&operation).is_some_and(|op| op.subscribers.is_empty())
            && let Some(op) = self.by_id.remove(&operation)
        {
            self.by_key.remove(&op.key);
            cx.shared.services.counters.live_queries.dec();
        }
    }

    /// A connection that was full has room again.
    pub fn drained(&mut self, id: RegistrationId, cx: &HubContext) {
        let op = self.by_id.get(&id.operation);
        let behind =
            op.and_then(|op| op.subscribers.get(&id.subscriber)).is_some_and(|s| s.state == ResultState::Behind);
        if behind {
            self.send_current(id, cx);
        }
    }

    /// A subscriber's first result: the current one, unless it resumes from a revision
    /// that nothing has changed since.
    pub(super) fn start(&mut self, id: RegistrationId, cx: &HubContext) {
        let Some(op) = self.by_id.get_mut(&id.operation) else { return };
        let Some(current) = &op.current else { return };
        let Some(subscriber) = op.subscribers.get_mut(&id.subscriber) else { return };
        let Some(after) = subscriber.after else {
            self.send_current(id, cx);
            return;
        };
        let unchanged = after >= current.revision || (after >= op.born && op.changed_at.is_none_or(|at| at <= after));
        if unchanged {
            subscriber.state = ResultState::InSync;
            return;
        }
        if after >= op.born || op.changed_at.is_some() {
            self.send_current(id, cx);
            return;
        }
        // It resumes from before this operation's first result: did anything since
        // touch what the result is made of?
        subscriber.state = ResultState::Checking;
        let (db, practice_id, through) = (cx.shared.services.db.clone(), cx.practice_id.to_string(), op.born);
        let reads = op.reads.clone().unwrap_or_default();
        self.work.push(
            async move {
                let changed = match log::read_range(&db, &practice_id, after, Some(through), None, RESUME_CHECK).await {
                    Ok(events) => {
                        events.len() as u64 == RESUME_CHECK
                            || events.first().is_some_and(|e| e.seq != after + 1)
                            || events.iter().any(|e| reads.affected_by(&e.payload.resource_ids()))
                    }
                    Err(_) => true,
                };
                Work::Checked { id, changed }
            }
            .boxed(),
        );
    }

    /// A resuming subscriber's check against the log is done.
    pub(super) fn checked(&mut self, id: RegistrationId, changed: bool, cx: &HubContext) {
        let Some(op) = self.by_id.get_mut(&id.operation) else { return };
        let changed = changed || op.changed_at.is_some();
        let Some(subscriber) = op.subscribers.get_mut(&id.subscriber) else { return };
        if changed {
            self.send_current(id, cx);
        } else {
            subscriber.state = ResultState::InSync;
        }
    }

    pub(super) fn send_current(&mut self, id: RegistrationId, cx: &HubContext) {
        let Some(op) = self.by_id.get_mut(&id.operation) else { return };
        let Some(current) = &op.current else { return };
        let Some(subscriber) = op.subscribers.get_mut(&id.subscriber) else { return };
        subscriber.sent = 0;
        let payload = match subscriber.format {
            Format::Full => current.full.clone(),
            Format::JsonDiffPatch => current.reset.clone(),
        };
        match offer(subscriber, payload, current, id, &mut self.budget, cx) {
            Offered::Open => {}
            Offered::Closed => {
                op.subscribers.shift_remove(&id.subscriber);
                self.forget_if_empty(id.operation, cx);
            }
            Offered::Held(missing) => self.reserve(missing, cx),
        }
    }

    /// Reserves deliveries for the held subscribers, unless that is under way; over the
    /// quota, it asks again a second later.
    pub(super) fn reserve(&mut self, missing: i64, cx: &HubContext) {
        if std::mem::replace(&mut self.reserving, true) {
            return;
        }
        let (limits, practice_id) = (cx.shared.services.limits.clone(), cx.practice_id.to_string());
        self.work.push(
            async move {
                let day = limits.delivery_day();
                // The quota as it is now (it may have been raised, or lifted: then none
                // is needed).
                let Some(max) = limits.quota_now(&practice_id).and_then(|q| q.max_deliveries_per_day) else {
                    return Work::Reserved { day, amount: 0 };
                };
                let amount = budget::reserve(&limits, &practice_id, missing, max).await;
                if amount == 0 {
                    tokio::time::sleep(RECHECK).await;
                }
                Work::Reserved { day, amount }
            }
            .boxed(),
        );
    }

    /// Deliveries were reserved (or not yet): the held subscribers get the current result.
    pub(super) fn reserved(&mut self, day: i64, amount: i64, cx: &HubContext) {
        self.reserving = false;
        self.budget.reserved(day, amount);
        let held: Vec<RegistrationId> = self
            .by_id
            .iter()
            .flat_map(|(operation, op)| {
                let held = op.subscribers.iter().filter(|(_, s)| s.state == ResultState::Held);
                held.map(|(subscriber, _)| RegistrationId { operation: *operation, subscriber: *subscriber })
            })
            .collect();
        for id in held {
            self.send_current(id, cx);
        }
    }
}

pub(super) enum Offered {
    /// Queued, or it waits for its queue to drain.
    Open,
    Closed,
    /// Over the daily deliveries: reserve `missing` more.
    Held(i64),
}

/// Queues one result, if the practice's daily deliveries allow.
pub(super) fn offer(
    subscriber: &mut LiveQuerySubscriber,
    payload: Arc<str>,
    current: &Current,
    id: RegistrationId,
    budget: &mut Budget,
    cx: &HubContext,
) -> Offered {
    if let Spent::Reserve { missing, .. } = budget.spend_now(&cx.shared.services.limits, cx.practice_id, 1) {
        subscriber.state = ResultState::Held;
        return Offered::Held(missing);
    }
    let revision = current.revision;
    match subscriber.outbound.offer(Frame::Live { tag: subscriber.tag.clone(), payload, revision }) {
        Offer::Queued => {
            subscriber.delivered.inc();
            subscriber.metered.delivered_result(&current.patients);
            subscriber.state = ResultState::InSync;
            subscriber.sent += 1;
            Offered::Open
        }
        Offer::Full => {
            budget.give_back(1);
            subscriber.state = ResultState::Behind;
            let commands = cx.commands.clone();
            subscriber.outbound.when_drained(Box::new(move || {
                let _ = commands.send(HubCommand::LiveQueryDrained(id));
            }));
            Offered::Open
        }
        Offer::Closed => {
            budget.give_back(1);
            Offered::Closed
        }
    }
}
