//! A practice hub's live queries. Each distinct live query (document, variables, scope:
//! the same [`OperationKey`] as shared subscriptions) is one operation, executed once per
//! change whatever its number of subscribers:
//!
//! - an event of the practice marks dirty the operations whose last result it can change
//!   (`live::Reads`: the resources the result was made of);
//! - a dirty operation re-executes at once, or when its throttle allows (at most one run
//!   per `throttle`, one at a time); whatever arrives meanwhile is in the next run, so the
//!   last state is never skipped;
//! - a result is sent only when its bytes changed, tagged with the practice seq the hub
//!   had reached when the run began (`extensions.revision`): everything up to it is in it.
//!
//! A subscriber past its connection's byte bound skips the intermediate results and gets
//! the current one when its queue drains. One that resumes from a revision gets the
//! current result only if it changed since. Each result sent is one delivery of the
//! practice's `maxDeliveriesPerDay`: past it a subscriber is held, and gets the current
//! result once the quota allows. Each result sent counts, in the audit trail, as a
//! delivery of every patient the run touched.

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Executor, Request, Variables};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use indexmap::IndexMap;
use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep_until, timeout};

use super::budget::{self, Budget, RECHECK, Spent};
use super::hubs::Shared;
use super::key::OperationKey;
use super::outbound::{Frame, Offer, Outbound, Tag};
use super::practice::{Command, Ids};
use crate::audit::Touched;
use crate::auth::Auth;
use crate::events::{StoredEvent, log};
use crate::live::{Format, Reads, diff};

/// A run that takes longer than this is abandoned and retried.
const RUN_TIMEOUT: Duration = Duration::from_secs(10);
/// After a failed run the next one waits this long, doubling with each failure in a row
/// up to `RETRY_MAX` (the database is away; its subscribers keep their last result).
const RETRY: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);
/// Events read to decide whether a resuming subscriber's result changed; past this,
/// it gets the current result.
const RESUME_CHECK: u64 = 1000;

/// A live query to serve, as `Hubs` hands it over.
pub(super) struct LiveInstall {
    pub key: OperationKey,
    /// The query with its private selections (see `live::track`).
    pub document: Arc<ExecutableDocument>,
    pub variables: Variables,
    /// What its root arguments read.
    pub arguments: Reads,
    pub throttle: Duration,
    pub reg: LiveReg,
}

/// One subscriber of a live query.
pub(super) struct LiveReg {
    pub tag: Arc<Tag>,
    pub outbound: Arc<Outbound>,
    pub delivered: Counter,
    pub metered: Arc<super::metered::Metered>,
    pub format: Format,
    /// The revision it already has (it resumes).
    pub after: Option<i64>,
    /// jsondiffpatch results sent since its last whole one (n1ru4l's `revision`).
    sent: u64,
    state: State,
}

impl LiveReg {
    pub fn new(
        tag: Arc<Tag>,
        outbound: Arc<Outbound>,
        delivered: Counter,
        metered: Arc<super::metered::Metered>,
        format: Format,
        after: Option<i64>,
    ) -> Self {
        Self { tag, outbound, delivered, metered, format, after, sent: 0, state: State::Waiting }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// No result yet.
    Waiting,
    /// It has the current result (or, after `sent == 0`, needs a whole one next).
    InSync,
    /// Its queue was full: it gets the current result once it drains.
    Behind,
    /// Its resume point is being checked against the log.
    Checking,
    /// Over the practice's daily deliveries: it gets the current result once they allow.
    Held,
}

struct Current {
    /// The `data` as JSON, for deltas, and as text, to tell whether it changed.
    data: serde_json::Value,
    text: String,
    revision: i64,
    /// The whole result, and the first jsondiffpatch one.
    full: Arc<str>,
    reset: Arc<str>,
    /// The patients the run touched (of this practice), for the audit trail.
    patients: Arc<[String]>,
}

struct LiveOp {
    key: OperationKey,
    document: Arc<ExecutableDocument>,
    variables: Variables,
    arguments: Reads,
    /// What the last result was made of; None before the first.
    reads: Option<Reads>,
    throttle: Duration,
    regs: IndexMap<u64, LiveReg>,
    current: Option<Current>,
    /// The revision of the first result, and of the last change after it.
    born: i64,
    changed_at: Option<i64>,
    running: bool,
    dirty: bool,
    waking: bool,
    last_run: Option<Instant>,
    failures: u32,
}

pub(super) enum Work {
    Ran {
        op: u64,
        revision: i64,
        result: Result<Run, String>,
    },
    /// `amount` deliveries of `day` reserved for held subscribers (0: not yet).
    Reserved {
        day: i64,
        amount: i64,
    },
    Wake {
        op: u64,
    },
    Checked {
        ids: Ids,
        changed: bool,
    },
}

/// What the hub lends its live queries.
pub(super) struct Cx<'a> {
    pub practice_id: &'a str,
    pub shared: &'a Arc<Shared>,
    pub commands: &'a mpsc::UnboundedSender<Command>,
    /// The last seq the hub has handed out.
    pub position: i64,
}

#[derive(Default)]
pub(super) struct Lives {
    ops: HashMap<u64, LiveOp>,
    by_key: HashMap<OperationKey, u64>,
    pub work: FuturesUnordered<BoxFuture<'static, Work>>,
    /// Their share of `maxDeliveriesPerDay`, and whether a reservation is under way.
    pub budget: Budget,
    reserving: bool,
}

/// A run's result: its data, what it was made of, the patients it touched.
pub(super) struct Run {
    data: serde_json::Value,
    reads: Reads,
    patients: Vec<String>,
}

impl Lives {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Adds a subscriber; `(new_op, new_reg)` are fresh ids, the first used only if its
    /// query is not served yet.
    pub fn install(
        &mut self,
        install: LiveInstall,
        (new_op, new_reg): Ids,
        ack: oneshot::Sender<Result<Ids, String>>,
        cx: &Cx,
    ) {
        let LiveInstall { key, document, variables, arguments, throttle, reg } = install;
        let op_id = match self.by_key.get(&key) {
            Some(id) => *id,
            None => {
                let op = LiveOp {
                    key: key.clone(),
                    document,
                    variables,
                    arguments,
                    reads: None,
                    throttle,
                    regs: IndexMap::new(),
                    current: None,
                    born: 0,
                    changed_at: None,
                    running: false,
                    dirty: true,
                    waking: false,
                    last_run: None,
                    failures: 0,
                };
                self.by_key.insert(key, new_op);
                self.ops.insert(new_op, op);
                cx.shared.services.counters.live_queries.inc();
                new_op
            }
        };
        let ids = (op_id, new_reg);
        if ack.send(Ok(ids)).is_err() {
            self.forget_if_empty(op_id, cx);
            return;
        }
        let Some(op) = self.ops.get_mut(&op_id) else { return };
        op.regs.insert(new_reg, reg);
        if op.current.is_some() {
            self.start(ids, cx);
        }
        self.schedule(op_id, cx);
    }

    /// Whether `ids` were a live registration (and are gone now).
    pub fn remove(&mut self, (op, reg): Ids, cx: &Cx) -> bool {
        let Some(live) = self.ops.get_mut(&op) else { return false };
        live.regs.shift_remove(&reg);
        self.forget_if_empty(op, cx);
        true
    }

    fn forget_if_empty(&mut self, op: u64, cx: &Cx) {
        if self.ops.get(&op).is_some_and(|live| live.regs.is_empty())
            && let Some(live) = self.ops.remove(&op)
        {
            self.by_key.remove(&live.key);
            cx.shared.services.counters.live_queries.dec();
        }
    }

    /// A connection that was full has room again.
    pub fn drained(&mut self, ids: Ids, cx: &Cx) {
        let behind = self.ops.get(&ids.0).and_then(|op| op.regs.get(&ids.1)).is_some_and(|r| r.state == State::Behind);
        if behind {
            self.send_current(ids, cx);
        }
    }

    /// An event of the practice: the operations it can change run again.
    pub fn event(&mut self, event: &StoredEvent, cx: &Cx) {
        let resources = event.payload.resource_ids();
        let affected: Vec<u64> = self
            .ops
            .iter_mut()
            .filter(|(_, op)| op.reads.as_ref().is_none_or(|reads| reads.affected_by(&resources)))
            .map(|(id, op)| {
                op.dirty = true;
                *id
            })
            .collect();
        for id in affected {
            self.schedule(id, cx);
        }
    }

    /// The feed reopened: what it skipped may have changed anything.
    pub fn all_dirty(&mut self, cx: &Cx) {
        let ids: Vec<u64> = self.ops.keys().copied().collect();
        for id in ids {
            if let Some(op) = self.ops.get_mut(&id) {
                op.dirty = true;
            }
            self.schedule(id, cx);
        }
    }

    /// Runs a dirty operation now, or arranges to when its throttle allows.
    fn schedule(&mut self, id: u64, cx: &Cx) {
        let Some(op) = self.ops.get_mut(&id) else { return };
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
            .boxed(),
        );
    }

    pub fn done(&mut self, work: Work, cx: &Cx) {
        match work {
            Work::Wake { op } => {
                if let Some(live) = self.ops.get_mut(&op) {
                    live.waking = false;
                }
                self.schedule(op, cx);
            }
            Work::Ran { op, revision, result } => self.ran(op, revision, result, cx),
            Work::Reserved { day, amount } => {
                self.reserving = false;
                self.budget.reserved(day, amount);
                let held: Vec<Ids> = self
                    .ops
                    .iter()
                    .flat_map(|(op, live)| {
                        live.regs.iter().filter(|(_, r)| r.state == State::Held).map(|(reg, _)| (*op, *reg))
                    })
                    .collect();
                for ids in held {
                    self.send_current(ids, cx);
                }
            }
            Work::Checked { ids, changed } => {
                let Some(op) = self.ops.get_mut(&ids.0) else { return };
                let changed = changed || op.changed_at.is_some();
                let Some(reg) = op.regs.get_mut(&ids.1) else { return };
                if changed {
                    self.send_current(ids, cx);
                } else {
                    reg.state = State::InSync;
                }
            }
        }
    }

    fn ran(&mut self, id: u64, revision: i64, result: Result<Run, String>, cx: &Cx) {
        let Some(op) = self.ops.get_mut(&id) else { return };
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
    fn publish(&mut self, id: u64, previous: Option<serde_json::Value>, cx: &Cx) {
        let Some(op) = self.ops.get_mut(&id) else { return };
        let Some(current) = &op.current else { return };
        let delta = previous.as_ref().and_then(|previous| diff(previous, &current.data)).map(|d| d.to_string());
        let revision = current.revision;
        let mut starting = Vec::new();
        let mut closed = Vec::new();
        let mut over = None;
        for (reg_id, reg) in op.regs.iter_mut() {
            let payload = match (reg.state, reg.format) {
                (State::Waiting, _) => {
                    starting.push(*reg_id);
                    continue;
                }
                (State::Behind | State::Checking | State::Held, _) => continue,
                (State::InSync, Format::Full) => current.full.clone(),
                (State::InSync, Format::JsonDiffPatch) => match &delta {
                    Some(delta) if reg.sent > 0 => {
                        let n = reg.sent + 1;
                        format!("{{\"patch\":{delta},\"revision\":{n},\"extensions\":{{\"revision\":{revision}}}}}")
                            .into()
                    }
                    _ => {
                        reg.sent = 0;
                        current.reset.clone()
                    }
                },
            };
            match offer(reg, payload, current, (id, *reg_id), &mut self.budget, cx) {
                Offered::Open => {}
                Offered::Closed => closed.push(*reg_id),
                Offered::Held(missing) => over = Some(missing),
            }
        }
        for reg in closed {
            op.regs.shift_remove(&reg);
        }
        for reg in starting {
            self.start((id, reg), cx);
        }
        self.forget_if_empty(id, cx);
        if let Some(missing) = over {
            self.reserve(missing, cx);
        }
    }

    /// A subscriber's first result: the current one, unless it resumes from a revision
    /// that nothing has changed since.
    fn start(&mut self, ids: Ids, cx: &Cx) {
        let Some(op) = self.ops.get_mut(&ids.0) else { return };
        let Some(current) = &op.current else { return };
        let Some(reg) = op.regs.get_mut(&ids.1) else { return };
        let Some(after) = reg.after else {
            self.send_current(ids, cx);
            return;
        };
        let unchanged = after >= current.revision || (after >= op.born && op.changed_at.is_none_or(|at| at <= after));
        if unchanged {
            reg.state = State::InSync;
            return;
        }
        if after >= op.born || op.changed_at.is_some() {
            self.send_current(ids, cx);
            return;
        }
        // It resumes from before this operation's first result: did anything since
        // touch what the result is made of?
        reg.state = State::Checking;
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
                Work::Checked { ids, changed }
            }
            .boxed(),
        );
    }

    fn send_current(&mut self, ids: Ids, cx: &Cx) {
        let Some(op) = self.ops.get_mut(&ids.0) else { return };
        let Some(current) = &op.current else { return };
        let Some(reg) = op.regs.get_mut(&ids.1) else { return };
        reg.sent = 0;
        let payload = match reg.format {
            Format::Full => current.full.clone(),
            Format::JsonDiffPatch => current.reset.clone(),
        };
        match offer(reg, payload, current, ids, &mut self.budget, cx) {
            Offered::Open => {}
            Offered::Closed => {
                op.regs.shift_remove(&ids.1);
                self.forget_if_empty(ids.0, cx);
            }
            Offered::Held(missing) => self.reserve(missing, cx),
        }
    }

    /// Reserves deliveries for the held subscribers, unless that is under way; over the
    /// quota, it asks again a second later.
    fn reserve(&mut self, missing: i64, cx: &Cx) {
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
}

enum Offered {
    /// Queued, or it waits for its queue to drain.
    Open,
    Closed,
    /// Over the daily deliveries: reserve `missing` more.
    Held(i64),
}

/// Queues one result, if the practice's daily deliveries allow.
fn offer(reg: &mut LiveReg, payload: Arc<str>, current: &Current, ids: Ids, budget: &mut Budget, cx: &Cx) -> Offered {
    if let Spent::Reserve { missing, .. } = budget.spend_now(&cx.shared.services.limits, cx.practice_id, 1) {
        reg.state = State::Held;
        return Offered::Held(missing);
    }
    let revision = current.revision;
    match reg.outbound.offer(Frame::Live { tag: reg.tag.clone(), payload, revision }) {
        Offer::Queued => {
            reg.delivered.inc();
            reg.metered.delivered_result(&current.patients);
            reg.state = State::InSync;
            reg.sent += 1;
            Offered::Open
        }
        Offer::Full => {
            budget.give_back(1);
            reg.state = State::Behind;
            let commands = cx.commands.clone();
            reg.outbound.when_drained(Box::new(move || {
                let _ = commands.send(Command::LiveDrained(ids));
            }));
            Offered::Open
        }
        Offer::Closed => {
            budget.give_back(1);
            Offered::Closed
        }
    }
}
