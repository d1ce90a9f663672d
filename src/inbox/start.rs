//! The configured command consumers (each off unless its subject or queue is set),
//! checked at build and started on the app's task tracker. Building never connects: a
//! broker that is down is retried by the consumer, never a reason not to start.

use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::amqp::AmqpCommands;
use super::core::Inbox;
use super::metrics::{Door, InboxMetrics};
use super::nats::NatsCommands;
use super::settings::CommandArgs;
use super::status::{CommandStatuses, ConsumerStatus};
use crate::bridges::{BadSetting, redact};

pub struct Consumers {
    nats: Option<(NatsCommands, Arc<ConsumerStatus>)>,
    amqp: Option<(AmqpCommands, Arc<ConsumerStatus>)>,
    pub metrics: Arc<InboxMetrics>,
}

impl Consumers {
    /// The consumers `args` configure, on the bridges' broker URLs.
    pub fn plan(args: &CommandArgs, nats_url: Option<&str>, amqp_url: Option<&str>) -> Result<Self, BadSetting> {
        args.validate(nats_url, amqp_url)?;
        let metrics: Arc<InboxMetrics> = Arc::default();
        let nats = nats_url.and_then(|url| NatsCommands::of(url, args)).map(|nats| {
            let source = format!("{} subject {} durable {}", redact(&nats.url), nats.subject, nats.durable);
            (nats, Arc::new(ConsumerStatus::new(Door::nats, source, metrics.clone())))
        });
        let amqp = amqp_url.and_then(|url| AmqpCommands::of(url, args)).map(|amqp| {
            let source = format!("{} queue {}", redact(&amqp.url), amqp.queue);
            (amqp, Arc::new(ConsumerStatus::new(Door::amqp, source, metrics.clone())))
        });
        Ok(Self { nats, amqp, metrics })
    }

    /// The consumers' statuses, for the `commandConsumers` query.
    pub fn statuses(&self) -> CommandStatuses {
        let all = self.nats.iter().map(|(_, s)| s.clone()).chain(self.amqp.iter().map(|(_, s)| s.clone()));
        CommandStatuses { all: all.collect() }
    }

    pub fn any(&self) -> bool {
        self.nats.is_some() || self.amqp.is_some()
    }

    /// Starts each configured consumer; they stop with `stop`.
    pub fn start(self, inbox: Arc<Inbox>, stop: &CancellationToken, tracker: &TaskTracker) {
        if let Some((nats, status)) = self.nats {
            tracker.spawn(nats.run(inbox.clone(), status, stop.clone()));
        }
        if let Some((amqp, status)) = self.amqp {
            tracker.spawn(amqp.run(inbox, status, stop.clone()));
        }
    }
}
