//! `ClusterBus`: the cluster connection (SPUBLISH, and for anyone who needs cluster-wide
//! state), the per-shard listener, the publisher and the outbox relay, behind `EventBus`.

use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::listener::{Listener, ShardedPubSubCommand};
use super::shards::ShardStates;
use super::slots::{SharedTopology, key_slot};
use crate::events::local::{ChannelChange, LocalFanout};
use crate::events::outbox::RelaySettings;
use crate::events::redis::shards::{ShardOf, Shards};
use crate::events::redis::{once_confirmed, ping};
use crate::events::redis_publisher::{self, PublishConnection, PublishSettings};
use crate::events::{BusSubscription, Counters, EventBus, StoredEvent};

pub struct ClusterSettings {
    /// Seed nodes, `host:port`.
    pub nodes: Vec<String>,
    pub prefix: String,
    pub capacity: usize,
    pub relay: RelaySettings,
    /// Most events per publish pipeline (`MAX_PUBLISH_BATCH`; 1 publishes one at a time).
    pub publish_batch: usize,
}

pub struct ClusterBus {
    local: Arc<LocalFanout>,
    commands: mpsc::UnboundedSender<ShardedPubSubCommand>,
    queue: mpsc::UnboundedSender<Arc<StoredEvent>>,
    states: ShardStates,
    connection: redis::cluster_async::ClusterConnection,
}

impl ClusterBus {
    /// Connects to the cluster (one of the seed nodes must answer) and starts the bus's
    /// tasks on `tracker` until `shutdown`.
    pub async fn start(
        settings: ClusterSettings,
        db: DatabaseConnection,
        counters: Arc<Counters>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> redis::RedisResult<Self> {
        let client = redis::cluster::ClusterClientBuilder::new(settings.nodes.iter().map(|n| format!("redis://{n}")))
            .connection_timeout(Duration::from_secs(1))
            .response_timeout(Duration::from_secs(1))
            .retries(3)
            .max_retry_wait(300)
            .build()?;
        let connection = client.get_async_connection().await?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let watcher_commands = commands.clone();
        let watcher = Arc::new(move |change: ChannelChange| {
            let _ = watcher_commands.send(match change {
                ChannelChange::Opened(p) => ShardedPubSubCommand::Subscribe(p),
                ChannelChange::Closed(p) => ShardedPubSubCommand::Unsubscribe(p),
            });
        });
        let local = Arc::new(LocalFanout::new(settings.capacity, Some(watcher)));
        let states = ShardStates::new(counters.clone());
        let topology = SharedTopology::default();
        let listener = Listener {
            seeds: settings.nodes.clone(),
            prefix: settings.prefix.clone(),
            name: connection_name(&settings.prefix),
            local: local.clone(),
            states: states.clone(),
            topology: topology.clone(),
            shutdown: shutdown.clone(),
        };
        tracker.spawn(listener.run(command_rx));
        let queue = redis_publisher::start(
            PublishConnection::Cluster(Shards::new(
                connection.clone(),
                shard_of(topology),
                connection_name(&settings.prefix).replacen("-sub-", "-pub-", 1),
            )),
            PublishSettings { prefix: settings.prefix, relay: settings.relay, batch: settings.publish_batch },
            db,
            counters,
            shutdown,
            tracker,
        );
        Ok(Self { local, commands, queue, states, connection })
    }

    /// A command connection to the cluster (it routes by key and follows MOVED), for
    /// other cluster-wide state. Cheap to clone.
    pub fn connection(&self) -> redis::cluster_async::ClusterConnection {
        self.connection.clone()
    }
}

/// The shard serving a channel, from the topology the listener last read.
fn shard_of(topology: SharedTopology) -> ShardOf {
    Arc::new(move |channel: &str| {
        let topology = topology.read().unwrap_or_else(|p| p.into_inner());
        topology.owner(key_slot(channel.as_bytes())).map(str::to_string)
    })
}

/// The CLIENT SETNAME of a replica's pub/sub connections: `clinicstream-sub-<prefix>-<id>`,
/// one id per process (CLIENT LIST on a shard shows one such connection per replica); its
/// publish connections are named `clinicstream-pub-<prefix>-<id>`.
pub fn connection_name(prefix: &str) -> String {
    let prefix: String = prefix
        .chars()
        .take(64)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':') { c } else { '_' })
        .collect();
    // The tail of a v7 uuid is random.
    let id = uuid::Uuid::now_v7().simple().to_string();
    format!("clinicstream-sub-{prefix}-{}", &id[20..])
}

impl EventBus for ClusterBus {
    fn publish(&self, event: Arc<StoredEvent>) {
        // An event queued after shutdown is still in the outbox for another replica's relay.
        let _ = self.queue.send(event);
    }

    fn subscribe(&self, practice_id: &str) -> BoxFuture<'_, BusSubscription> {
        let (subscription, _) = self.local.subscribe(practice_id);
        let (done, confirmed) = oneshot::channel();
        let _ = self.commands.send(ShardedPubSubCommand::Barrier(done));
        once_confirmed(subscription, confirmed)
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.states.ready()?;
            ping(&mut self.connection.clone(), "redis cluster").await
        })
    }
}
