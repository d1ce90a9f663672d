//! Scheduling, rescheduling, cancelling and completing appointments.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use crate::domain::appointments;
use crate::graphql::context::{caller, touched};
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::Appointment;

#[derive(InputObject)]
pub struct ScheduleAppointmentInput {
    pub patient_id: ID,
    pub provider_id: ID,
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i32,
    pub reason: Option<String>,
    pub idempotency_key: Option<String>,
}

impl From<ScheduleAppointmentInput> for appointments::ScheduleAppointmentInput {
    fn from(input: ScheduleAppointmentInput) -> Self {
        Self {
            patient_id: input.patient_id.0,
            provider_id: input.provider_id.0,
            starts_at: input.starts_at,
            duration_minutes: input.duration_minutes,
            reason: input.reason,
            idempotency_key: input.idempotency_key,
        }
    }
}

#[derive(InputObject)]
pub struct RescheduleAppointmentInput {
    pub id: ID,
    pub starts_at: DateTime<Utc>,
    /// Keeps the current duration when omitted.
    pub duration_minutes: Option<i32>,
    pub idempotency_key: Option<String>,
}

impl From<RescheduleAppointmentInput> for appointments::RescheduleAppointmentInput {
    fn from(input: RescheduleAppointmentInput) -> Self {
        Self {
            id: input.id.0,
            starts_at: input.starts_at,
            duration_minutes: input.duration_minutes,
            idempotency_key: input.idempotency_key,
        }
    }
}

#[derive(InputObject)]
pub struct CancelAppointmentInput {
    pub id: ID,
    pub reason: Option<String>,
    pub idempotency_key: Option<String>,
}

impl From<CancelAppointmentInput> for appointments::CancelAppointmentInput {
    fn from(input: CancelAppointmentInput) -> Self {
        Self { id: input.id.0, reason: input.reason, idempotency_key: input.idempotency_key }
    }
}

#[derive(InputObject)]
pub struct CompleteAppointmentInput {
    pub id: ID,
    pub idempotency_key: Option<String>,
}

impl From<CompleteAppointmentInput> for appointments::CompleteAppointmentInput {
    fn from(input: CompleteAppointmentInput) -> Self {
        Self { id: input.id.0, idempotency_key: input.idempotency_key }
    }
}

#[derive(Default)]
pub struct AppointmentMutation;

#[Object]
impl AppointmentMutation {
    /// Appends APPOINTMENT_SCHEDULED; CONFLICT if the provider is already booked then.
    async fn schedule_appointment(&self, ctx: &Context<'_>, input: ScheduleAppointmentInput) -> GqlResult<Appointment> {
        let (s, who) = caller(ctx)?;
        appointments::schedule(s, who, input.into()).await.map(|a| touched(ctx, a)).gql()
    }

    /// Appends APPOINTMENT_RESCHEDULED.
    async fn reschedule_appointment(
        &self,
        ctx: &Context<'_>,
        input: RescheduleAppointmentInput,
    ) -> GqlResult<Appointment> {
        let (s, who) = caller(ctx)?;
        appointments::reschedule(s, who, input.into()).await.map(|a| touched(ctx, a)).gql()
    }

    /// Appends APPOINTMENT_CANCELLED.
    async fn cancel_appointment(&self, ctx: &Context<'_>, input: CancelAppointmentInput) -> GqlResult<Appointment> {
        let (s, who) = caller(ctx)?;
        appointments::cancel(s, who, input.into()).await.map(|a| touched(ctx, a)).gql()
    }

    /// Appends APPOINTMENT_COMPLETED.
    async fn complete_appointment(&self, ctx: &Context<'_>, input: CompleteAppointmentInput) -> GqlResult<Appointment> {
        let (s, who) = caller(ctx)?;
        appointments::complete(s, who, input.into()).await.map(|a| touched(ctx, a)).gql()
    }
}
