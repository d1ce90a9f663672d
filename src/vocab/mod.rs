//! The vocabulary every layer speaks: event types, roles, statuses, methods and the
//! resource records (practices, patients, appointments, charges, payments, API keys,
//! webhook endpoints and deliveries), as plain Rust values.
//!
//! It sits below everything else and imports nothing from the crate, so `domain`,
//! `events`, `auth`, `webhooks` and `db` can use it without reaching up. The records are
//! what the event log snapshots (camelCase JSON) and what the GraphQL schema serves, but
//! they know nothing of GraphQL: `graphql::types` gives them their face there (resolvers
//! that borrow them, the enumerations as the schema spells them, the `Date` scalar).

mod bridges;
mod commands;
mod date;
mod enums;
mod resources;
mod webhooks;

pub use bridges::{Bridge, BridgeKind, BridgeState};
pub use commands::CommandConsumer;
pub use date::Date;
pub use enums::{AppointmentStatus, AuditAction, EventType, PaymentMethod, ProviderKind, Role, Transport};
pub use resources::{ApiKey, Appointment, Charge, CreatedApiKey, Patient, Payment, Practice, Provider};
pub use webhooks::{
    WebSubSubscription, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEndpointSecret,
    WebhookReplay,
};
