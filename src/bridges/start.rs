//! Building the configured bridges (those whose URL is set) and starting them on the
//! app's task tracker. Building never connects: a broker that is down is the runner's
//! business (logged, retried), never a reason for the API not to start.

use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::amqp::Amqp;
use super::broker::Broker;
use super::mqtt::Mqtt;
use super::nats::Nats;
use super::runner::Bridge;
use super::settings::{BadSetting, BridgeArgs, parse_types, redact};
use super::status::{BridgeMetrics, BridgeStatus, Bridges};
use super::store::CursorStore;
use crate::audit::Recorder;
use crate::domain::{Services, new_id};
use crate::usage::Meter;
use crate::vocab::BridgeKind;

/// One configured bridge before it has its status and store.
struct Planned {
    kind: BridgeKind,
    /// The cursor rows' `bridge`: the kind and the destination's name.
    key: String,
    destination: String,
    broker: Arc<dyn Broker>,
    types: Option<Vec<crate::vocab::EventType>>,
}

/// The configured bridges, ready to start; checks the settings first.
pub struct Configured {
    pub bridges: Bridges,
    runners: Vec<Arc<Bridge>>,
}

impl Configured {
    /// Each bridge meters and audits what the broker acknowledged in `usage` and `audit`.
    pub fn build(
        settings: &BridgeArgs,
        services: &Services,
        usage: &Arc<Meter>,
        audit: &Arc<Recorder>,
    ) -> Result<Self, BadSetting> {
        settings.validate()?;
        let metrics = Arc::new(BridgeMetrics::default());
        let shared = Arc::new(settings.clone());
        // One id per replica: the `owner` of the leases it holds.
        let owner = new_id("rep");
        let window = settings.max_in_flight;
        let timeout = settings.ack_timeout;
        let mut planned = Vec::new();
        if let Some(url) = &settings.nats_url {
            planned.push(Planned {
                kind: BridgeKind::Nats,
                key: format!("nats/{}", settings.nats_stream),
                destination: format!(
                    "{} stream {} subjects {}.>",
                    redact(url),
                    settings.nats_stream,
                    settings.nats_prefix
                ),
                broker: Arc::new(Nats::new(
                    url.clone(),
                    settings.nats_stream.clone(),
                    settings.nats_prefix.clone(),
                    window,
                    timeout,
                )),
                types: parse_types("BRIDGE_NATS_TYPES", &settings.nats_types)?,
            });
        }
        if let Some(url) = &settings.amqp_url {
            planned.push(Planned {
                kind: BridgeKind::Amqp,
                key: format!("amqp/{}", settings.amqp_exchange),
                destination: format!("{} exchange {}", redact(url), settings.amqp_exchange),
                broker: Arc::new(Amqp::new(url.clone(), settings.amqp_exchange.clone(), window, timeout)),
                types: parse_types("BRIDGE_AMQP_TYPES", &settings.amqp_types)?,
            });
        }
        if let Some(url) = &settings.mqtt_url {
            let client_id = format!("clinicstream-{owner}");
            planned.push(Planned {
                kind: BridgeKind::Mqtt,
                key: format!("mqtt/{}", settings.mqtt_prefix),
                destination: format!("{} topics {}/#", redact(url), settings.mqtt_prefix),
                broker: Arc::new(Mqtt::new(url.clone(), settings.mqtt_prefix.clone(), client_id, timeout)),
                types: parse_types("BRIDGE_MQTT_TYPES", &settings.mqtt_types)?,
            });
        }
        #[cfg(feature = "kafka")]
        if let Some(brokers) = &settings.kafka.brokers {
            let key = format!("kafka/{}", settings.kafka.topic);
            let user = settings.kafka.sasl_username.as_ref().map(|u| format!(" as {u}")).unwrap_or_default();
            planned.push(Planned {
                kind: BridgeKind::Kafka,
                destination: format!("{brokers}{user} topic {}", settings.kafka.topic),
                broker: Arc::new(super::kafka::Kafka::new(&settings.kafka, key.clone(), services.db.clone(), timeout)),
                key,
                types: parse_types("BRIDGE_KAFKA_TYPES", &settings.kafka.types)?,
            });
        }
        let mut runners = Vec::new();
        let mut all = Vec::new();
        for plan in planned {
            let status = Arc::new(BridgeStatus::new(
                plan.kind,
                plan.destination,
                plan.types.clone(),
                settings.payload,
                metrics.clone(),
            ));
            all.push(status.clone());
            runners.push(Arc::new(Bridge {
                broker: plan.broker,
                store: CursorStore::new(services.db.clone(), plan.key, owner.clone()),
                status,
                settings: shared.clone(),
                types: plan.types,
                services: services.clone(),
                usage: usage.clone(),
                audit: audit.clone(),
            }));
        }
        Ok(Self { bridges: Bridges { all, metrics }, runners })
    }

    /// Spawns each bridge unless `BRIDGE_WORKER=false`; they stop when `shutdown` is cancelled.
    pub fn start(self, settings: &BridgeArgs, shutdown: &CancellationToken, tracker: &TaskTracker) {
        if !settings.worker {
            return;
        }
        for runner in self.runners {
            tracing::info!(bridge = %runner.store.bridge(), destination = %runner.status.destination, "starting bridge");
            tracker.spawn(runner.run(shutdown.clone()));
        }
    }
}
