//! Publishing: events queue here after commit and go out on one multiplexed connection.
//! A publish that fails leaves the event's outbox row in place for the relay.

use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::wire;
use crate::events::{Counters, StoredEvent};

pub struct Publisher {
    pub connection: redis::aio::ConnectionManager,
    pub prefix: String,
    pub counters: Arc<Counters>,
    /// Outbox rows to delete once their event is published.
    pub published: Option<mpsc::UnboundedSender<(String, i64)>>,
    pub shutdown: CancellationToken,
}

impl Publisher {
    /// A publisher over the same connection for the relay, which deletes rows itself.
    pub fn clone_for_relay(&self) -> Self {
        Self {
            connection: self.connection.clone(),
            prefix: self.prefix.clone(),
            counters: self.counters.clone(),
            published: None,
            shutdown: self.shutdown.clone(),
        }
    }

    #[tracing::instrument(skip_all, name = "redis_publisher")]
    pub async fn run(mut self, mut queue: mpsc::UnboundedReceiver<Arc<StoredEvent>>) {
        loop {
            let event = tokio::select! {
                _ = self.shutdown.cancelled() => {
                    // Workers stop after in-flight mutations: send what they queued.
                    queue.close();
                    while let Ok(event) = queue.try_recv() {
                        self.publish_and_clear(&event).await;
                    }
                    return;
                }
                event = queue.recv() => match event { Some(event) => event, None => return },
            };
            self.publish_and_clear(&event).await;
        }
    }

    /// Publishes, then queues the event's outbox row for deletion (or leaves it to the relay).
    async fn publish_and_clear(&mut self, event: &StoredEvent) {
        if self.publish(event).await {
            self.counters.published.inc();
            if let Some(published) = &self.published {
                let _ = published.send((event.practice_id.clone(), event.seq));
            }
        } else {
            self.counters.publish_failures.inc();
        }
    }

    /// PUBLISHes one event; false if Redis did not take it.
    pub async fn publish(&mut self, event: &StoredEvent) -> bool {
        let Ok(payload) = wire::encode(event) else { return false };
        let channel = wire::channel(&self.prefix, &event.practice_id);
        let sent: redis::RedisResult<i64> =
            redis::cmd("PUBLISH").arg(channel).arg(payload).query_async(&mut self.connection).await;
        if let Err(err) = &sent {
            tracing::debug!(error = %err, seq = event.seq, "publish failed; the relay will retry");
        }
        sent.is_ok()
    }
}
