//! Running one bridge on this replica: a claimer that takes and renews the leases of the
//! practices (every second, or `BRIDGE_LEASE`/3 if shorter) and starts a publisher
//! (`super::publisher`) per practice held, and a connector that keeps the broker
//! connection checked, so an unreachable broker shows in the log and the `bridges` query
//! even when no event is waiting. Failures back off 200 ms doubling to
//! `BRIDGE_BACKOFF_MAX`, with jitter.

use rand::Rng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::broker::Broker;
use super::settings::BridgeArgs;
use super::status::BridgeStatus;
use super::store::CursorStore;
use crate::audit::Recorder;
use crate::domain::Services;
use crate::usage::Meter;
use crate::vocab::EventType;

/// What one bridge's tasks share.
pub struct Bridge {
    pub broker: Arc<dyn Broker>,
    pub store: CursorStore,
    pub status: Arc<BridgeStatus>,
    pub settings: Arc<BridgeArgs>,
    pub types: Option<Vec<EventType>>,
    pub services: Services,
    pub usage: Arc<Meter>,
    pub audit: Arc<Recorder>,
}

/// The wait before the next try after `failures` failures in a row.
pub(super) fn backoff(failures: u32, max: Duration) -> Duration {
    let base = Duration::from_millis(200).saturating_mul(1 << failures.min(16)).min(max);
    let jitter = rand::rng().random_range(0.8..1.2);
    base.mul_f64(jitter).min(max)
}

impl Bridge {
    pub(super) fn now_ms(&self) -> i64 {
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
                            let bridge = self.clone();
                            publishers.spawn(async move {
                                bridge.clone().publish_practice(practice.clone(), seq, stop).await;
                                bridge.broker.release(&practice).await;
                            });
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
}
