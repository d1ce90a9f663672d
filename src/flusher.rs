//! The one batching loop that usage metering and the audit trail share: whatever was
//! counted or recorded in memory is written every `interval`, and once more when the
//! workers stop (graceful shutdown), so a crash loses at most the last interval.

use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::error::AppResult;

/// Something holding in-memory deltas that it can write out.
pub trait Flush: Send + Sync + 'static {
    /// What the logs call it.
    fn name(&self) -> &'static str;
    /// Writes what was gathered since the last flush. On an error nothing it took is
    /// lost: it is kept for the next flush.
    fn flush(&self) -> BoxFuture<'_, AppResult<()>>;
}

/// Flushes `target` every `interval` until `stop`, then a last time.
pub fn spawn(target: Arc<dyn Flush>, interval: Duration, stop: CancellationToken, tracker: &TaskTracker) {
    tracker.spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        loop {
            let last = tokio::select! {
                _ = stop.cancelled() => true,
                _ = ticks.tick() => false,
            };
            if let Err(err) = target.flush().await {
                tracing::warn!(what = target.name(), error = %err, "flush failed; kept for the next one");
            }
            if last {
                return;
            }
        }
    });
}
