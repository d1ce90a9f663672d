//! A practice's publisher: it follows the practice's `Feed` from the bridge's cursor —
//! live events from the bus (committed on any replica) without a database read, the log
//! only to replay, fill a gap or catch up — publishes in seq order, and moves the cursor
//! only over what the broker acknowledged (written at most every 200 ms, and at once after
//! a failure or when it stops). On a failure it backs off and resends what was not
//! acknowledged; if the claimer lets the practice go, or another replica took it, it stops.

use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::cloudevent::{self, Outgoing};
use super::runner::{Bridge, backoff};
use crate::error::AppError;
use crate::events::{Cursor, Feed, FeedFilter, StoredEvent, log};

/// How often a moving cursor is written: each write is a database round trip, and a
/// cursor written late only means more resends after a crash (at least once either way).
const CURSOR_EVERY: Duration = Duration::from_millis(200);

impl Bridge {
    /// Publishes one practice from `cursor` on, while this replica holds it. Its events
    /// come from a `Feed`: live from the bus (no database read), in seq order, with gaps
    /// and a lagging receiver repaired from the log, and a replay from the cursor first.
    #[tracing::instrument(skip(self, stop), fields(bridge = %self.store.bridge()))]
    pub(super) async fn publish_practice(self: Arc<Self>, practice_id: String, cursor: i64, stop: CancellationToken) {
        let mut at = Position { sent: cursor, stored: cursor, stored_at: tokio::time::Instant::now() };
        let mut failures = 0u32;
        'feed: while !stop.is_cancelled() {
            let (mut events, _reader) = match self.open_feed(&practice_id, &mut at).await {
                Ok(feed) => read_ahead(feed, self.settings.batch as usize),
                Err(err) => {
                    failures += 1;
                    tracing::warn!(practice = %practice_id, error = %err, "could not read the log for the bridge");
                    self.status.failed(&err);
                    if self.pause(&stop, failures).await {
                        break;
                    }
                    continue;
                }
            };
            // Events taken from the feed and not yet acknowledged, with their seq; None
            // for an event not of the bridge's types (passed over, never sent).
            let mut pending: Vec<(i64, Option<Outgoing>)> = Vec::new();
            loop {
                if pending.is_empty() {
                    let flush = at.sent > at.stored;
                    let wait = if flush {
                        CURSOR_EVERY.saturating_sub(at.stored_at.elapsed()).min(self.settings.poll)
                    } else {
                        self.settings.poll
                    };
                    let first = tokio::select! {
                        _ = stop.cancelled() => break 'feed,
                        _ = tokio::time::sleep(wait) => {
                            if flush {
                                match self.store_cursor(&practice_id, &mut at, false).await {
                                    Ok(true) => {}
                                    Ok(false) => return self.lost(&practice_id, &stop),
                                    Err(err) => tracing::warn!(error = %err, "could not write the bridge cursor"),
                                }
                                continue;
                            }
                            // Quiet for a whole poll: if the log has more than the bus
                            // brought (a lost publish), read it from the cursor.
                            match log::head(&self.services.db, &practice_id).await {
                                Ok(Some(head)) if head > at.sent => continue 'feed,
                                _ => continue,
                            }
                        }
                        next = events.recv() => next,
                    };
                    let mut next = first;
                    // Take what is ready now, up to a batch, without waiting.
                    loop {
                        match next {
                            Some(Ok(event)) => match self.prepare(&event) {
                                Ok(message) => pending.push((event.seq, message)),
                                Err(err) => {
                                    // An event that cannot be encoded would stall the
                                    // practice for good: say so loudly, keep retrying.
                                    tracing::error!(practice = %practice_id, seq = event.seq, error = %err, "bridge cannot encode an event");
                                    self.status.failed(&err);
                                    failures += 1;
                                    if self.pause(&stop, failures).await {
                                        break 'feed;
                                    }
                                    continue 'feed;
                                }
                            },
                            Some(Err(err)) => {
                                failures += 1;
                                tracing::warn!(practice = %practice_id, error = %err, "the bridge's feed failed; reopening it");
                                self.status.failed(&err.to_string());
                                if self.pause(&stop, failures).await {
                                    break 'feed;
                                }
                                continue 'feed;
                            }
                            None => continue 'feed,
                        }
                        if pending.len() as u64 >= self.settings.batch {
                            break;
                        }
                        match events.try_recv() {
                            Ok(more) => next = Some(more),
                            Err(_) => break,
                        }
                    }
                }
                match self.send(&practice_id, &mut pending, &mut at).await {
                    Ok(true) => failures = 0,
                    Ok(false) => return self.lost(&practice_id, &stop),
                    Err(err) => {
                        failures += 1;
                        if failures == 1 {
                            tracing::warn!(practice = %practice_id, error = %err, cursor = at.sent, "bridge publish failed; resending from the cursor after a backoff");
                        }
                        self.status.failed(&err);
                        if self.pause(&stop, failures).await {
                            break 'feed;
                        }
                    }
                }
            }
        }
        // Stopping (shutdown, or the claimer let go): record what was acknowledged.
        if at.sent > at.stored
            && let Err(err) = self.store.advance(&practice_id, at.sent, self.now_ms()).await
        {
            tracing::warn!(practice = %practice_id, error = %err, "could not record the bridge cursor; its events will be sent again");
        }
    }

    fn lost(&self, practice_id: &str, stop: &CancellationToken) {
        tracing::info!(practice = %practice_id, "another replica holds this practice now");
        stop.cancel();
    }

    /// Waits out the backoff after `failures` failures; true if stopped meanwhile.
    async fn pause(&self, stop: &CancellationToken, failures: u32) -> bool {
        tokio::select! {
            _ = stop.cancelled() => true,
            _ = tokio::time::sleep(backoff(failures, self.settings.backoff_max)) => false,
        }
    }

    /// A feed of the practice after the cursor. Events pruned before the bridge sent them
    /// (EVENT_RETENTION) are logged and passed over.
    async fn open_feed(&self, practice_id: &str, at: &mut Position) -> Result<Feed, String> {
        let s = &self.services;
        let open = |seq: i64| {
            let cursor = Cursor { practice_id: practice_id.to_string(), seq }.encode();
            async move { Feed::open(&s.db, &s.bus, &s.counters, practice_id, Some(&cursor), FeedFilter::default()).await }
        };
        match open(at.sent).await {
            Ok(feed) => Ok(feed),
            Err(AppError::CursorExpired(_)) => {
                let first = log::first_seq(&s.db, practice_id).await.map_err(|e| e.to_string())?.unwrap_or(at.sent + 1);
                tracing::warn!(practice = %practice_id, from = at.sent + 1, to = first - 1,
                    "events were pruned from the log (EVENT_RETENTION) before this bridge sent them");
                at.sent = at.sent.max(first - 1);
                open(at.sent).await.map_err(|e| e.to_string())
            }
            Err(err) => Err(err.to_string()),
        }
    }

    /// The message for an event, or None when it is not of the bridge's types.
    fn prepare(&self, event: &StoredEvent) -> Result<Option<Outgoing>, String> {
        if self.types.as_ref().is_some_and(|types| !types.contains(&event.event_type)) {
            return Ok(None);
        }
        cloudevent::encode(event, self.settings.payload)
            .map(Some)
            .map_err(|e| format!("could not encode an event: {e}"))
    }

    /// Publishes the pending messages; drops from `pending` what the broker acknowledged
    /// (and the passed-over events before the first unacknowledged one) and moves the
    /// cursor over them. Ok(false): the lease was lost.
    async fn send(
        &self,
        practice_id: &str,
        pending: &mut Vec<(i64, Option<Outgoing>)>,
        at: &mut Position,
    ) -> Result<bool, String> {
        let mut messages: Vec<Outgoing> = pending.iter().filter_map(|(_, m)| m.clone()).collect();
        let limits = &self.services.limits;
        let quota = limits.quota(practice_id).await.max_deliveries_per_day.is_some();
        if quota && !messages.is_empty() {
            // The practice's `maxDeliveriesPerDay`: near it, one message at a time; over it,
            // nothing is published and the cursor stays, so the practice is retried after
            // the backoff and resumes in order once the quota allows (raised, a new UTC day).
            if limits.reserve_deliveries(practice_id, messages.len() as i64).await.is_err() {
                limits.reserve_deliveries(practice_id, 1).await.map_err(|e| e.to_string())?;
                messages.truncate(1);
            }
        }
        // One span per message, over the publish of the batch (none when untraced).
        let spans: Vec<tracing::Span> = match crate::telemetry::on() {
            true => pending
                .iter()
                .filter_map(|(seq, m)| m.as_ref().map(|m| (seq, m)))
                .take(messages.len())
                .map(|(seq, m)| crate::telemetry::delivery("bridge", practice_id, *seq, m.trace.as_ref()))
                .collect(),
            false => Vec::new(),
        };
        let published = match messages.is_empty() {
            true => Default::default(),
            false => self.broker.publish(&messages).await,
        };
        drop(spans);
        if quota {
            for _ in published.acked()..messages.len() {
                limits.refund_delivery(practice_id).await;
            }
        }
        self.status.acked(messages.iter().zip(&published.acked_at).map(|(m, at)| at - m.occurred_at_ms));
        let mut acked = published.acked();
        let done = pending
            .iter()
            .take_while(|(_, message)| match message {
                Some(_) if acked == 0 => false,
                Some(_) => {
                    acked -= 1;
                    true
                }
                None => true,
            })
            .count();
        if let Some((seq, _)) = done.checked_sub(1).map(|last| &pending[last]) {
            at.sent = *seq;
        }
        self.metered(pending[..done].iter().filter_map(|(_, m)| m.as_ref()));
        pending.drain(..done);
        // On a failure the cursor is written at once, so a takeover resends the least.
        if !self.store_cursor(practice_id, at, published.error.is_some()).await? {
            return Ok(false);
        }
        match published.error {
            Some(err) => Err(err),
            None => Ok(true),
        }
    }

    /// Messages the broker acknowledged: usage (under `bridge:<bridge>`, transport
    /// BRIDGE) and the audit trail (DELIVER counts per patient).
    fn metered<'a>(&self, acked: impl Iterator<Item = &'a Outgoing>) {
        let door = crate::vocab::Transport::Bridge;
        let mut watch: Option<(String, crate::audit::Watch)> = None;
        for message in acked {
            let who =
                crate::usage::UsageKey::new(&message.practice_id, Some(&format!("bridge:{}", self.store.bridge())));
            self.usage.delivered(&who, door, message.event_type);
            if watch.as_ref().is_none_or(|(practice, _)| *practice != message.practice_id) {
                let actor = crate::audit::Actor {
                    api_key_id: None,
                    subject: None,
                    actor_name: None,
                    role: crate::vocab::Role::Admin,
                    transport: door,
                    operation_name: None,
                };
                let filter = Some(format!("bridge {}", self.store.bridge()));
                watch =
                    Some((message.practice_id.clone(), self.audit.watch(&message.practice_id, actor, filter, true)));
            }
            if let Some((_, watch)) = &watch {
                watch.delivered(&message.patient_id);
            }
        }
    }

    /// Writes the cursor if it moved and was last written CURSOR_EVERY ago (or `now`).
    /// False: the lease was lost.
    async fn store_cursor(&self, practice_id: &str, at: &mut Position, now: bool) -> Result<bool, String> {
        if at.sent == at.stored || (!now && at.stored_at.elapsed() < CURSOR_EVERY) {
            return Ok(true);
        }
        let held = self.store.advance(practice_id, at.sent, self.now_ms()).await.map_err(|e| e.to_string())?;
        at.stored = at.sent;
        at.stored_at = tokio::time::Instant::now();
        Ok(held)
    }
}

/// Aborts the feed's reader when the publisher lets the feed go.
struct Reader(tokio::task::JoinHandle<()>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs the feed on a task of its own, up to `ahead` events ahead of the publisher. The
/// publisher waits on brokers for long stretches; a feed polled only now and then would
/// sit suspended in the middle of a log read, holding a pooled database connection the
/// whole time (fifty practices waiting on a broker that is down would drain the pool and
/// stall the mutations). On its own task every read runs to its end at once.
fn read_ahead(feed: Feed, ahead: usize) -> (mpsc::Receiver<crate::error::AppResult<Arc<StoredEvent>>>, Reader) {
    let (tx, rx) = mpsc::channel(ahead.max(1));
    let task = tokio::spawn(async move {
        let mut events = Box::pin(feed.into_stream());
        while let Some(item) = events.next().await {
            let failed = item.is_err();
            if tx.send(item).await.is_err() || failed {
                return;
            }
        }
    });
    (rx, Reader(task))
}

/// How far a practice's publisher got: acknowledged (`sent`) and written (`stored`).
struct Position {
    sent: i64,
    stored: i64,
    stored_at: tokio::time::Instant,
}
