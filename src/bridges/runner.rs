//! Running one bridge on this replica: a claimer (`super::leases`) that takes and renews
//! the leases of the practices and starts a publisher (`super::publisher`) per practice held, and a connector that keeps the broker
//! connection checked, so an unreachable broker shows in the log and the `bridges` query
//! even when no event is waiting. Failures back off 200 ms doubling to
//! `BRIDGE_BACKOFF_MAX`, with jitter.

use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::broker::Broker;
use super::leases::hold_leases;
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
pub fn backoff(failures: u32, max: Duration) -> Duration {
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
        let now = || self.now_ms();
        // A practice let go (lease lost or given back): the broker drops what it kept for it.
        let start = |practice: String, seq, stop| {
            let bridge = self.clone();
            async move {
                bridge.clone().publish_practice(practice.clone(), seq, stop).await;
                bridge.broker.release(&practice).await;
            }
        };
        hold_leases(&self.store, &self.status, self.settings.lease, now, shutdown, start).await;
        connector.abort();
        let _ = (&mut connector).await;
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
