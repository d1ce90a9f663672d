//! The `Event` interface and its four shapes, read straight from the stored snapshot.

use async_graphql::{Context, ID, Interface, Object};
use chrono::{DateTime, Utc};
use std::sync::Arc;

use super::{Appointment, Charge, EventType, Patient, Payment};
use crate::events::{Payload, StoredEvent};

/// Declares an event object: the common `Event` fields plus its snapshot fields.
macro_rules! event_object {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty),+ }) => {
        $(#[$meta])*
        pub struct $name {
            event: Arc<StoredEvent>,
            $($field: Arc<$ty>,)+
        }

        #[Object]
        impl $name {
            /// Opaque position in the practice's log: pass it as `after` to resume here.
            async fn cursor(&self) -> String {
                self.event.cursor()
            }
            /// The event's number in its practice's log: 1, 2, 3, … in commit order.
            async fn seq(&self) -> i64 {
                self.event.seq
            }
            #[graphql(name = "type")]
            async fn event_type(&self) -> EventType {
                self.event.event_type.into()
            }
            async fn occurred_at(&self) -> DateTime<Utc> {
                self.event.occurred_at
            }
            async fn practice_id(&self) -> ID {
                ID(self.event.practice_id.clone())
            }
            $(
                async fn $field(&self, ctx: &Context<'_>) -> &$ty {
                    // Reading a snapshot reads its patient's data (the audit trail).
                    crate::graphql::context::touch(ctx, &self.event.practice_id, self.event.payload.patient_id());
                    &self.$field
                }
            )+
        }
    };
}

event_object!(
    /// An appointment was scheduled, rescheduled, cancelled, completed or starts soon.
    AppointmentEvent { appointment: Appointment }
);
event_object!(
    /// A patient record was created or updated.
    PatientEvent { patient: Patient }
);
event_object!(
    /// A payment was posted; `patient` carries the balance after it.
    PaymentEvent { payment: Payment, patient: Patient }
);
event_object!(
    /// A charge was posted; `patient` carries the balance after it.
    ChargeEvent { charge: Charge, patient: Patient }
);

/// A business event of a practice.
#[derive(Interface)]
#[graphql(
    field(name = "cursor", ty = "String"),
    field(name = "seq", ty = "i64"),
    field(name = "type", method = "event_type", ty = "EventType"),
    field(name = "occurred_at", ty = "DateTime<Utc>"),
    field(name = "practice_id", ty = "ID")
)]
pub enum Event {
    AppointmentEvent(AppointmentEvent),
    PatientEvent(PatientEvent),
    PaymentEvent(PaymentEvent),
    ChargeEvent(ChargeEvent),
}

impl From<Arc<StoredEvent>> for Event {
    fn from(event: Arc<StoredEvent>) -> Self {
        match event.payload.clone() {
            Payload::Appointment { appointment } => Event::AppointmentEvent(AppointmentEvent { event, appointment }),
            Payload::Patient { patient } => Event::PatientEvent(PatientEvent { event, patient }),
            Payload::Payment { payment, patient } => Event::PaymentEvent(PaymentEvent { event, payment, patient }),
            Payload::Charge { charge, patient } => Event::ChargeEvent(ChargeEvent { event, charge, patient }),
        }
    }
}

/// The GraphQL object an event type is delivered as: the event catalog, shared by the
/// resolvers and the AsyncAPI document.
pub fn event_object(event_type: crate::vocab::EventType) -> &'static str {
    use crate::vocab::EventType::*;
    match event_type {
        PatientCreated | PatientUpdated => "PatientEvent",
        AppointmentScheduled
        | AppointmentRescheduled
        | AppointmentCancelled
        | AppointmentCompleted
        | AppointmentStartingSoon => "AppointmentEvent",
        ChargePosted => "ChargeEvent",
        PaymentPosted => "PaymentEvent",
    }
}

impl Event {
    pub fn into_appointment(self) -> Option<AppointmentEvent> {
        match self {
            Event::AppointmentEvent(e) => Some(e),
            _ => None,
        }
    }

    pub fn into_patient(self) -> Option<PatientEvent> {
        match self {
            Event::PatientEvent(e) => Some(e),
            _ => None,
        }
    }

    pub fn into_payment(self) -> Option<PaymentEvent> {
        match self {
            Event::PaymentEvent(e) => Some(e),
            _ => None,
        }
    }
}
