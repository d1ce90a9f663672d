//! The one batching loop that usage metering and the audit trail share: whatever was
//! counted or recorded in memory is written every `interval` (or sooner, when the target
//! says enough is queued), and once more when the workers stop (graceful shutdown), so a
//! crash loses at most the last interval.

use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
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
    /// Told when enough is queued to write it before the interval ends: many small
    /// writes spread over the interval, rather than one burst at its end.
    fn due(&self) -> Option<Arc<Notify>> {
        None
    }
}

/// Flushes `target` every `interval` and whenever it is due, until `stop`, then a last
/// time.
pub fn spawn(target: Arc<dyn Flush>, interval: Duration, stop: CancellationToken, tracker: &TaskTracker) {
    tracker.spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await;
        let told = target.due();
        let due = async || match &told {
            Some(told) => told.notified().await,
            None => std::future::pending().await,
        };
        loop {
            let last = tokio::select! {
                _ = stop.cancelled() => true,
                _ = ticks.tick() => false,
                () = due() => false,
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
