//! Practices, providers, patients, appointments, charges, payments and API keys as the
//! domain returns them and the event log snapshots them (camelCase JSON); their GraphQL
//! face is `graphql::types`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{AppointmentStatus, Date, PaymentMethod, ProviderKind, Role};

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Practice {
    pub id: String,
    pub name: String,
    /// IANA time zone, e.g. `America/New_York`.
    pub timezone: String,
    /// ISO 4217 currency code of every amount in this practice.
    pub currency: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Provider {
    pub id: String,
    pub practice_id: String,
    pub name: String,
    pub kind: ProviderKind,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Patient {
    pub id: String,
    pub practice_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<Date>,
    /// Charges minus payments, in cents.
    pub balance_cents: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Appointment {
    pub id: String,
    pub practice_id: String,
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

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Charge {
    pub id: String,
    pub practice_id: String,
    pub patient_id: String,
    pub amount_cents: i64,
    pub description: String,
    pub appointment_id: Option<String>,
    pub posted_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: String,
    pub practice_id: String,
    pub patient_id: String,
    pub amount_cents: i64,
    pub method: PaymentMethod,
    pub reference: Option<String>,
    pub posted_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// The practice the key is scoped to; null for a global ADMIN key.
    pub practice_id: Option<String>,
    /// The first characters of the key, to recognise it (the key itself is not stored).
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A new key: the plaintext `key` is returned here once and never again.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    pub key: String,
    pub api_key: ApiKey,
}
