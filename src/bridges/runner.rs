//! Running one bridge on this replica: a claimer that takes and renews the leases of the
//! practices (every second, or `BRIDGE_LEASE`/3 if shorter), a publisher task per practice held, and a connector
//! that keeps the broker connection checked so an unreachable broker shows in the log and
//! the `bridges` query even when no event is waiting.
//!
//! A practice's publisher reads the log after its cursor, publishes in seq order, and
//! advances the cursor only over what the broker acknowledged (written at most every
//! 200 ms, and at once after a failure or when it stops); on a failure it backs off
//! (200 ms doubling to `BRIDGE_BACKOFF_MAX`, with jitter) and resends from the cursor. It
//! wakes on the bus (an event of its practice was committed, on any replica) or on its
//! poll, whichever comes first.

use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::broker::Broker;
use super::cloudevent::{self, Outgoing};
use super::settings::BridgeArgs;
use super::status::BridgeStatus;
use super::store::Store;
use crate::domain::Services;
use crate::events::log;
use crate::vocab::EventType;

/// How often a moving cursor is written: each write is a database round trip, and a
/// cursor written late only means more resends after a crash (at least once either way).
const CURSOR_EVERY: Duration = Duration::from_millis(200);

/// What one bridge's tasks share.
pub struct Bridge {
    pub broker: Arc<dyn Broker>,
    pub store: Store,
    pub status: Arc<BridgeStatus>,
    pub settings: Arc<BridgeArgs>,
    pub types: Option<Vec<EventType>>,
    pub services: Services,
}

/// The wait before the next try after `failures` failures in a row.
fn backoff(failures: u32, max: Duration) -> Duration {
    let base = Duration::from_millis(200).saturating_mul(1 << failures.min(16)).min(max);
    let jitter = rand::rng().random_range(0.8..1.2);
    base.mul_f64(jitter).min(max)
}

impl Bridge {
    fn now_ms(&self) -> i64 {
        self.services.now_ms()
    }

    /// Runs until `shutdown`, then gives the practices back.
    #[tracing::instrument(skip_all, fields(bridge = %self.store.bridge()))]
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut connector = tokio::spawn(self.clone().keep_connected(shutdown.clone()));
        let mut publishers: JoinSet<()> = JoinSet::new();
        let mut held: HashMap<String, CancellationToken> = HashMap::new();
        // Claims often enough that a new practice starts within a second, and renews well
        // within the lease.
        let every = (self.settings.lease / 3).clamp(Duration::from_millis(100), Duration::from_secs(1));
        let mut tick = tokio::time::interval(every);
        let mut last_claim = tokio::time::Instant::now();
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
                Some(_) = publishers.join_next(), if !publishers.is_empty() => {}
            }
            // A publisher that lost its lease has stopped: forget it, the claim decides again.
            held.retain(|_, stop| !stop.is_cancelled());
            let now = self.now_ms();
            let lease_until = now + self.settings.lease.as_millis() as i64;
            match self.store.claim(now, lease_until).await {
                Ok(rows) => {
                    let claimed: HashMap<String, i64> = rows.into_iter().map(|r| (r.practice_id, r.seq)).collect();
                    held.retain(|practice, stop| {
                        let keep = claimed.contains_key(practice);
                        if !keep {
                            stop.cancel();
                        }
                        keep
                    });
                    for (practice, seq) in claimed {
                        if !held.contains_key(&practice) {
                            let stop = shutdown.child_token();
                            held.insert(practice.clone(), stop.clone());
                            publishers.spawn(self.clone().publish_practice(practice, seq, stop));
                        }
                    }
                    self.status.set_held(held.len());
                    last_claim = tokio::time::Instant::now();
                }
                Err(err) => {
                    tracing::warn!(error = %err, "could not claim bridge leases");
                    // Unrenewed, the leases run out and another replica may take the
                    // practices: stop publishing them rather than race it.
                    if last_claim.elapsed() >= self.settings.lease && !held.is_empty() {
                        tracing::warn!(practices = held.len(), "bridge leases not renewed for BRIDGE_LEASE; pausing");
                        held.drain().for_each(|(_, stop)| stop.cancel());
                        self.status.set_held(0);
                    }
                }
            }
            match self.store.lag().await {
                Ok(lag) => self.status.set_lag(lag),
                Err(err) => tracing::debug!(error = %err, "could not read the bridge lag"),
            }
        }
        for stop in held.values() {
            stop.cancel();
        }
        while publishers.join_next().await.is_some() {}
        connector.abort();
        let _ = (&mut connector).await;
        if let Err(err) = self.store.release_all().await {
            tracing::warn!(error = %err, "could not release bridge leases (they run out after BRIDGE_LEASE)");
        }
        self.status.set_held(0);
    }

    /// Checks the connection now and then, reconnecting with backoff while it is down.
    async fn keep_connected(self: Arc<Self>, shutdown: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let wait = match self.broker.connect().await {
                Ok(()) => {
                    if !self.status.is_connected() {
                        self.status.connected();
                    }
                    failures = 0;
                    Duration::from_secs(5)
                }
                Err(err) => {
                    if failures == 0 {
                        tracing::error!(error = %err, "bridge cannot reach its broker; retrying with backoff, the API is unaffected");
                    } else {
                        tracing::warn!(error = %err, failures, "bridge still cannot reach its broker");
                    }
                    self.status.failed(&err);
                    failures += 1;
                    backoff(failures, self.settings.backoff_max)
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Publishes one practice from `cursor` on, while this replica holds it.
    #[tracing::instrument(skip(self, stop), fields(bridge = %self.store.bridge()))]
    async fn publish_practice(self: Arc<Self>, practice_id: String, cursor: i64, stop: CancellationToken) {
        let mut bus = self.services.bus.subscribe(&practice_id).await;
        let mut at = Position { sent: cursor, stored: cursor, stored_at: tokio::time::Instant::now() };
        let mut failures = 0u32;
        loop {
            let step = tokio::select! {
                _ = stop.cancelled() => break,
                step = self.step(&practice_id, &mut at) => step,
            };
            match step {
                Ok(Step::Moved) => {
                    failures = 0;
                    continue;
                }
                Ok(Step::LostLease) => {
                    tracing::info!(practice = %practice_id, "another replica holds this practice now");
                    stop.cancel();
                    return;
                }
                Ok(Step::Idle) => {
                    failures = 0;
                    // An unwritten cursor is written once it is CURSOR_EVERY old.
                    let wait = if at.sent > at.stored {
                        CURSOR_EVERY.saturating_sub(at.stored_at.elapsed()).min(self.settings.poll)
                    } else {
                        self.settings.poll
                    };
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(wait) => {}
                        woke = bus.receiver.recv() => if let Err(RecvError::Closed) = woke {
                            bus = self.services.bus.subscribe(&practice_id).await;
                        },
                    }
                }
                Err(err) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(practice = %practice_id, error = %err, cursor = at.sent, "bridge publish failed; resending from the cursor after a backoff");
                    }
                    self.status.failed(&err);
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(backoff(failures, self.settings.backoff_max)) => {}
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

    /// One batch: the events after the cursor (of the bridge's types), published; the
    /// cursor moved over what was acknowledged.
    async fn step(&self, practice_id: &str, at: &mut Position) -> Result<Step, String> {
        let db = &self.services.db;
        let batch = self.settings.batch;
        // With a type list, the head tells how far the events of other types go.
        let head = match self.types {
            Some(_) => Some(log::head(db, practice_id).await.map_err(|e| e.to_string())?.unwrap_or(0)),
            None => None,
        };
        if head.is_some_and(|head| head <= at.sent) {
            return self.idle(practice_id, at).await;
        }
        let events = log::read_range(db, practice_id, at.sent, head, self.types.as_deref(), batch)
            .await
            .map_err(|e| e.to_string())?;
        if events.is_empty() && head.is_none() {
            return self.idle(practice_id, at).await;
        }
        if self.types.is_none()
            && let Some(first) = events.first()
            && first.seq > at.sent + 1
        {
            tracing::warn!(practice = %practice_id, from = at.sent + 1, to = first.seq - 1,
                "events were pruned from the log (EVENT_RETENTION) before this bridge sent them");
        }
        // A full batch may stop short of the head; otherwise everything up to the head
        // that matched is here (the rest is not of the bridge's types).
        let reached = match (events.last(), head) {
            (Some(last), Some(_)) if events.len() as u64 == batch => last.seq,
            (_, Some(head)) => head,
            (Some(last), None) => last.seq,
            (None, None) => at.sent,
        };
        let messages = events
            .iter()
            .map(|event| cloudevent::encode(event, self.settings.payload))
            .collect::<Result<Vec<Outgoing>, _>>()
            .map_err(|e| format!("could not encode an event: {e}"))?;
        let published = self.broker.publish(&messages).await;
        self.status.acked(messages.iter().zip(&published.acked_at).map(|(m, at)| at - m.occurred_at_ms));
        at.sent = match published.acked() {
            n if n == messages.len() => reached,
            0 => at.sent,
            n => messages[n - 1].seq,
        };
        // On a failure the cursor is written at once, so a takeover resends the least.
        if !self.store_cursor(practice_id, at, published.error.is_some()).await? {
            return Ok(Step::LostLease);
        }
        match published.error {
            Some(err) => Err(err),
            None => Ok(Step::Moved),
        }
    }

    /// Nothing to send: write a cursor left unwritten for CURSOR_EVERY.
    async fn idle(&self, practice_id: &str, at: &mut Position) -> Result<Step, String> {
        if !self.store_cursor(practice_id, at, false).await? {
            return Ok(Step::LostLease);
        }
        Ok(Step::Idle)
    }
}

/// How far a practice's publisher got: acknowledged (`sent`) and written (`stored`).
struct Position {
    sent: i64,
    stored: i64,
    stored_at: tokio::time::Instant,
}

enum Step {
    /// The cursor moved (more may be waiting).
    Moved,
    /// Nothing after the cursor.
    Idle,
    /// Another replica took the practice.
    LostLease,
}
