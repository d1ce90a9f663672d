//! The Redis bus: events fan out to every replica through Redis pub/sub, one channel per
//! practice, one pub/sub connection per replica, fanned out locally.

mod bus;
mod listener;
pub(crate) mod publisher;
pub(crate) mod shards;
pub(crate) mod wire;

pub use bus::{RedisBus, RedisSettings};

use futures_util::future::BoxFuture;
use std::time::Duration;
use tokio::sync::oneshot;

use super::BusSubscription;

/// How long a new subscriber waits for its (S)SUBSCRIBE to be confirmed before going on
/// (it then relies on the resync that follows a reconnect or a repair).
const SUBSCRIBE_WAIT: Duration = Duration::from_secs(3);

/// A local subscription, handed over once the listener has confirmed its channel (both
/// buses: the listener answers a barrier after the (S)SUBSCRIBE it queued before).
pub(crate) fn once_confirmed(
    subscription: BusSubscription,
    confirmed: oneshot::Receiver<()>,
) -> BoxFuture<'static, BusSubscription> {
    Box::pin(async move {
        let _ = tokio::time::timeout(SUBSCRIBE_WAIT, confirmed).await;
        subscription
    })
}

/// Whether `connection` answers PING within a second; `what` names it in the error.
pub(crate) async fn ping(connection: &mut impl ::redis::aio::ConnectionLike, what: &str) -> Result<(), String> {
    let ping = ::redis::cmd("PING");
    match tokio::time::timeout(Duration::from_secs(1), ping.query_async::<String>(connection)).await {
        Ok(answer) => answer.map(|_| ()).map_err(|e| format!("{what}: {e}")),
        Err(_) => Err(format!("{what} did not answer PING within 1 s")),
    }
}
