//! What the app runs that speaks to brokers and stores rather than to clients: the
//! bridges (the logs out, `bridges`), the command consumers (mutations in, `inbox`) and
//! the lake sink (`lake`). Their settings are checked when the app is built, so a
//! malformed one stops the start naming the setting; a broker that cannot be reached is
//! their own business later (logged, retried). They start with the other workers.

use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::services::AppServices;
use crate::state::AppState;

pub(super) struct Outlets {
    pub bridges: crate::bridges::Configured,
    pub commands: crate::inbox::Consumers,
    /// The lake sink, when `LAKE_URL` is set.
    #[cfg(feature = "lake")]
    pub lake: Option<Arc<crate::lake::Sink>>,
}

impl Outlets {
    pub fn build(config: &Config, services: &AppServices) -> anyhow::Result<Self> {
        #[allow(unused_mut)]
        let mut bridges =
            crate::bridges::Configured::build(&config.bridges, &services.domain, &services.usage, &services.audit)
                .map_err(|bad| anyhow::anyhow!("bad bridge setting {bad}"))?;
        let commands = crate::inbox::Consumers::plan(
            &config.commands,
            config.bridges.nats_url.as_deref(),
            config.bridges.amqp_url.as_deref(),
            &config.bridges.kafka,
        )
        .map_err(|bad| anyhow::anyhow!("bad command setting {bad}"))?;
        #[cfg(feature = "lake")]
        let lake = {
            let metrics = bridges.bridges.metrics.clone();
            let sink = crate::lake::Sink::build(&config.lake, &config.bridges, &services.domain, metrics)
                .map_err(|bad| anyhow::anyhow!("bad lake setting {bad}"))?;
            bridges.bridges.all.extend(sink.as_ref().map(|sink| sink.status()));
            sink
        };
        Ok(Self {
            bridges,
            commands,
            #[cfg(feature = "lake")]
            lake,
        })
    }

    pub fn start(self, state: &AppState, workers: &CancellationToken, tracker: &TaskTracker) {
        self.bridges.start(&state.config.bridges, workers, tracker);
        if self.commands.any() {
            let door = Arc::new(crate::http::CommandDoor::new(state.clone()));
            let inbox = crate::inbox::Inbox::new(
                state.services.domain.clone(),
                door,
                state.config.max_body_bytes,
                self.commands.metrics.clone(),
            );
            self.commands.start(Arc::new(inbox), workers, tracker);
        }
        #[cfg(feature = "lake")]
        crate::lake::Sink::start(self.lake, &state.config.bridges, workers, tracker);
    }
}
