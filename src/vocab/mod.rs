//! The vocabulary every layer speaks: event types, roles, statuses, methods and the
//! resource records (practices, patients, appointments, charges, payments, API keys,
//! webhook endpoints and deliveries), as plain Rust values.
//!
//! It sits below everything else and imports nothing from the crate, so `domain`,
//! `events`, `auth`, `webhooks` and `db` can use it without reaching up. The records are
//! also what the GraphQL schema serves and what the event log snapshots (camelCase JSON),
//! so they carry their async-graphql derives here; `graphql::types` re-exports them and
//! adds what only the API has (the `Event` interface, `Practice.lastCursor`).

mod bridges;
mod date;
mod enums;
mod resources;
mod webhooks;

pub use bridges::{Bridge, BridgeKind, BridgeState};
pub use date::Date;
pub use enums::{AppointmentStatus, AuditAction, EventType, PaymentMethod, ProviderKind, Role, Transport};
pub use resources::{ApiKey, Appointment, Charge, CreatedApiKey, Patient, Payment, Practice, Provider};
pub use webhooks::{
    WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEndpointSecret, WebhookReplay,
};
