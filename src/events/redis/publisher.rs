//! Publishing: events queue here after commit and go out on one multiplexed connection
//! (PUBLISH to one Redis; on a cluster, SPUBLISH on a direct connection per master,
//! `super::shards`), pipelined: what is queued (up to the bus's batch, at most
//! `MAX_BATCH`) goes out in one round trip per shard instead of one per event, with up to
//! `IN_FLIGHT` batches awaiting their answer at once. A publish that fails leaves the
//! event's outbox row in place for the relay.

use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use sea_orm::DatabaseConnection;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::shards::Shards;
use super::wire;
use crate::events::outbox::{Deleter, Relay, RelaySettings};
use crate::events::{Counters, StoredEvent};

/// Starts the publisher, the deleter of published outbox rows and the relay on
/// `connection`; returns the queue events are handed to after commit.
pub fn start(
    connection: PublishConnection,
    settings: PublishSettings,
    db: DatabaseConnection,
    counters: Arc<Counters>,
    shutdown: CancellationToken,
    tracker: &TaskTracker,
) -> mpsc::UnboundedSender<Arc<StoredEvent>> {
    let (published, published_rx) = mpsc::unbounded_channel();
    tracker.spawn(Deleter { db: db.clone(), shutdown: shutdown.clone() }.run(published_rx));
    let publisher = Publisher {
        connection,
        prefix: settings.prefix,
        counters: counters.clone(),
        published: Some(published),
        batch: settings.batch.clamp(1, MAX_BATCH),
        shutdown: shutdown.clone(),
    };
    let relay_publisher = publisher.clone_for_relay();
    let (queue, queue_rx) = mpsc::unbounded_channel();
    tracker.spawn(publisher.run(queue_rx));
    tracker.spawn(Relay { db, publisher: relay_publisher, counters, settings: settings.relay, shutdown }.run());
    queue
}

/// How a bus publishes: its channel prefix, its relay's pace, and the most events per
/// pipeline (1 publishes one at a time).
pub struct PublishSettings {
    pub prefix: String,
    pub relay: RelaySettings,
    pub batch: usize,
}

/// Where events are published: one Redis, or a Redis Cluster (sharded pub/sub, a pipeline
/// per shard: `super::shards`).
#[derive(Clone)]
pub enum PublishConnection {
    Single(redis::aio::ConnectionManager),
    Cluster(Shards),
}

pub struct Publisher {
    pub connection: PublishConnection,
    pub prefix: String,
    pub counters: Arc<Counters>,
    /// Outbox rows to delete once their event is published.
    pub published: Option<mpsc::UnboundedSender<(String, i64)>>,
    /// Most events per pipeline (1..=`MAX_BATCH`).
    pub batch: usize,
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
            batch: self.batch,
            shutdown: self.shutdown.clone(),
        }
    }

    #[tracing::instrument(skip_all, name = "redis_publisher")]
    pub async fn run(self, mut queue: mpsc::UnboundedReceiver<Arc<StoredEvent>>) {
        let limit = self.batch;
        let mut batch = Vec::with_capacity(limit);
        let mut in_flight = FuturesOrdered::new();
        // `open`: the queue may still bring events; once shut down it is closed, and what
        // the workers queued before they stopped is still sent.
        let (mut open, mut closing) = (true, false);
        while open || !in_flight.is_empty() {
            tokio::select! {
                biased;
                Some((sent_batch, sent)) = in_flight.next() => self.settle(sent_batch, sent),
                _ = self.shutdown.cancelled(), if !closing => {
                    closing = true;
                    queue.close();
                }
                received = queue.recv_many(&mut batch, limit), if open && in_flight.len() < IN_FLIGHT => {
                    match received {
                        0 => open = false,
                        _ => in_flight.push_back(self.send(std::mem::replace(&mut batch, Vec::with_capacity(limit)))),
                    }
                }
            }
        }
    }

    /// Publishes a batch on clones of the connection (so several can be in flight); yields
    /// it back with, per event, whether Redis took it.
    fn send(&self, batch: Vec<Arc<StoredEvent>>) -> impl Future<Output = (Vec<Arc<StoredEvent>>, Vec<bool>)> + use<> {
        let mut connection = self.connection.clone();
        let prefix = self.prefix.clone();
        async move {
            let sent = publish_many(&mut connection, &prefix, &batch).await;
            (batch, sent)
        }
    }

    /// Counts a batch Redis answered, and queues each published event's outbox row for
    /// deletion; an unpublished one stays for the relay.
    fn settle(&self, batch: Vec<Arc<StoredEvent>>, sent: Vec<bool>) {
        for (event, ok) in batch.into_iter().zip(sent) {
            if ok {
                self.counters.published.inc();
                if let Some(published) = &self.published {
                    let _ = published.send((event.practice_id.clone(), event.seq));
                }
            } else {
                self.counters.publish_failures.inc();
            }
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
            PublishConnection::Cluster(shards) => {
                redis::cmd("SPUBLISH").arg(channel).arg(payload).query_async(&mut shards.cluster).await
            }
        };
        if let Err(err) = &sent {
            tracing::debug!(error = %err, seq = event.seq, "publish failed; the relay will retry");
        }
        sent.is_ok()
    }
}

/// Publishes `events` in pipelines and says, per event, whether Redis took it.
///
/// One Redis: one pipeline of PUBLISH, in queue order. A cluster: one pipeline of SPUBLISH
/// per shard (a practice's channel is hash-tagged, so one slot, one shard), all sent at
/// once — one round trip per shard per batch (`super::shards`) — so a shard that is down
/// or failing over delays only its own practices (up to the connection's response timeout
/// and retries), while the other shards answer. Within a pipeline each practice's events
/// keep their seq order. A pipeline that fails counts all its events as unpublished: their
/// outbox rows stay, and the relay sends them again (subscribers drop a repeat by seq).
async fn publish_many(connection: &mut PublishConnection, prefix: &str, events: &[Arc<StoredEvent>]) -> Vec<bool> {
    let mut sent = vec![false; events.len()];
    match connection {
        PublishConnection::Single(connection) => {
            let (pipe, members) = pipeline("PUBLISH", prefix, events, 0..events.len());
            if members.is_empty() {
                return sent;
            }
            let answer: redis::RedisResult<()> = pipe.query_async(connection).await;
            mark(&mut sent, &members, answer);
        }
        PublishConnection::Cluster(shards) => {
            shards.publish(prefix, events).await.into_iter().for_each(|i| sent[i] = true);
        }
    }
    sent
}

/// Most events sent in one go: bounds a pipeline's size and how long a batch holds rows.
pub const MAX_BATCH: usize = 256;
/// Batches sent before the first of them is answered: the next batch goes out while Redis
/// answers the last, instead of waiting for it (on a cluster, for its slowest shard). They
/// go out in order on the same connections, so each practice's events still reach Redis
/// in seq order; after a failed pipeline, a later batch may have gone out before the
/// relay resends the failed one, and subscribers fill that gap from the log, as after any
/// failed publish.
const IN_FLIGHT: usize = 4;

/// A pipeline of `command channel payload` for the events at `indices`, with the indices
/// that made it in (an event that does not encode is left out: unpublished).
pub(super) fn pipeline(
    command: &str,
    prefix: &str,
    events: &[Arc<StoredEvent>],
    indices: impl IntoIterator<Item = usize>,
) -> (redis::Pipeline, Vec<usize>) {
    let mut pipe = redis::pipe();
    let mut members = Vec::new();
    for i in indices {
        let event = &events[i];
        let Ok(payload) = wire::encode(event) else { continue };
        pipe.cmd(command).arg(wire::channel(prefix, &event.practice_id)).arg(payload).ignore();
        members.push(i);
    }
    (pipe, members)
}

fn mark(sent: &mut [bool], members: &[usize], answer: redis::RedisResult<()>) {
    match answer {
        Ok(()) => members.iter().for_each(|&i| sent[i] = true),
        Err(err) => {
            tracing::debug!(error = %err, events = members.len(), "publish pipeline failed; the relay will retry")
        }
    }
}
