//! Publishing: events queue here after commit and go out on one multiplexed connection
//! (PUBLISH to one Redis, or SPUBLISH through the cluster connection, which follows MOVED
//! to the channel's shard). A publish that fails leaves the event's outbox row in place
//! for the relay.

use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::wire;
use crate::events::outbox::{Deleter, Relay, RelaySettings};
use crate::events::{Counters, StoredEvent};

/// Starts the publisher, the deleter of published outbox rows and the relay on
/// `connection`; returns the queue events are handed to after commit.
pub fn start(
    connection: PublishConnection,
    prefix: String,
    db: DatabaseConnection,
    counters: Arc<Counters>,
    relay: RelaySettings,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> mpsc::UnboundedSender<Arc<StoredEvent>> {
    let (published, published_rx) = mpsc::unbounded_channel();
    tracker.spawn(Deleter { db: db.clone(), shutdown: shutdown.clone() }.run(published_rx));
    let publisher = Publisher {
        connection,
        prefix,
        counters: counters.clone(),
        published: Some(published),
        shutdown: shutdown.clone(),
    };
    let relay_publisher = publisher.clone_for_relay();
    let (queue, queue_rx) = mpsc::unbounded_channel();
    tracker.spawn(publisher.run(queue_rx));
    tracker.spawn(Relay { db, publisher: relay_publisher, counters, settings: relay, shutdown }.run());
    queue
}

/// Where events are published: one Redis, or a Redis Cluster (sharded pub/sub).
#[derive(Clone)]
pub enum PublishConnection {
    Single(redis::aio::ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

pub struct Publisher {
    pub connection: PublishConnection,
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
        let sent: redis::RedisResult<i64> = match &mut self.connection {
            PublishConnection::Single(connection) => {
                redis::cmd("PUBLISH").arg(channel).arg(payload).query_async(connection).await
            }
            PublishConnection::Cluster(connection) => {
                redis::cmd("SPUBLISH").arg(channel).arg(payload).query_async(connection).await
            }
        };
        if let Err(err) = &sent {
            tracing::debug!(error = %err, seq = event.seq, "publish failed; the relay will retry");
        }
        sent.is_ok()
    }
}
