//! The runs of a practice hub's live queries: which events make a live query dirty, when
//! a dirty one runs (its throttle, one run at a time, a backoff after failures), and the
//! new result published to every subscriber that follows along, whole or as a delta.

use async_graphql::{Executor, Request};
use futures_util::FutureExt;
use std::time::Duration;
use tokio::time::{Instant, sleep_until, timeout};
use tracing::Instrument;

use super::live_queries::{Current, LiveQueries, Run, Work};
use super::live_subscribers::{Offered, offer};
use super::messages::RegistrationId;
use super::registrations::ResultState;
use super::shared::HubContext;
use crate::audit::Touched;
use crate::auth::Auth;
use crate::events::StoredEvent;
use crate::live::{Format, diff};

/// A run that takes longer than this is abandoned and retried.
const RUN_TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed run the next one waits this long, doubling with each failure in a row
/// up to `RETRY_MAX` (the database is away; its subscribers keep their last result).
const RETRY: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

impl LiveQueries {
    /// An event of the practice: the operations it can change run again.
    pub fn event(&mut self, event: &StoredEvent, cx: &HubContext) {
        let resources = event.payload.resource_ids();
        let affected: Vec<u64> = self
            .by_id
            .iter_mut()
            .filter(|(_, op)| op.reads.as_ref().is_none_or(|reads| reads.affected_by(&resources)))
            .map(|(id, op)| {
                op.dirty = true;
                if crate::telemetry::on() {
                    op.cause = event.trace.clone();
                }
                *id
            })
            .collect();
        for id in affected {
            self.schedule(id, cx);
        }
    }

    /// The feed reopened: what it skipped may have changed anything.
    pub fn all_dirty(&mut self, cx: &HubContext) {
        let ids: Vec<u64> = self.by_id.keys().copied().collect();
        for id in ids {
            if let Some(op) = self.by_id.get_mut(&id) {
                op.dirty = true;
            }
            self.schedule(id, cx);
        }
    }

    /// Runs a dirty operation now, or arranges to when its throttle allows.
    pub(super) fn schedule(&mut self, id: u64, cx: &HubContext) {
        let Some(op) = self.by_id.get_mut(&id) else { return };
        if op.running || !op.dirty {
            return;
        }
        let now = Instant::now();
        if let Some(due) = op.last_run.map(|at| at + op.throttle)
            && due > now
        {
            if !op.waking {
                op.waking = true;
                self.work.push(
                    async move {
                        sleep_until(due).await;
                        Work::Wake { op: id }
                    }
                    .boxed(),
                );
            }
            return;
        }
        op.running = true;
        op.dirty = false;
        op.last_run = Some(now);
        cx.shared.services.counters.live_executions.inc();
        let touched = Touched::default();
        let mut request = Request::new(op.key.query.clone())
            .variables(op.variables.clone())
            .data(Auth(Some(op.key.scope.principal())))
            .data(touched.clone());
        if let Some(name) = &op.key.operation_name {
            request = request.operation_name(name.clone());
        }
        request.set_parsed_query((*op.document).clone());
        let (schema, mut reads, revision) = (cx.shared.schema.clone(), op.arguments.clone(), cx.position);
        let practice_id = cx.practice_id.to_string();
        let span = crate::telemetry::delivery("live_query", &practice_id, revision, op.cause.take().as_ref());
        self.work.push(
            async move {
                let result = match timeout(RUN_TIMEOUT, Executor::execute(&schema, request)).await {
                    Err(_) => Err("the live query timed out".to_string()),
                    Ok(response) if !response.errors.is_empty() => {
                        Err(response.errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join("; "))
                    }
                    Ok(mut response) => {
                        reads.collect(&mut response.data);
                        let patients =
                            touched.take().into_iter().filter(|(p, _)| *p == practice_id).flat_map(|(_, ids)| ids);
                        let patients = patients.collect();
                        response.data.into_json().map(|data| Run { data, reads, patients }).map_err(|e| e.to_string())
                    }
                };
                Work::Ran { op: id, revision, result }
            }
            .instrument(span)
            .boxed(),
        );
    }

    pub fn done(&mut self, work: Work, cx: &HubContext) {
        match work {
            Work::Wake { op } => {
                if let Some(live) = self.by_id.get_mut(&op) {
                    live.waking = false;
                }
                self.schedule(op, cx);
            }
            Work::Ran { op, revision, result } => self.ran(op, revision, result, cx),
            Work::Reserved { day, amount } => self.reserved(day, amount, cx),
            Work::Checked { id, changed } => self.checked(id, changed, cx),
        }
    }

    fn ran(&mut self, id: u64, revision: i64, result: Result<Run, String>, cx: &HubContext) {
        let Some(op) = self.by_id.get_mut(&id) else { return };
        op.running = false;
        let Run { data, reads, patients } = match result {
            Ok(ran) => ran,
            Err(reason) => {
                op.failures += 1;
                tracing::warn!(practice_id = cx.practice_id, reason, failures = op.failures, "a live query run failed");
                op.dirty = true;
                op.waking = true;
                let wait = RETRY.saturating_mul(1 << (op.failures - 1).min(5)).min(RETRY_MAX);
                self.work.push(
                    async move {
                        tokio::time::sleep(wait).await;
                        Work::Wake { op: id }
                    }
                    .boxed(),
                );
                return;
            }
        };
        op.failures = 0;
        op.reads = Some(reads);
        let text = data.to_string();
        let first = op.current.is_none();
        if first {
            op.born = revision;
        }
        match op.current.as_mut() {
            Some(current) if current.text == text => current.revision = revision,
            _ => {
                let previous = op.current.take().map(|c| c.data);
                let full = format!("{{\"data\":{text},\"extensions\":{{\"revision\":{revision}}}}}").into();
                let reset =
                    format!("{{\"data\":{text},\"revision\":1,\"extensions\":{{\"revision\":{revision}}}}}").into();
                op.current = Some(Current { data, text, revision, full, reset, patients: patients.into() });
                if !first {
                    op.changed_at = Some(revision);
                }
                cx.shared.services.counters.live_results.inc();
                self.publish(id, previous, cx);
            }
        }
        self.schedule(id, cx);
    }

    /// A new result: to every subscriber that follows along (whole, or as a delta from
    /// the one before), and to those waiting for their first.
    fn publish(&mut self, id: u64, previous: Option<serde_json::Value>, cx: &HubContext) {
        let Some(op) = self.by_id.get_mut(&id) else { return };
        let Some(current) = &op.current else { return };
        let delta = previous.as_ref().and_then(|previous| diff(previous, &current.data)).map(|d| d.to_string());
        let revision = current.revision;
        let mut starting = Vec::new();
        let mut closed = Vec::new();
        let mut over = None;
        for (subscriber_id, subscriber) in op.subscribers.iter_mut() {
            let payload = match (subscriber.state, subscriber.format) {
                (ResultState::Waiting, _) => {
                    starting.push(*subscriber_id);
                    continue;
                }
                (ResultState::Behind | ResultState::Checking | ResultState::Held, _) => continue,
                (ResultState::InSync, Format::Full) => current.full.clone(),
                (ResultState::InSync, Format::JsonDiffPatch) => match &delta {
                    Some(delta) if subscriber.sent > 0 => {
                        let n = subscriber.sent + 1;
                        format!("{{\"patch\":{delta},\"revision\":{n},\"extensions\":{{\"revision\":{revision}}}}}")
                            .into()
                    }
                    _ => {
                        subscriber.sent = 0;
                        current.reset.clone()
                    }
                },
            };
            let registration = RegistrationId { operation: id, subscriber: *subscriber_id };
            match offer(subscriber, payload, current, registration, &mut self.budget, cx) {
                Offered::Open => {}
                Offered::Closed => closed.push(*subscriber_id),
                Offered::Held(missing) => over = Some(missing),
            }
        }
        for subscriber in closed {
            op.subscribers.shift_remove(&subscriber);
        }
        for subscriber in starting {
            self.start(RegistrationId { operation: id, subscriber }, cx);
        }
        self.forget_if_empty(id, cx);
        if let Some(missing) = over {
            self.reserve(missing, cx);
        }
    }
}
