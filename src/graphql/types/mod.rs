//! The public shapes of the API. The records are the domain's own (`crate::vocab`),
//! re-exported here; this module gives them their GraphQL face (the resolvers of their
//! fields, with the descriptions the schema shows), spells the enumerations as the schema
//! does (each converts to and from its `vocab` twin), and holds what only the API has:
//! the `Event` interface over the log's snapshots, `Practice.lastCursor` and `Practice.quota`.

mod bridges;
mod commands;
mod date;
mod enums;
mod events;
mod practice;
mod quota;
mod resources;
mod usage;
mod webhooks;

pub use crate::vocab::{
    ApiKey, Appointment, Bridge, Charge, CreatedApiKey, Date, Patient, Payment, Practice, Provider, WebSubSubscription,
    WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEndpointSecret, WebhookReplay,
};
pub use enums::{
    AppointmentStatus, AuditAction, BridgeKind, BridgeState, EventType, PaymentMethod, ProviderKind, Role, Transport,
    WebhookDeliveryStatus,
};
pub use events::{AppointmentEvent, ChargeEvent, Event, PatientEvent, PaymentEvent, event_object};
pub use quota::{PracticeQuota, QuotaUse, view as quota_view};
