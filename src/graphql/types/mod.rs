//! The public shapes of the API. Resources double as the event snapshots, so a snapshot
//! in the log reads exactly like the GraphQL object (camelCase JSON).

mod enums;
mod events;
mod practice_cursor;
mod resources;
mod scalars;
mod webhooks;

pub use enums::{AppointmentStatus, EventType, PaymentMethod, ProviderKind, Role};
pub use events::{AppointmentEvent, ChargeEvent, Event, PatientEvent, PaymentEvent, event_object};
pub use resources::{ApiKey, Appointment, Charge, CreatedApiKey, Patient, Payment, Practice, Provider};
pub use scalars::Date;
pub use webhooks::{
    WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint, WebhookEndpointSecret, WebhookReplay,
};
