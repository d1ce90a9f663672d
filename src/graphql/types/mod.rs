//! The public shapes of the API. The records are the domain's own (`crate::vocab`),
//! re-exported here; this module gives them their GraphQL face (the resolvers of their
//! fields, with the descriptions the schema shows), and holds what only the API has: the
//! `Event` interface over the log's snapshots, `Practice.lastCursor` and `Practice.quota`.

mod bridges;
mod date;
mod events;
mod practice;
mod quota;
mod resources;
mod webhooks;

pub use crate::vocab::{
    ApiKey, Appointment, AppointmentStatus, Bridge, BridgeKind, BridgeState, Charge, CreatedApiKey, Date, EventType,
    Patient, Payment, PaymentMethod, Practice, Provider, ProviderKind, Role, WebhookAttempt, WebhookDelivery,
    WebhookDeliveryStatus, WebhookEndpoint, WebhookEndpointSecret, WebhookReplay,
};
pub use events::{AppointmentEvent, ChargeEvent, Event, PatientEvent, PaymentEvent, event_object};
pub use quota::{PracticeQuota, QuotaUse, view as quota_view};
