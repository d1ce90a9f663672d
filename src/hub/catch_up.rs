//! How a lagging subscriber of a shared subscription catches up: it reads the log page by
//! page from its own last seq, rendered by its operation, once its connection has room and
//! the practice's daily deliveries allow, until it reaches the hub's position.

use futures_util::FutureExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::sleep;

use super::messages::{HubCommand, RegistrationId};
use super::operations::{Lagging, Operation, Operations, PageRead};
use super::outbound::{Frame, Offer};
use super::shared::HubContext;
use crate::events::log;

/// Rows read from the log per round trip while a subscriber catches up.
const PAGE: u64 = 500;
/// How long to wait before reading the log again after a failed read.
const RETRY: Duration = Duration::from_secs(1);

impl Operations {
    /// Every caught-up subscriber lags from `position` (what it has).
    pub fn all_lagging(&mut self, position: i64) {
        for op in self.by_id.values_mut() {
            for (id, subscriber) in op.caught_up.drain(..) {
                op.lagging.insert(id, Lagging { subscriber, last: position, busy: false });
            }
        }
    }

    pub fn advance_all(&mut self, cx: &HubContext<'_>) {
        let waiting: Vec<RegistrationId> = self
            .by_id
            .iter()
            .flat_map(|(operation, op)| {
                let idle = op.lagging.iter().filter(|(_, lagging)| !lagging.busy);
                idle.map(move |(subscriber, _)| RegistrationId { operation: *operation, subscriber: *subscriber })
            })
            .collect();
        for id in waiting {
            self.advance(id, cx);
        }
    }

    /// A lagging subscriber's connection has room again.
    pub fn drained(&mut self, id: RegistrationId, cx: &HubContext<'_>) {
        let lagging = self.by_id.get_mut(&id.operation).and_then(|op| op.lagging.get_mut(&id.subscriber));
        if let Some(lagging) = lagging {
            lagging.busy = false;
            self.advance(id, cx);
        }
    }

    /// Moves a lagging subscriber on: caught up once it has reached the hub's position,
    /// else a page from the log once its connection has room.
    pub(super) fn advance(&mut self, id: RegistrationId, cx: &HubContext<'_>) {
        let position = cx.position;
        let practice_id = cx.practice_id.to_string();
        let (db, commands) = (cx.shared.services.db.clone(), cx.commands.clone());
        let Some(op) = self.by_id.get_mut(&id.operation) else { return };
        let Some(lag) = op.lagging.get_mut(&id.subscriber) else { return };
        if lag.busy || lag.last > position {
            return;
        }
        if lag.last == position {
            if let Some(lag) = op.lagging.remove(&id.subscriber) {
                op.caught_up.insert(id.subscriber, lag.subscriber);
            }
            return;
        }
        if self.budget.is_held() {
            // Over the daily quota: it stays where it is until the quota allows.
            return;
        }
        lag.busy = true;
        if lag.subscriber.outbound.is_full() {
            let notify = Box::new(move || {
                let _ = commands.send(HubCommand::Drained(id));
            });
            lag.subscriber.outbound.when_drained(notify);
            return;
        }
        let after = lag.last;
        self.reads.push(
            async move {
                let result = log::read_range(&db, &practice_id, after, Some(position), None, PAGE).await;
                PageRead { id, result: Some(result) }
            }
            .boxed(),
        );
    }

    /// A page of the log for one lagging subscriber.
    pub async fn page(&mut self, read: PageRead, cx: &HubContext<'_>) {
        let id = read.id;
        let Some(op) = self.by_id.get_mut(&id.operation) else { return };
        let Operation { producer, filter, lagging, .. } = op;
        let Some(lag) = lagging.get_mut(&id.subscriber) else { return };
        let practice_id = cx.practice_id;
        let events = match read.result {
            None => Vec::new(),
            Some(Ok(events)) if !events.is_empty() => events,
            // A failed read, or none of the committed events it must find (the log lost
            // them): try again in a while rather than spin, and never skip them.
            Some(failed) => {
                match failed {
                    Err(err) => tracing::warn!(%practice_id, error = %err, "catching up from the log failed; retrying"),
                    Ok(_) => {
                        tracing::warn!(%practice_id, after = lag.last, "no events in the log where a subscriber catches up")
                    }
                }
                let retry = async move {
                    sleep(RETRY).await;
                    PageRead { id, result: None }
                };
                self.reads.push(retry.boxed());
                return;
            }
        };
        lag.busy = false;
        if events[0].seq > lag.last + 1 {
            // Retention pruned what this subscriber still had to read: end it rather
            // than skip events; resuming from its last cursor then answers CURSOR_EXPIRED.
            tracing::warn!(%practice_id, after = lag.last, first = events[0].seq,
                "events a subscriber catches up through were pruned; ending its subscription");
            if let Some(lag) = lagging.remove(&id.subscriber) {
                lag.subscriber.outbound.push(Frame::Complete { tag: lag.subscriber.tag });
            }
            self.forget_if_empty(id.operation, cx);
            return;
        }
        let mut broken = false;
        let mut held = false;
        for event in events {
            if event.seq <= lag.last {
                continue;
            }
            if filter.matches(&event) {
                if !self.budget.spend(&cx.shared.services.limits, practice_id, 1).await {
                    held = true;
                    break;
                }
                let event = Arc::new(event);
                let Some(json) = producer.lock().await.render(&event).await else {
                    broken = true;
                    break;
                };
                let frame = Frame::Next { tag: lag.subscriber.tag.clone(), payload: json, event: event.clone() };
                match lag.subscriber.outbound.offer(frame) {
                    Offer::Queued => {
                        lag.subscriber.delivered.inc();
                        lag.subscriber.metered.delivered(&event);
                    }
                    Offer::Full => {
                        self.budget.give_back(1);
                        break;
                    }
                    Offer::Closed => {
                        self.budget.give_back(1);
                        lagging.remove(&id.subscriber);
                        self.forget_if_empty(id.operation, cx);
                        return;
                    }
                }
                lag.last = event.seq;
            } else {
                lag.last = event.seq;
            }
        }
        if broken {
            self.end(id.operation, cx);
            return;
        }
        if !held {
            self.advance(id, cx);
        }
    }
}
