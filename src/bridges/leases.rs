//! Holding the leases of the practices for one bridge (or the lake sink): every tick it
//! claims and renews them (`super::store`), starts a worker for each practice it newly
//! holds and stops those it no longer holds; when it stops, it gives them all back.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::status::BridgeStatus;
use super::store::CursorStore;

/// Claims every second (or `lease`/3 if shorter) until `shutdown`; `start(practice, seq,
/// stop)` is the worker of a practice held from its durable cursor `seq`, which must
/// return once `stop` is cancelled (or cancel it itself when it finds the lease lost).
pub async fn hold_leases<F, W>(
    store: &CursorStore,
    status: &BridgeStatus,
    lease: Duration,
    now_ms: impl Fn() -> i64,
    shutdown: CancellationToken,
    start: F,
) where
    F: Fn(String, i64, CancellationToken) -> W,
    W: Future<Output = ()> + Send + 'static,
{
    let mut workers: JoinSet<()> = JoinSet::new();
    let mut held: HashMap<String, CancellationToken> = HashMap::new();
    // Claims often enough that a new practice starts within a second, and renews well
    // within the lease.
    let every = (lease / 3).clamp(Duration::from_millis(100), Duration::from_secs(1));
    let mut tick = tokio::time::interval(every);
    let mut last_claim = tokio::time::Instant::now();
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
            Some(_) = workers.join_next(), if !workers.is_empty() => {}
        }
        // A worker that lost its lease has stopped: forget it, the claim decides again.
        held.retain(|_, stop| !stop.is_cancelled());
        let now = now_ms();
        let lease_until = now + lease.as_millis() as i64;
        match store.claim(now, lease_until).await {
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
                        workers.spawn(start(practice, seq, stop));
                    }
                }
                status.set_held(held.len());
                last_claim = tokio::time::Instant::now();
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not claim bridge leases");
                // Unrenewed, the leases run out and another replica may take the
                // practices: stop working on them rather than race it.
                if last_claim.elapsed() >= lease && !held.is_empty() {
                    tracing::warn!(practices = held.len(), "bridge leases not renewed for BRIDGE_LEASE; pausing");
                    held.drain().for_each(|(_, stop)| stop.cancel());
                    status.set_held(0);
                }
            }
        }
        match store.lag().await {
            Ok(lag) => status.set_lag(lag),
            Err(err) => tracing::debug!(error = %err, "could not read the bridge lag"),
        }
    }
    for stop in held.values() {
        stop.cancel();
    }
    while workers.join_next().await.is_some() {}
    if let Err(err) = store.release_all().await {
        tracing::warn!(error = %err, "could not release bridge leases (they run out after BRIDGE_LEASE)");
    }
    status.set_held(0);
}
