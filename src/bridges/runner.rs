//! Running one bridge on this replica: a claimer that takes and renews the leases of the
//! practices (every second, or `BRIDGE_LEASE`/3 if shorter), a publisher task per practice held, and a connector
//! that keeps the broker connection checked so an unreachable broker shows in the log and
//! the `bridges` query even when no event is waiting.
//!
//! A practice's publisher reads the log after its cursor, publishes in seq order, and
//! advances the cursor only over what the broker acknowledged; on a failure it backs off
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
    async fn publish_practice(self: Arc<Self>, practice_id: String, mut cursor: i64, stop: CancellationToken) {
        let mut bus = self.services.bus.subscribe(&practice_id).await;
        let mut failures = 0u32;
        loop {
            let step = tokio::select! {
                _ = stop.cancelled() => return,
                step = self.step(&practice_id, &mut cursor) => step,
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
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(self.settings.poll) => {}
                        woke = bus.receiver.recv() => if let Err(RecvError::Closed) = woke {
                            bus = self.services.bus.subscribe(&practice_id).await;
                        },
                    }
                }
                Err(err) => {
                    failures += 1;
                    if failures == 1 {
                        tracing::warn!(practice = %practice_id, error = %err, cursor, "bridge publish failed; resending from the cursor after a backoff");
                    }
                    self.status.failed(&err);
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(backoff(failures, self.settings.backoff_max)) => {}
                    }
                }
            }
        }
    }

    /// One batch: the events after the cursor up to the head (of the bridge's types),
    /// published; the cursor moved over what was acknowledged.
    async fn step(&self, practice_id: &str, cursor: &mut i64) -> Result<Step, String> {
        let db = &self.services.db;
        let head = log::head(db, practice_id).await.map_err(|e| e.to_string())?.unwrap_or(0);
        if head <= *cursor {
            return Ok(Step::Idle);
        }
        let batch = self.settings.batch;
        let events = log::read_range(db, practice_id, *cursor, Some(head), self.types.as_deref(), batch)
            .await
            .map_err(|e| e.to_string())?;
        if self.types.is_none()
            && let Some(first) = events.first()
            && first.seq > *cursor + 1
        {
            tracing::warn!(practice = %practice_id, from = *cursor + 1, to = first.seq - 1,
                "events were pruned from the log (EVENT_RETENTION) before this bridge sent them");
        }
        // A full batch may stop short of the head; otherwise everything up to the head
        // that matched is here (the rest is not of the bridge's types).
        let reached = match events.last() {
            Some(last) if events.len() as u64 == batch => last.seq,
            _ => head,
        };
        let messages = events
            .iter()
            .map(|event| cloudevent::encode(event, self.settings.payload))
            .collect::<Result<Vec<Outgoing>, _>>()
            .map_err(|e| format!("could not encode an event: {e}"))?;
        let published = self.broker.publish(&messages).await;
        self.status.acked(messages.iter().zip(&published.acked_at).map(|(m, at)| at - m.occurred_at_ms));
        let moved_to = match published.acked() {
            n if n == messages.len() => reached,
            0 => *cursor,
            n => messages[n - 1].seq,
        };
        if moved_to > *cursor {
            let held = self.store.advance(practice_id, moved_to, self.now_ms()).await.map_err(|e| e.to_string())?;
            if !held {
                return Ok(Step::LostLease);
            }
            *cursor = moved_to;
        }
        match published.error {
            Some(err) => Err(err),
            None => Ok(Step::Moved),
        }
    }
}

enum Step {
    /// The cursor moved (more may be waiting).
    Moved,
    /// Nothing after the cursor.
    Idle,
    /// Another replica took the practice.
    LostLease,
}
