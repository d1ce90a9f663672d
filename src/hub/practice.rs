//! The hub of one practice on this replica: one `Feed` of the practice's log (every event
//! once, in seq order, gaps filled from the log), the practice's shared operations, and
//! each operation's registrations.
//!
//! A registration is *live* or *lagging*. Live ones get every matching event as it comes,
//! rendered once per operation. A lagging one — replaying after its cursor, started before
//! the hub had caught up with it, or pushed past its connection's byte bound — reads the
//! log page by page from its own last seq (rendered by the same operation) until it reaches
//! the hub's position, and then turns live. The hub is one task; there is none per
//! registration and none per operation.

use futures_util::future::BoxFuture;
use futures_util::stream::{BoxStream, FuturesUnordered};
use futures_util::{FutureExt, StreamExt};
use indexmap::IndexMap;
use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep, sleep_until};

use super::budget::Budget;
use super::hubs::Shared;
use super::key::OperationKey;
use super::live::{Cx, LiveInstall, Lives};
use super::outbound::{Frame, Offer, Outbound, Tag};
use super::producer::{Prepared, Producer};
use crate::error::AppResult;
use crate::events::{Feed, FeedFilter, StoredEvent, log};

/// Rows read from the log per round trip while a registration catches up.
const PAGE: u64 = 500;
/// How long to wait before reading the log again after a failed read.
const RETRY: Duration = Duration::from_secs(1);

/// One subscriber of an operation: where its frames go.
#[derive(Clone)]
pub(super) struct Reg {
    pub tag: Arc<Tag>,
    pub outbound: Arc<Outbound>,
    pub delivered: Counter,
    pub metered: Arc<super::metered::Metered>,
}

#[derive(Clone)]
pub(super) struct Install {
    pub prepared: Prepared,
    pub reg: Reg,
    /// The last seq the subscriber has seen.
    pub start: i64,
}

/// A registration's ids in its hub: (operation, registration).
pub(super) type Ids = (u64, u64);

pub(super) enum Command {
    Install(Install, oneshot::Sender<Result<Ids, String>>),
    Remove(Ids),
    Drained(Ids),
    InstallLive(LiveInstall, oneshot::Sender<Result<Ids, String>>),
    LiveDrained(Ids),
}

/// What the hub lends its live queries (a macro: the borrows are of disjoint fields).
macro_rules! cx {
    ($hub:expr) => {
        Cx { practice_id: &$hub.practice_id, shared: &$hub.shared, commands: &$hub.commands, position: $hub.position }
    };
}

struct Lagging {
    reg: Reg,
    last: i64,
    /// A log read is in flight, or the connection's queue has yet to drain.
    busy: bool,
}

struct Operation {
    key: OperationKey,
    producer: Producer,
    live: IndexMap<u64, Reg>,
    lagging: HashMap<u64, Lagging>,
}

impl Operation {
    fn is_empty(&self) -> bool {
        self.live.is_empty() && self.lagging.is_empty()
    }
}

struct PageRead {
    ids: Ids,
    /// None: the wait after a failed or empty read is over; read again.
    result: Option<AppResult<Vec<StoredEvent>>>,
}

pub(super) struct PracticeHub {
    practice_id: String,
    shared: Arc<Shared>,
    /// Our own command channel, for the drain notifications connections send back.
    commands: mpsc::UnboundedSender<Command>,
    /// The last seq the hub has handed out.
    position: i64,
    next_id: u64,
    operations: HashMap<u64, Operation>,
    by_key: HashMap<OperationKey, u64>,
    reads: FuturesUnordered<BoxFuture<'static, PageRead>>,
    lives: Lives,
    /// Its share of `maxDeliveriesPerDay`.
    budget: Budget,
}

impl PracticeHub {
    pub(super) fn new(practice_id: String, shared: Arc<Shared>, commands: mpsc::UnboundedSender<Command>) -> Self {
        Self {
            practice_id,
            shared,
            commands,
            position: 0,
            next_id: 0,
            operations: HashMap::new(),
            by_key: HashMap::new(),
            reads: FuturesUnordered::new(),
            lives: Lives::default(),
            budget: Budget::default(),
        }
    }

    /// Serves the practice until the server stops, or until it has had no registration
    /// for the linger time.
    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let Some(mut events) = self.open().await else { return };
        let mut idle_since = Some(Instant::now());
        loop {
            let idle_until = idle_since.map(|since| since + self.shared.linger);
            let recheck = self.budget.recheck_at();
            tokio::select! {
                biased;
                () = self.shared.stop.cancelled() => return,
                Some(command) = commands.recv() => self.command(command).await,
                Some(read) = self.reads.next(), if !self.reads.is_empty() => self.page(read).await,
                Some(work) = self.lives.work.next(), if !self.lives.work.is_empty() => self.lives.done(work, &cx!(self)),
                () = sleep_until(recheck.unwrap_or_else(Instant::now)), if recheck.is_some() => {
                    if self.budget.recheck(&self.shared.services.limits, &self.practice_id).await {
                        self.advance_all();
                    }
                }
                item = events.next() => match item {
                    Some(Ok(event)) => self.event(event).await,
                    failed => {
                        if let Some(Err(err)) = failed {
                            tracing::warn!(practice_id = %self.practice_id, error = %err, "practice feed failed; reopening");
                        }
                        // Everyone reads what the new feed skips from the log.
                        self.all_lagging();
                        sleep(RETRY).await;
                        let Some(reopened) = self.open().await else { return };
                        events = reopened;
                        self.advance_all();
                        self.lives.all_dirty(&cx!(self));
                    }
                },
                () = sleep_until(idle_until.unwrap_or_else(Instant::now)), if idle_until.is_some() => {
                    if self.shared.retire(&self.practice_id, &commands) {
                        let limits = &self.shared.services.limits;
                        self.budget.give_back_unspent(limits, &self.practice_id).await;
                        self.lives.budget.give_back_unspent(limits, &self.practice_id).await;
                        return;
                    }
                    idle_since = Some(Instant::now());
                }
            }
            match (self.operations.is_empty() && self.lives.is_empty(), idle_since) {
                (true, None) => idle_since = Some(Instant::now()),
                (false, Some(_)) => idle_since = None,
                _ => {}
            }
        }
    }

    /// Opens the practice's feed from its head, retrying while the database is away.
    async fn open(&mut self) -> Option<BoxStream<'static, AppResult<Arc<StoredEvent>>>> {
        let s = &self.shared.services;
        loop {
            let opened = Feed::open(&s.db, &s.bus, &s.counters, &self.practice_id, None, FeedFilter::default());
            match Box::pin(opened).await {
                Ok(feed) => {
                    self.position = self.position.max(feed.last_seq());
                    return Some(feed.into_stream().boxed());
                }
                Err(err) => {
                    tracing::warn!(practice_id = %self.practice_id, error = %err, "cannot open the practice feed")
                }
            }
            tokio::select! {
                () = self.shared.stop.cancelled() => return None,
                () = sleep(RETRY) => {}
            }
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Install(install, ack) => self.install(install, ack).await,
            Command::Remove(ids) => {
                if !self.lives.remove(ids, &cx!(self)) {
                    self.remove(ids);
                }
            }
            Command::InstallLive(install, ack) => {
                let ids = (self.id(), self.id());
                self.lives.install(install, ids, ack, &cx!(self));
            }
            Command::LiveDrained(ids) => {
                self.lives.drained(ids, &cx!(self));
            }
            Command::Drained(ids) => {
                if let Some(lagging) = self.lagging_mut(ids) {
                    lagging.busy = false;
                    self.advance(ids);
                }
            }
        }
    }

    async fn install(&mut self, install: Install, ack: oneshot::Sender<Result<Ids, String>>) {
        let operation = match self.by_key.get(&install.prepared.key) {
            Some(id) => *id,
            None => match Producer::start(&self.shared.schema, &install.prepared, &self.practice_id).await {
                Ok(producer) => {
                    let id = self.id();
                    let key = install.prepared.key.clone();
                    self.by_key.insert(key.clone(), id);
                    let operation = Operation { key, producer, live: IndexMap::new(), lagging: HashMap::new() };
                    self.operations.insert(id, operation);
                    self.shared.services.counters.shared_operations.inc();
                    id
                }
                Err(reason) => {
                    let _ = ack.send(Err(reason));
                    return;
                }
            },
        };
        let ids = (operation, self.id());
        if ack.send(Ok(ids)).is_err() {
            // The subscriber left while it was being installed.
            self.forget_if_empty(operation);
            return;
        }
        let Some(op) = self.operations.get_mut(&operation) else { return };
        if install.start == self.position {
            op.live.insert(ids.1, install.reg);
        } else {
            op.lagging.insert(ids.1, Lagging { reg: install.reg, last: install.start, busy: false });
            self.advance(ids);
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn remove(&mut self, (operation, reg): Ids) {
        let Some(op) = self.operations.get_mut(&operation) else { return };
        if op.live.swap_remove(&reg).is_none() {
            op.lagging.remove(&reg);
        }
        self.forget_if_empty(operation);
    }

    fn forget_if_empty(&mut self, operation: u64) {
        if self.operations.get(&operation).is_some_and(Operation::is_empty)
            && let Some(op) = self.operations.remove(&operation)
        {
            self.by_key.remove(&op.key);
            self.shared.services.counters.shared_operations.dec();
        }
    }

    fn lagging_mut(&mut self, (operation, reg): Ids) -> Option<&mut Lagging> {
        self.operations.get_mut(&operation)?.lagging.get_mut(&reg)
    }

    /// A live event: rendered once per operation it matches, then queued for every live
    /// registration of that operation.
    async fn event(&mut self, event: Arc<StoredEvent>) {
        // One quota check per event for the whole practice; over `maxDeliveriesPerDay`
        // every live registration is held at what it has and later reads the log.
        let needed: usize = self
            .operations
            .values()
            .filter(|op| !op.live.is_empty() && op.producer.filter.matches(&event))
            .map(|op| op.live.len())
            .sum();
        let limits = &self.shared.services.limits;
        if needed > 0 && (self.budget.is_held() || !self.budget.spend(limits, &self.practice_id, needed as i64).await) {
            self.all_lagging();
            self.position = event.seq;
            self.lives.event(&event, &cx!(self));
            return;
        }
        let mut unsent = 0;
        self.position = event.seq;
        let counters = self.shared.services.counters.clone();
        let age = (self.shared.services.clock.now() - event.occurred_at).num_microseconds().unwrap_or(0).max(0);
        let age = age as f64 / 1e6;
        let mut broken = Vec::new();
        for (id, op) in self.operations.iter_mut() {
            if op.live.is_empty() || !op.producer.filter.matches(&event) {
                continue;
            }
            let Some(json) = op.producer.render(&event).await else {
                broken.push(*id);
                continue;
            };
            counters.shared_executions.inc();
            let mut i = 0;
            while let Some((_, reg)) = op.live.get_index(i) {
                let frame = Frame::Next { tag: reg.tag.clone(), payload: json.clone(), event: event.clone() };
                match reg.outbound.offer(frame) {
                    Offer::Queued => {
                        reg.delivered.inc();
                        reg.metered.delivered(&event);
                        counters.delivery_latency.observe(age);
                        i += 1;
                    }
                    // Past its byte bound: it reads this event and the next from the log.
                    Offer::Full => {
                        counters.lag_catch_ups.inc();
                        unsent += 1;
                        if let Some((reg_id, reg)) = op.live.swap_remove_index(i) {
                            op.lagging.insert(reg_id, Lagging { reg, last: event.seq - 1, busy: false });
                        }
                    }
                    Offer::Closed => {
                        unsent += 1;
                        op.live.swap_remove_index(i);
                    }
                }
            }
        }
        self.budget.give_back(unsent);
        for id in broken {
            self.end(id);
        }
        self.advance_all();
        self.lives.event(&event, &cx!(self));
    }

    /// An operation whose execution broke: its subscribers are told it ended.
    fn end(&mut self, operation: u64) {
        let Some(op) = self.operations.get_mut(&operation) else { return };
        tracing::warn!(practice_id = %self.practice_id, "a shared subscription execution broke; ending it");
        let regs = op.live.drain(..).map(|(_, reg)| reg).chain(op.lagging.drain().map(|(_, lag)| lag.reg));
        for reg in regs {
            reg.outbound.push(Frame::Complete { tag: reg.tag });
        }
        self.forget_if_empty(operation);
    }

    fn all_lagging(&mut self) {
        let position = self.position;
        for op in self.operations.values_mut() {
            for (id, reg) in op.live.drain(..) {
                op.lagging.insert(id, Lagging { reg, last: position, busy: false });
            }
        }
    }

    fn advance_all(&mut self) {
        let waiting: Vec<Ids> = self
            .operations
            .iter()
            .flat_map(|(op, o)| o.lagging.iter().filter(|(_, lag)| !lag.busy).map(move |(reg, _)| (*op, *reg)))
            .collect();
        for ids in waiting {
            self.advance(ids);
        }
    }

    /// Moves a lagging registration on: live once it has reached the hub's position,
    /// else a page from the log once its connection has room.
    fn advance(&mut self, ids: Ids) {
        let position = self.position;
        let practice_id = self.practice_id.clone();
        let (db, commands) = (self.shared.services.db.clone(), self.commands.clone());
        let Some(op) = self.operations.get_mut(&ids.0) else { return };
        let Some(lag) = op.lagging.get_mut(&ids.1) else { return };
        if lag.busy || lag.last > position {
            return;
        }
        if lag.last == position {
            if let Some(lag) = op.lagging.remove(&ids.1) {
                op.live.insert(ids.1, lag.reg);
            }
            return;
        }
        if self.budget.is_held() {
            // Over the daily quota: it stays where it is until the quota allows.
            return;
        }
        lag.busy = true;
        if lag.reg.outbound.is_full() {
            let notify = Box::new(move || {
                let _ = commands.send(Command::Drained(ids));
            });
            lag.reg.outbound.when_drained(notify);
            return;
        }
        let after = lag.last;
        self.reads.push(
            async move {
                let result = log::read_range(&db, &practice_id, after, Some(position), None, PAGE).await;
                PageRead { ids, result: Some(result) }
            }
            .boxed(),
        );
    }

    /// A page of the log for one lagging registration.
    async fn page(&mut self, read: PageRead) {
        let ids = read.ids;
        let Some(op) = self.operations.get_mut(&ids.0) else { return };
        let Operation { producer, lagging, .. } = op;
        let Some(lag) = lagging.get_mut(&ids.1) else { return };
        let events = match read.result {
            None => Vec::new(),
            Some(Ok(events)) if !events.is_empty() => events,
            // A failed read, or none of the committed events it must find (the log lost
            // them): try again in a while rather than spin, and never skip them.
            Some(failed) => {
                let practice_id = &self.practice_id;
                match failed {
                    Err(err) => tracing::warn!(%practice_id, error = %err, "catching up from the log failed; retrying"),
                    Ok(_) => {
                        tracing::warn!(%practice_id, after = lag.last, "no events in the log where a subscriber catches up")
                    }
                }
                let retry = async move {
                    sleep(RETRY).await;
                    PageRead { ids, result: None }
                };
                self.reads.push(retry.boxed());
                return;
            }
        };
        lag.busy = false;
        if events[0].seq > lag.last + 1 {
            // Retention pruned what this registration still had to read: end it rather
            // than skip events; resuming from its last cursor then answers CURSOR_EXPIRED.
            tracing::warn!(practice_id = %self.practice_id, after = lag.last, first = events[0].seq,
                "events a subscriber catches up through were pruned; ending its subscription");
            if let Some(lag) = lagging.remove(&ids.1) {
                lag.reg.outbound.push(Frame::Complete { tag: lag.reg.tag });
            }
            self.forget_if_empty(ids.0);
            return;
        }
        let mut broken = false;
        let mut held = false;
        for event in events {
            if event.seq <= lag.last {
                continue;
            }
            if producer.filter.matches(&event) {
                if !self.budget.spend(&self.shared.services.limits, &self.practice_id, 1).await {
                    held = true;
                    break;
                }
                let event = Arc::new(event);
                let Some(json) = producer.render(&event).await else {
                    broken = true;
                    break;
                };
                let frame = Frame::Next { tag: lag.reg.tag.clone(), payload: json, event: event.clone() };
                match lag.reg.outbound.offer(frame) {
                    Offer::Queued => {
                        lag.reg.delivered.inc();
                        lag.reg.metered.delivered(&event);
                    }
                    Offer::Full => {
                        self.budget.give_back(1);
                        break;
                    }
                    Offer::Closed => {
                        self.budget.give_back(1);
                        lagging.remove(&ids.1);
                        self.forget_if_empty(ids.0);
                        return;
                    }
                }
                lag.last = event.seq;
            } else {
                lag.last = event.seq;
            }
        }
        if broken {
            self.end(ids.0);
            return;
        }
        if !held {
            self.advance(ids);
        }
    }
}
