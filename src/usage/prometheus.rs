//! Per-practice usage series for Prometheus, behind `METRICS_PER_PRACTICE=true`: one
//! series per practice and operation type or transport. Off by default — practice ids
//! are an unbounded label (see the label rule in `metrics`); turn it on only where the
//! number of practices is small and known.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub practice_id: String,
    /// QUERY, MUTATION or SUBSCRIPTION.
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub practice_id: String,
    /// HTTP, WEBSOCKET, SSE, MULTIPART, WEBHOOK, BRIDGE or LONG_POLLING.
    pub transport: String,
}

#[derive(Default, Debug)]
pub struct PerPractice {
    pub operations: Family<OperationLabels, Counter>,
    pub deliveries: Family<DeliveryLabels, Counter>,
}

impl PerPractice {
    pub(super) fn count(&self, practice_id: &str, metric: super::meter::Metric, n: u64) {
        use super::meter::{Metric, OpKind};
        let practice_id = practice_id.to_string();
        match metric {
            Metric::Op(kind) => {
                let operation = match kind {
                    OpKind::Query => "QUERY",
                    OpKind::Mutation => "MUTATION",
                    OpKind::Subscription => "SUBSCRIPTION",
                };
                self.operations.get_or_create(&OperationLabels { practice_id, operation: operation.into() }).inc_by(n);
            }
            Metric::Delivery(transport) => {
                let labels = DeliveryLabels { practice_id, transport: transport.as_str().into() };
                self.deliveries.get_or_create(&labels).inc_by(n);
            }
            Metric::Event(_) => {}
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "practice_operations",
            "Operations by practice and type (METRICS_PER_PRACTICE)",
            self.operations.clone(),
        );
        registry.register(
            "practice_deliveries",
            "Deliveries by practice and transport (METRICS_PER_PRACTICE)",
            self.deliveries.clone(),
        );
    }
}
