//! `RedisBus`: starts the listener, the publisher and (with an outbox) the relay, and
//! implements `EventBus` over them.

use futures_util::future::BoxFuture;
use sea_orm::DatabaseConnection;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::listener::{Listener, PubSubCommand};
use super::publisher::{PublishConnection, PublishSettings};
use super::{once_confirmed, ping};
use crate::events::local::{ChannelChange, LocalFanout};
use crate::events::outbox::RelaySettings;
use crate::events::{BusSubscription, Counters, EventBus, StoredEvent};

pub struct RedisBus {
    local: Arc<LocalFanout>,
    commands: mpsc::UnboundedSender<PubSubCommand>,
    queue: mpsc::UnboundedSender<Arc<StoredEvent>>,
    connected: Arc<AtomicBool>,
    ping: redis::aio::ConnectionManager,
}

pub struct RedisSettings {
    pub url: String,
    pub prefix: String,
    pub capacity: usize,
    pub relay: RelaySettings,
    /// Most events per publish pipeline (`MAX_PUBLISH_BATCH`; 1 publishes one at a time).
    pub publish_batch: usize,
}

impl RedisBus {
    /// Opens the bus; its tasks run on `tracker` until `shutdown`.
    pub fn start(
        settings: RedisSettings,
        db: DatabaseConnection,
        counters: Arc<Counters>,
        shutdown: CancellationToken,
        tracker: &TaskTracker,
    ) -> redis::RedisResult<Self> {
        let client = redis::Client::open(settings.url.as_str())?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let watcher_commands = commands.clone();
        let watcher = Arc::new(move |change: ChannelChange| {
            let _ = watcher_commands.send(match change {
                ChannelChange::Opened(p) => PubSubCommand::Subscribe(p),
                ChannelChange::Closed(p) => PubSubCommand::Unsubscribe(p),
            });
        });
        let local = Arc::new(LocalFanout::new(settings.capacity, Some(watcher)));
        let connected = Arc::new(AtomicBool::new(false));
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = redis::aio::ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        let listener = Listener {
            client,
            prefix: settings.prefix.clone(),
            local: local.clone(),
            counters: counters.clone(),
            connected: connected.clone(),
            shutdown: shutdown.clone(),
        };
        tracker.spawn(listener.run(command_rx));
        let queue = super::publisher::start(
            PublishConnection::Single(connection.clone()),
            PublishSettings { prefix: settings.prefix, relay: settings.relay, batch: settings.publish_batch },
            db,
            counters,
            shutdown,
            tracker,
        );
        Ok(Self { local, commands, queue, connected, ping: connection })
    }
}

impl EventBus for RedisBus {
    fn publish(&self, event: Arc<StoredEvent>) {
        // The publisher only stops at shutdown; an event queued after that is still in
        // the outbox for the next replica's relay.
        let _ = self.queue.send(event);
    }

    fn subscribe(&self, practice_id: &str) -> BoxFuture<'_, BusSubscription> {
        let (subscription, _) = self.local.subscribe(practice_id);
        let (done, confirmed) = oneshot::channel();
        let _ = self.commands.send(PubSubCommand::Barrier(done));
        once_confirmed(subscription, confirmed)
    }

    fn ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if !self.connected.load(Ordering::SeqCst) {
                return Err("redis pub/sub is not connected".to_string());
            }
            ping(&mut self.ping.clone(), "redis").await
        })
    }
}
