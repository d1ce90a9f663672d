//! Practices, providers, patients, appointments, charges, payments and API keys as clients
//! see them, and as the event log snapshots them.

use async_graphql::{ID, SimpleObject};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AppointmentStatus, Date, PaymentMethod, ProviderKind, Role};

// `complex`: the API adds `lastCursor`, resolved in `graphql::types::practice_cursor`.
#[derive(SimpleObject, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[graphql(complex)]
#[serde(rename_all = "camelCase")]
pub struct Practice {
    pub id: ID,
    pub name: String,
    /// IANA time zone, e.g. `America/New_York`.
    pub timezone: String,
    /// ISO 4217 currency code of every amount in this practice.
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

#[derive(SimpleObject, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    pub id: ID,
    pub practice_id: ID,
    pub name: String,
    pub kind: ProviderKind,
}

#[derive(SimpleObject, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    pub id: ID,
    pub practice_id: ID,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<Date>,
    /// Charges minus payments, in cents.
    pub balance_cents: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(SimpleObject, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    pub id: ID,
    pub practice_id: ID,
    pub patient: Patient,
    pub provider: Provider,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub duration_minutes: i32,
    pub status: AppointmentStatus,
    pub reason: Option<String>,
    pub cancellation_reason: Option<String>,
    /// Increases by one with every change to the appointment.
    pub version: i32,
}

#[derive(SimpleObject, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Charge {
    pub id: ID,
    pub practice_id: ID,
    pub patient_id: ID,
    pub amount_cents: i64,
    pub description: String,
    pub appointment_id: Option<ID>,
    pub posted_at: DateTime<Utc>,
}

#[derive(SimpleObject, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: ID,
    pub practice_id: ID,
    pub patient_id: ID,
    pub amount_cents: i64,
    pub method: PaymentMethod,
    pub reference: Option<String>,
    pub posted_at: DateTime<Utc>,
}

#[derive(SimpleObject, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: ID,
    pub name: String,
    pub role: Role,
    /// The practice the key is scoped to; null for a global ADMIN key.
    pub practice_id: Option<ID>,
    /// The first characters of the key, to recognise it (the key itself is not stored).
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new key: the plaintext `key` is returned here once and never again.
#[derive(SimpleObject, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    pub key: String,
    pub api_key: ApiKey,
}
