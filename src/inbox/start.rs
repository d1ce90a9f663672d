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
use super::status::ConsumerStatus;
use crate::bridges::BadSetting;

pub struct Consumers {
    nats: Option<NatsCommands>,
    amqp: Option<AmqpCommands>,
    pub metrics: Arc<InboxMetrics>,
}

impl Consumers {
    /// The consumers `args` configure, on the bridges' broker URLs.
    pub fn plan(args: &CommandArgs, nats_url: Option<&str>, amqp_url: Option<&str>) -> Result<Self, BadSetting> {
        args.validate(nats_url, amqp_url)?;
        Ok(Self {
            nats: nats_url.and_then(|url| NatsCommands::of(url, args)),
            amqp: amqp_url.and_then(|url| AmqpCommands::of(url, args)),
            metrics: Arc::default(),
        })
    }

    pub fn any(&self) -> bool {
        self.nats.is_some() || self.amqp.is_some()
    }

    /// Starts each configured consumer; they stop with `stop`.
    pub fn start(self, inbox: Arc<Inbox>, stop: &CancellationToken, tracker: &TaskTracker) {
        if let Some(nats) = self.nats {
            let status = Arc::new(ConsumerStatus::new(Door::nats, self.metrics.up.clone()));
            tracker.spawn(nats.run(inbox.clone(), status, stop.clone()));
        }
        if let Some(amqp) = self.amqp {
            let status = Arc::new(ConsumerStatus::new(Door::amqp, self.metrics.up.clone()));
            tracker.spawn(amqp.run(inbox, status, stop.clone()));
        }
    }
}
