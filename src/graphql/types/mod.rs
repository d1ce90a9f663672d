//! The public shapes of the API. The resources and enumerations are the domain's own
//! (`crate::vocab`), re-exported here; what only the API has lives here: the `Event`
//! interface over the log's snapshots and `Practice.lastCursor`.

mod events;
mod practice_cursor;

pub use crate::vocab::{
    ApiKey, Appointment, AppointmentStatus, Bridge, Charge, CreatedApiKey, Date, EventType, Patient, Payment,
    PaymentMethod, Practice, Provider, ProviderKind, Role, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus,
    WebhookEndpoint, WebhookEndpointSecret, WebhookReplay,
};
pub use events::{AppointmentEvent, ChargeEvent, Event, PatientEvent, PaymentEvent, event_object};
