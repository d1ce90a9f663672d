//! The NATS JetStream bridge: subject `<prefix>.<practiceId>.<TYPE>` in a stream created
//! if absent (subjects `<prefix>.>`), `Nats-Msg-Id` = the cursor so the stream keeps each
//! event once (within its duplicate window), and a message counts once its PubAck came.

use async_nats::jetstream::{self, message::PublishMessage, stream};
use async_trait::async_trait;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::Mutex;

use super::broker::{Broker, Published};
use super::cloudevent::{CONTENT_TYPE, Outgoing};
use super::settings::redact;

pub struct Nats {
    url: String,
    stream: String,
    prefix: String,
    /// PubAcks awaited at once per publish call.
    window: usize,
    ack_timeout: Duration,
    context: Mutex<Option<(async_nats::Client, jetstream::Context)>>,
}

impl Nats {
    pub fn new(url: String, stream: String, prefix: String, window: usize, ack_timeout: Duration) -> Self {
        Self { url, stream, prefix, window: window.max(1), ack_timeout, context: Mutex::new(None) }
    }

    fn subject(&self, message: &Outgoing) -> String {
        format!("{}.{}.{}", self.prefix, message.practice_id, message.event_type.as_str())
    }

    /// The JetStream context, connecting and creating (or checking) the stream first.
    async fn context(&self) -> Result<jetstream::Context, String> {
        let mut held = self.context.lock().await;
        if let Some((_, context)) = held.as_ref() {
            return Ok(context.clone());
        }
        let url = redact(&self.url);
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(self.ack_timeout))
            .connect(self.url.as_str())
            .await
            .map_err(|err| format!("cannot connect to NATS at {url}: {err}"))?;
        let mut context = jetstream::new(client.clone());
        context.set_timeout(self.ack_timeout);
        let subjects = format!("{}.>", self.prefix);
        let mut created = context
            .get_or_create_stream(stream::Config {
                name: self.stream.clone(),
                subjects: vec![subjects.clone()],
                ..Default::default()
            })
            .await
            .map_err(|err| format!("cannot create or open JetStream stream {:?} on {url}: {err}", self.stream))?;
        // An existing stream of that name must take our subjects, or every publish fails.
        let info = created.info().await.map_err(|err| format!("cannot read stream {:?}: {err}", self.stream))?;
        if !info.config.subjects.iter().any(|s| s == &subjects || s == ">") {
            return Err(format!(
                "JetStream stream {:?} exists with subjects {:?}, which do not include {subjects:?}",
                self.stream, info.config.subjects
            ));
        }
        tracing::info!(stream = %self.stream, %subjects, "NATS bridge connected to {url}");
        *held = Some((client, context.clone()));
        Ok(context)
    }

    async fn forget(&self) {
        self.context.lock().await.take();
    }
}

#[async_trait]
impl Broker for Nats {
    async fn connect(&self) -> Result<(), String> {
        let connected = match self.context.lock().await.as_ref() {
            Some((client, _)) => client.connection_state() == async_nats::connection::State::Connected,
            None => false,
        };
        if connected {
            return Ok(());
        }
        self.forget().await;
        self.context().await.map(|_| ())
    }

    async fn publish(&self, messages: &[Outgoing]) -> Published {
        let mut done = Published::default();
        let context = match self.context().await {
            Ok(context) => context,
            Err(err) => return done.failed(err),
        };
        let mut in_flight = VecDeque::new();
        let mut sent = 0;
        while done.acked() < messages.len() {
            while sent < messages.len() && in_flight.len() < self.window {
                let message = &messages[sent];
                let publish = PublishMessage::build()
                    .payload(message.body.clone().into())
                    .message_id(&message.id)
                    .header("Content-Type", CONTENT_TYPE);
                match context.send_publish(self.subject(message), publish).await {
                    Ok(ack) => in_flight.push_back(ack),
                    Err(err) => {
                        self.forget().await;
                        return done.failed(format!("publishing to JetStream failed: {err}"));
                    }
                }
                sent += 1;
            }
            let Some(ack) = in_flight.pop_front() else { break };
            match ack.await {
                Ok(_) => done.ack(),
                Err(err) => {
                    // The rest of the window is dropped: resent from here, in order (the
                    // stream drops those it already stored by their Nats-Msg-Id).
                    self.forget().await;
                    return done.failed(format!("no JetStream PubAck from stream {:?}: {err}", self.stream));
                }
            }
        }
        done
    }
}
