//! Commands from NATS JetStream: a durable pull consumer on `COMMANDS_NATS_SUBJECT`, in
//! the stream that already holds those subjects (the bridge's, say) or one of its own.
//! At most one command is unacked at a time (`max_ack_pending` 1, across replicas), so a
//! practice's commands (one subject per practice) apply in the order they were stored.
//! Each is acked only after its reply or dead letter was published, with a double ack
//! (the server confirms it): a replica that dies before that leaves the command to be
//! redelivered after `COMMANDS_NATS_ACK_WAIT`, and the core replays it.
//!
//! JetStream keeps a publisher's reply subject for its own PubAck, so a command names
//! where its reply goes with the CloudEvent extension `replyto` or a `Reply-To` header.

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::message::AckKind;
use async_nats::jetstream::{self, stream};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::core::{Inbox, Incoming, Outcome};
use super::metrics::Door;
use super::settings::CommandArgs;
use super::status::ConsumerStatus;
use crate::bridges::redact;

pub struct NatsCommands {
    pub url: String,
    pub subject: String,
    pub stream: String,
    pub durable: String,
    pub api_key: String,
    pub reply_subject: String,
    pub dead_letter: String,
    pub ack_wait: Duration,
}

impl NatsCommands {
    pub fn of(url: &str, args: &CommandArgs) -> Option<Self> {
        Some(Self {
            url: url.to_string(),
            subject: args.nats_subject.clone()?,
            stream: args.nats_stream.clone(),
            durable: args.nats_durable.clone(),
            api_key: args.nats_api_key.clone()?,
            reply_subject: args.reply_subject.clone(),
            dead_letter: args.nats_dead_letter.clone(),
            ack_wait: args.nats_ack_wait,
        })
    }

    /// Consumes until `stop`, reconnecting with backoff when the server goes away.
    pub async fn run(self, inbox: Arc<Inbox>, status: Arc<ConsumerStatus>, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(200);
        loop {
            let session = self.session(&inbox, &status, &stop);
            let ended = tokio::select! {
                _ = stop.cancelled() => return,
                ended = session => ended,
            };
            match ended {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(subject = %self.subject, "NATS command consumer: {error}");
                    status.failed(&error);
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
        }
    }

    async fn session(&self, inbox: &Inbox, status: &ConsumerStatus, stop: &CancellationToken) -> Result<(), String> {
        let url = redact(&self.url);
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .connect(self.url.as_str())
            .await
            .map_err(|err| format!("cannot connect to NATS at {url}: {err}"))?;
        let context = jetstream::new(client.clone());
        let stream = match context.stream_by_subject(self.subject.as_str()).await {
            Ok(name) => context.get_stream(&name).await.map_err(|err| format!("cannot open stream {name:?}: {err}"))?,
            Err(_) => context
                .get_or_create_stream(stream::Config {
                    name: self.stream.clone(),
                    subjects: vec![self.subject.clone()],
                    ..Default::default()
                })
                .await
                .map_err(|err| {
                    format!("cannot create JetStream stream {:?} for {:?}: {err}", self.stream, self.subject)
                })?,
        };
        let config = pull::Config {
            durable_name: Some(self.durable.clone()),
            filter_subject: self.subject.clone(),
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            deliver_policy: DeliverPolicy::All,
            // One command in hand at a time, over every replica: the order holds.
            max_ack_pending: 1,
            ..Default::default()
        };
        let consumer = stream
            .get_or_create_consumer(&self.durable, config)
            .await
            .map_err(|err| format!("cannot create the durable consumer {:?}: {err}", self.durable))?;
        let mut messages = consumer.messages().await.map_err(|err| format!("cannot pull commands: {err}"))?;
        let mut publisher = Publisher { client: &client, context: &context, streamed: HashMap::new() };
        status.connected();
        tracing::info!(subject = %self.subject, durable = %self.durable, "NATS command consumer connected to {url}");
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => return Ok(()),
                next = messages.next() => next,
            };
            let message = next.ok_or("the pull consumer ended")?.map_err(|err| format!("pulling commands: {err}"))?;
            self.one(inbox, &mut publisher, message).await?;
        }
    }

    /// Handles one message: publishes what the core decided, then acks (or naks).
    async fn one(
        &self,
        inbox: &Inbox,
        publisher: &mut Publisher<'_>,
        message: jetstream::Message,
    ) -> Result<(), String> {
        let attempt = message.info().map(|info| info.delivered.max(1) as u32).unwrap_or(1);
        let header = |name: &str| message.headers.as_ref().and_then(|h| h.get(name)).map(|v| v.as_str().to_string());
        let content_type = header("Content-Type");
        let incoming = Incoming {
            bytes: &message.payload,
            content_type: content_type.as_deref(),
            reply_to: header("Reply-To"),
            attempt,
        };
        let (to, body) = match inbox.handle(Door::nats, &self.api_key, incoming).await {
            Outcome::Reply { to, body, .. } => (to.unwrap_or_else(|| self.reply_subject.clone()), body),
            Outcome::DeadLetter { body } => (self.dead_letter.clone(), body),
            Outcome::Retry { .. } => {
                let delay = Duration::from_millis(500 * u64::from(attempt.min(20)));
                return message.ack_with(AckKind::Nak(Some(delay))).await.map_err(|err| format!("nak failed: {err}"));
            }
        };
        publisher.publish(to, body).await?;
        message.double_ack().await.map_err(|err| format!("the ack was not confirmed: {err}"))
    }
}

/// Where replies and dead letters go: through JetStream (waiting for its PubAck) when a
/// stream holds the subject, else as plain NATS messages, flushed (a requester's inbox).
/// Which it is, is asked once per subject and connection.
struct Publisher<'a> {
    client: &'a async_nats::Client,
    context: &'a jetstream::Context,
    streamed: HashMap<String, bool>,
}

impl Publisher<'_> {
    async fn publish(&mut self, subject: String, body: Vec<u8>) -> Result<(), String> {
        let streamed = match self.streamed.get(&subject) {
            Some(streamed) => *streamed,
            None => {
                let streamed = self.context.stream_by_subject(subject.as_str()).await.is_ok();
                if self.streamed.len() > 10_000 {
                    self.streamed.clear();
                }
                self.streamed.insert(subject.clone(), streamed);
                streamed
            }
        };
        let failed = |err: &dyn std::fmt::Display| format!("publishing to {subject:?}: {err}");
        if streamed {
            let ack = self.context.publish(subject.clone(), body.into()).await.map_err(|e| failed(&e))?;
            ack.await.map_err(|e| failed(&e))?;
            return Ok(());
        }
        self.client.publish(subject.clone(), body.into()).await.map_err(|e| failed(&e))?;
        self.client.flush().await.map_err(|e| failed(&e))
    }
}
