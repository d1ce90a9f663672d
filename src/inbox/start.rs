//! The configured command consumers (each off unless its subject, queue or topic is set),
//! checked at build and started on the app's task tracker. Building never connects: a
//! broker that is down is retried by the consumer, never a reason not to start.

use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::amqp::AmqpCommands;
use super::core::Inbox;
#[cfg(feature = "kafka")]
use super::kafka::KafkaCommands;
use super::metrics::{Door, InboxMetrics};
use super::nats::NatsCommands;
use super::settings::CommandArgs;
use super::status::{CommandStatuses, ConsumerStatus};
use crate::bridges::{BadSetting, KafkaArgs, redact};

pub struct Consumers {
    nats: Option<(NatsCommands, Arc<ConsumerStatus>)>,
    amqp: Option<(AmqpCommands, Arc<ConsumerStatus>)>,
    #[cfg(feature = "kafka")]
    kafka: Option<(KafkaCommands, Arc<ConsumerStatus>)>,
    pub metrics: Arc<InboxMetrics>,
}

impl Consumers {
    /// The consumers `args` configure, on the bridges' broker URLs (and Kafka brokers).
    pub fn plan(
        args: &CommandArgs,
        nats_url: Option<&str>,
        amqp_url: Option<&str>,
        kafka: &KafkaArgs,
    ) -> Result<Self, BadSetting> {
        args.validate(nats_url, amqp_url, kafka.brokers.as_deref())?;
        let metrics: Arc<InboxMetrics> = Arc::default();
        let nats = nats_url.and_then(|url| NatsCommands::of(url, args)).map(|nats| {
            let source = format!("{} subject {} durable {}", redact(&nats.url), nats.subject, nats.durable);
            (nats, Arc::new(ConsumerStatus::new(Door::nats, source, metrics.clone())))
        });
        let amqp = amqp_url.and_then(|url| AmqpCommands::of(url, args)).map(|amqp| {
            let source = format!("{} queue {}", redact(&amqp.url), amqp.queue);
            (amqp, Arc::new(ConsumerStatus::new(Door::amqp, source, metrics.clone())))
        });
        #[cfg(feature = "kafka")]
        let kafka = KafkaCommands::of(kafka, args).map(|kafka| {
            let source = format!("{} topic {} group {}", kafka.brokers, kafka.topic, kafka.group);
            (kafka, Arc::new(ConsumerStatus::new(Door::kafka, source, metrics.clone())))
        });
        #[cfg(not(feature = "kafka"))]
        let _ = kafka;
        Ok(Self {
            nats,
            amqp,
            #[cfg(feature = "kafka")]
            kafka,
            metrics,
        })
    }

    /// The consumers' statuses, for the `commandConsumers` query.
    pub fn statuses(&self) -> CommandStatuses {
        let nats = self.nats.iter().map(|(_, s)| s.clone());
        let all = nats.chain(self.amqp.iter().map(|(_, s)| s.clone())).chain(self.kafka_status());
        CommandStatuses { all: all.collect() }
    }

    pub fn any(&self) -> bool {
        self.nats.is_some() || self.amqp.is_some() || self.kafka_status().is_some()
    }

    #[cfg(feature = "kafka")]
    fn kafka_status(&self) -> Option<Arc<ConsumerStatus>> {
        self.kafka.as_ref().map(|(_, s)| s.clone())
    }

    #[cfg(not(feature = "kafka"))]
    fn kafka_status(&self) -> Option<Arc<ConsumerStatus>> {
        None
    }

    /// Starts each configured consumer; they stop with `stop`.
    pub fn start(self, inbox: Arc<Inbox>, stop: &CancellationToken, tracker: &TaskTracker) {
        if let Some((nats, status)) = self.nats {
            tracker.spawn(nats.run(inbox.clone(), status, stop.clone()));
        }
        if let Some((amqp, status)) = self.amqp {
            tracker.spawn(amqp.run(inbox.clone(), status, stop.clone()));
        }
        #[cfg(feature = "kafka")]
        if let Some((kafka, status)) = self.kafka {
            tracker.spawn(kafka.run(inbox, status, stop.clone()));
        }
    }
}
