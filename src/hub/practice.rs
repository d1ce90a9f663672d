//! The hub of one practice on this replica: one task that reads one `Feed` of the
//! practice's log (every event once, in seq order, gaps filled from the log) and serves
//! the practice's shared subscriptions (`operations`, `catch_up`) and live queries
//! (`live_queries`) from it. There is no task per registration and none per operation.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};

use super::live_queries::LiveQueries;
use super::messages::{HubCommand, RegistrationId};
use super::operations::Operations;
use super::shared::{HubContext, Shared};
use crate::error::AppResult;
use crate::events::{Feed, FeedFilter, StoredEvent};

/// How long to wait before opening the feed again after it failed.
const RETRY: Duration = Duration::from_secs(1);

pub(super) struct PracticeHub {
    practice_id: String,
    shared: Arc<Shared>,
    /// Our own command channel, for the drain notices connections send back.
    commands: mpsc::UnboundedSender<HubCommand>,
    /// The last seq the hub has handed out.
    position: i64,
    next_id: u64,
    operations: Operations,
    live_queries: LiveQueries,
}

impl PracticeHub {
    pub(super) fn new(practice_id: String, shared: Arc<Shared>, commands: mpsc::UnboundedSender<HubCommand>) -> Self {
        Self {
            practice_id,
            shared,
            commands,
            position: 0,
            next_id: 0,
            operations: Operations::default(),
            live_queries: LiveQueries::default(),
        }
    }

    /// The hub's parts, each with what the hub lends it.
    fn parts(&mut self) -> (&mut Operations, &mut LiveQueries, HubContext<'_>) {
        let cx = HubContext {
            practice_id: &self.practice_id,
            shared: &self.shared,
            commands: &self.commands,
            position: self.position,
        };
        (&mut self.operations, &mut self.live_queries, cx)
    }

    /// Serves the practice until the server stops, or until it has had no registration
    /// for the linger time.
    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<HubCommand>) {
        let Some(mut events) = self.open().await else { return };
        let mut idle_since = Some(Instant::now());
        loop {
            let idle_until = idle_since.map(|since| since + self.shared.linger);
            let recheck = self.operations.budget.recheck_at();
            tokio::select! {
                biased;
                () = self.shared.stop.cancelled() => return,
                Some(command) = commands.recv() => self.command(command).await,
                Some(read) = self.operations.reads.next(), if !self.operations.reads.is_empty() => {
                    let (operations, _, cx) = self.parts();
                    operations.page(read, &cx).await;
                }
                Some(work) = self.live_queries.work.next(), if !self.live_queries.work.is_empty() => {
                    let (_, live_queries, cx) = self.parts();
                    live_queries.done(work, &cx);
                }
                () = sleep_until(recheck.unwrap_or_else(Instant::now)), if recheck.is_some() => {
                    let (operations, _, cx) = self.parts();
                    if operations.budget.recheck(&cx.shared.services.limits, cx.practice_id).await {
                        operations.advance_all(&cx);
                    }
                }
                item = events.next() => match item {
                    Some(Ok(event)) => self.event(event).await,
                    failed => {
                        if let Some(Err(err)) = failed {
                            tracing::warn!(practice_id = %self.practice_id, error = %err, "practice feed failed; reopening");
                        }
                        // Everyone reads what the new feed skips from the log.
                        self.operations.all_lagging(self.position);
                        sleep(RETRY).await;
                        let Some(reopened) = self.open().await else { return };
                        events = reopened;
                        let (operations, live_queries, cx) = self.parts();
                        operations.advance_all(&cx);
                        live_queries.all_dirty(&cx);
                    }
                },
                () = sleep_until(idle_until.unwrap_or_else(Instant::now)), if idle_until.is_some() => {
                    if self.shared.retire(&self.practice_id, &commands) {
                        let limits = &self.shared.services.limits;
                        self.operations.budget.give_back_unspent(limits, &self.practice_id).await;
                        self.live_queries.budget.give_back_unspent(limits, &self.practice_id).await;
                        return;
                    }
                    idle_since = Some(Instant::now());
                }
            }
            match (self.operations.is_empty() && self.live_queries.is_empty(), idle_since) {
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

    async fn command(&mut self, command: HubCommand) {
        match command {
            HubCommand::Install(install, ack) => {
                let fresh = self.fresh_id();
                let (operations, _, cx) = self.parts();
                operations.install(install, fresh, ack, &cx).await;
            }
            HubCommand::InstallLiveQuery(install, ack) => {
                let fresh = self.fresh_id();
                let (_, live_queries, cx) = self.parts();
                live_queries.install(install, fresh, ack, &cx);
            }
            HubCommand::Remove(id) => {
                let (operations, live_queries, cx) = self.parts();
                if !live_queries.remove(id, &cx) {
                    operations.remove(id, &cx);
                }
            }
            HubCommand::Drained(id) => {
                let (operations, _, cx) = self.parts();
                operations.drained(id, &cx);
            }
            HubCommand::LiveQueryDrained(id) => {
                let (_, live_queries, cx) = self.parts();
                live_queries.drained(id, &cx);
            }
        }
    }

    /// Ids not used yet in this hub, for an install.
    fn fresh_id(&mut self) -> RegistrationId {
        self.next_id += 2;
        RegistrationId { operation: self.next_id - 1, subscriber: self.next_id }
    }

    /// An event of the practice: to the shared subscriptions, then to the live queries
    /// (whose runs it is the revision of).
    async fn event(&mut self, event: Arc<StoredEvent>) {
        let (operations, _, cx) = self.parts();
        operations.event(&event, &cx).await;
        self.position = event.seq;
        let (_, live_queries, cx) = self.parts();
        live_queries.event(&event, &cx);
    }
}
