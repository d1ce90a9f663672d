//! The public shapes of the API. The resources and enumerations are the domain's own
//! (`crate::vocab`), re-exported here; what only the API has lives here: the `Event`
//! interface over the log's snapshots, `Practice.lastCursor` and `Practice.quota`.

mod events;
mod practice_cursor;
mod quota;

pub use crate::vocab::{
    ApiKey, Appointment, AppointmentStatus, Bridge, Charge, CreatedApiKey, Date, EventType, Patient, Payment,
    PaymentMethod, Practice, Provider, ProviderKind, Role, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus,
    WebhookEndpoint, WebhookEndpointSecret, WebhookReplay,
};
pub use events::{AppointmentEvent, ChargeEvent, Event, PatientEvent, PaymentEvent, event_object};
pub use quota::{PracticeQuota, QuotaUse, view as quota_view};
