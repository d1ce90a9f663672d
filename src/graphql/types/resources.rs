//! Providers, patients, appointments, charges, payments and API keys as the schema shows
//! them: resolvers over the domain's records (`crate::vocab`), which they borrow, so an
//! event's snapshot is resolved in place.

use async_graphql::{ID, Object};
use chrono::{DateTime, Utc};

use super::{ApiKey, Appointment, AppointmentStatus, Charge, CreatedApiKey, Date, Patient, Payment, PaymentMethod};
use super::{Provider, ProviderKind, Role};

#[Object(name = "Provider")]
impl Provider {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn practice_id(&self) -> ID {
        ID(self.practice_id.clone())
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn kind(&self) -> ProviderKind {
        self.kind.into()
    }
}

#[Object(name = "Patient")]
impl Patient {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn practice_id(&self) -> ID {
        ID(self.practice_id.clone())
    }
    async fn first_name(&self) -> &str {
        &self.first_name
    }
    async fn last_name(&self) -> &str {
        &self.last_name
    }
    async fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }
    async fn phone(&self) -> Option<&str> {
        self.phone.as_deref()
    }
    async fn date_of_birth(&self) -> Option<Date> {
        self.date_of_birth
    }
    /// Charges minus payments, in cents.
    async fn balance_cents(&self) -> i64 {
        self.balance_cents
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
}

#[Object(name = "Appointment")]
impl Appointment {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn practice_id(&self) -> ID {
        ID(self.practice_id.clone())
    }
    async fn patient(&self) -> &Patient {
        &self.patient
    }
    async fn provider(&self) -> &Provider {
        &self.provider
    }
    async fn starts_at(&self) -> DateTime<Utc> {
        self.starts_at
    }
    async fn ends_at(&self) -> DateTime<Utc> {
        self.ends_at
    }
    async fn duration_minutes(&self) -> i32 {
        self.duration_minutes
    }
    async fn status(&self) -> AppointmentStatus {
        self.status.into()
    }
    async fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
    async fn cancellation_reason(&self) -> Option<&str> {
        self.cancellation_reason.as_deref()
    }
    /// Increases by one with every change to the appointment.
    async fn version(&self) -> i32 {
        self.version
    }
}

#[Object(name = "Charge")]
impl Charge {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn practice_id(&self) -> ID {
        ID(self.practice_id.clone())
    }
    async fn patient_id(&self) -> ID {
        ID(self.patient_id.clone())
    }
    async fn amount_cents(&self) -> i64 {
        self.amount_cents
    }
    async fn description(&self) -> &str {
        &self.description
    }
    async fn appointment_id(&self) -> Option<ID> {
        self.appointment_id.clone().map(ID)
    }
    async fn posted_at(&self) -> DateTime<Utc> {
        self.posted_at
    }
}

#[Object(name = "Payment")]
impl Payment {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn practice_id(&self) -> ID {
        ID(self.practice_id.clone())
    }
    async fn patient_id(&self) -> ID {
        ID(self.patient_id.clone())
    }
    async fn amount_cents(&self) -> i64 {
        self.amount_cents
    }
    async fn method(&self) -> PaymentMethod {
        self.method.into()
    }
    async fn reference(&self) -> Option<&str> {
        self.reference.as_deref()
    }
    async fn posted_at(&self) -> DateTime<Utc> {
        self.posted_at
    }
}

#[Object(name = "ApiKey")]
impl ApiKey {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn name(&self) -> &str {
        &self.name
    }
    async fn role(&self) -> Role {
        self.role.into()
    }
    /// The practice the key is scoped to; null for a global ADMIN key.
    async fn practice_id(&self) -> Option<ID> {
        self.practice_id.clone().map(ID)
    }
    /// The first characters of the key, to recognise it (the key itself is not stored).
    async fn prefix(&self) -> &str {
        &self.prefix
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.revoked_at
    }
}

/// A new key: the plaintext `key` is returned here once and never again.
#[Object(name = "CreatedApiKey")]
impl CreatedApiKey {
    async fn key(&self) -> &str {
        &self.key
    }
    async fn api_key(&self) -> &ApiKey {
        &self.api_key
    }
}
