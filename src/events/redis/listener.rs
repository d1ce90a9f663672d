//! The replica's one pub/sub connection: (un)subscribes practice channels as local
//! subscribers come and go, hands messages to the local fan-out, and reconnects. After
//! every (re)connect it tells local subscribers to reread the log, since messages sent
//! while it was away are lost to it but not to the log.

use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::wire;
use crate::events::local::LocalFanout;
use crate::events::{BusMessage, Counters};

/// What the bus asks of its pub/sub listener: (un)subscribe a practice's channel, or say
/// when everything asked before is done.
pub enum PubSubCommand {
    Subscribe(String),
    Unsubscribe(String),
    /// Answered once every earlier command is done (or at once while disconnected).
    Barrier(oneshot::Sender<()>),
}

pub struct Listener {
    pub client: redis::Client,
    pub prefix: String,
    pub local: Arc<LocalFanout>,
    pub counters: Arc<Counters>,
    pub connected: Arc<AtomicBool>,
    pub shutdown: CancellationToken,
}

const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl Listener {
    #[tracing::instrument(skip_all, name = "redis_listener")]
    pub async fn run(self, mut commands: mpsc::UnboundedReceiver<PubSubCommand>) {
        let mut backoff = Duration::from_millis(50);
        let mut first = true;
        loop {
            match self.connect_and_listen(&mut commands, &mut first).await {
                Flow::Stop => return,
                Flow::Reconnect => {}
            }
            self.connected.store(false, Ordering::SeqCst);
            // While away, answer barriers at once: subscribers must not wait for Redis;
            // the resync after reconnecting covers what they miss.
            let sleep = tokio::time::sleep(backoff);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    _ = &mut sleep => break,
                    command = commands.recv() => match command {
                        Some(PubSubCommand::Barrier(done)) => { let _ = done.send(()); }
                        Some(_) => {}
                        None => return,
                    },
                }
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn connect_and_listen(
        &self,
        commands: &mut mpsc::UnboundedReceiver<PubSubCommand>,
        first: &mut bool,
    ) -> Flow {
        let pubsub = match tokio::time::timeout(Duration::from_secs(2), self.client.get_async_pubsub()).await {
            Ok(Ok(pubsub)) => pubsub,
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "redis pub/sub connection failed");
                return Flow::Reconnect;
            }
            Err(_) => return Flow::Reconnect,
        };
        let (mut sink, mut stream) = pubsub.split();
        for practice_id in self.local.practices() {
            if sink.subscribe(wire::channel(&self.prefix, &practice_id)).await.is_err() {
                return Flow::Reconnect;
            }
        }
        if !std::mem::take(first) {
            self.counters.redis_reconnects.inc();
            tracing::info!("redis pub/sub reconnected");
        }
        self.connected.store(true, Ordering::SeqCst);
        self.local.resync_all();
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return Flow::Stop,
                command = commands.recv() => {
                    let result = match command {
                        None => return Flow::Stop,
                        Some(PubSubCommand::Subscribe(p)) => sink.subscribe(wire::channel(&self.prefix, &p)).await,
                        Some(PubSubCommand::Unsubscribe(p)) => sink.unsubscribe(wire::channel(&self.prefix, &p)).await,
                        Some(PubSubCommand::Barrier(done)) => {
                            let _ = done.send(());
                            Ok(())
                        }
                    };
                    if let Err(err) = result {
                        tracing::warn!(error = %err, "redis pub/sub command failed");
                        return Flow::Reconnect;
                    }
                }
                message = stream.next() => {
                    let Some(message) = message else {
                        tracing::warn!("redis pub/sub connection closed");
                        return Flow::Reconnect;
                    };
                    self.deliver(message.get_channel_name(), message.get_payload_bytes());
                }
            }
        }
    }

    fn deliver(&self, channel: &str, payload: &[u8]) {
        let Some(practice_id) = wire::practice_of(&self.prefix, channel) else { return };
        match wire::decode(payload) {
            Ok(event) if event.practice_id == practice_id => {
                self.local.deliver(practice_id, BusMessage::Event(Arc::new(event)));
            }
            Ok(_) => tracing::warn!(channel, "event for another practice on a practice channel; dropped"),
            // An undecodable message is a lost message: resync the practice from the log.
            Err(err) => {
                tracing::warn!(channel, error = %err, "undecodable bus message; resyncing from the log");
                self.local.deliver(practice_id, BusMessage::Resync);
            }
        }
    }
}

enum Flow {
    Stop,
    Reconnect,
}
