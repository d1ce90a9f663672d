//! One event of a practice's log, as read from the database or received from the bus.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::Cursor;
use crate::clock::from_millis;
use crate::db::entities::event;
use crate::error::{AppError, AppResult};
use crate::telemetry::TraceContext;
use crate::vocab::{Appointment, Charge, EventType, Patient, Payment};

/// The snapshot stored with an event: the resource as it was when the event happened.
/// Serialised once when appended; delivering it never reads the database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Payload {
    Appointment { appointment: Arc<Appointment> },
    Payment { payment: Arc<Payment>, patient: Arc<Patient> },
    Charge { charge: Arc<Charge>, patient: Arc<Patient> },
    Patient { patient: Arc<Patient> },
}

impl Payload {
    /// Decodes a stored snapshot; the event type says which shape to expect.
    pub fn decode(event_type: EventType, json: &str) -> AppResult<Self> {
        #[derive(Deserialize)]
        struct A {
            appointment: Arc<Appointment>,
        }
        #[derive(Deserialize)]
        struct P {
            patient: Arc<Patient>,
        }
        #[derive(Deserialize)]
        struct Pay {
            payment: Arc<Payment>,
            patient: Arc<Patient>,
        }
        #[derive(Deserialize)]
        struct C {
            charge: Arc<Charge>,
            patient: Arc<Patient>,
        }
        use EventType::*;
        Ok(match event_type {
            PatientCreated | PatientUpdated => {
                let p: P = serde_json::from_str(json)?;
                Payload::Patient { patient: p.patient }
            }
            AppointmentScheduled
            | AppointmentRescheduled
            | AppointmentCancelled
            | AppointmentCompleted
            | AppointmentStartingSoon => {
                let a: A = serde_json::from_str(json)?;
                Payload::Appointment { appointment: a.appointment }
            }
            PaymentPosted => {
                let p: Pay = serde_json::from_str(json)?;
                Payload::Payment { payment: p.payment, patient: p.patient }
            }
            ChargePosted => {
                let c: C = serde_json::from_str(json)?;
                Payload::Charge { charge: c.charge, patient: c.patient }
            }
        })
    }

    /// Every resource the event is about (its own id and those it refers to): a live
    /// query that read any of them may have a new result.
    pub fn resource_ids(&self) -> Vec<&str> {
        let ids: Vec<&String> = match self {
            Payload::Appointment { appointment } => {
                vec![&appointment.id, &appointment.patient.id, &appointment.provider.id]
            }
            Payload::Payment { payment, patient } => vec![&payment.id, &patient.id],
            Payload::Charge { charge, patient } => {
                [&charge.id, &patient.id].into_iter().chain(charge.appointment_id.as_ref()).collect()
            }
            Payload::Patient { patient } => vec![&patient.id],
        };
        ids.into_iter().map(|id| id.as_str()).collect()
    }

    /// The provider an appointment event concerns, for `providerId` filters.
    pub fn provider_id(&self) -> Option<&str> {
        match self {
            Payload::Appointment { appointment } => Some(appointment.provider.id.as_str()),
            _ => None,
        }
    }

    /// The patient the event concerns, for `patientId` filters.
    pub fn patient_id(&self) -> &str {
        match self {
            Payload::Appointment { appointment } => appointment.patient.id.as_str(),
            Payload::Payment { patient, .. } | Payload::Charge { patient, .. } | Payload::Patient { patient } => {
                patient.id.as_str()
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub practice_id: String,
    pub seq: i64,
    pub event_type: EventType,
    pub occurred_at: DateTime<Utc>,
    pub payload: Payload,
    /// The W3C trace context of the mutation that appended it (tracing was on there), so
    /// deliveries link back to it.
    pub trace: Option<TraceContext>,
}

impl StoredEvent {
    pub fn cursor(&self) -> String {
        Cursor { practice_id: self.practice_id.clone(), seq: self.seq }.encode()
    }

    pub fn from_row(row: event::Model) -> AppResult<Self> {
        let event_type = EventType::parse(&row.event_type)
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("unknown event type {:?} in the log", row.event_type)))?;
        Ok(Self {
            payload: Payload::decode(event_type, &row.payload)?,
            practice_id: row.practice_id,
            seq: row.seq,
            event_type,
            occurred_at: from_millis(row.occurred_at),
            trace: row.trace_context.as_deref().and_then(TraceContext::decode),
        })
    }
}

/// Items grouped by practice: practices in order of first appearance, each one's items in
/// the order given (a batch's events or keys, kept in seq order per practice).
pub(crate) fn per_practice<'a, T>(items: impl IntoIterator<Item = (&'a str, T)>) -> Vec<(&'a str, Vec<T>)> {
    let mut practices: Vec<(&str, Vec<T>)> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (practice_id, item) in items {
        let at = *index.entry(practice_id).or_insert_with(|| {
            practices.push((practice_id, Vec::new()));
            practices.len() - 1
        });
        practices[at].1.push(item);
    }
    practices
}
