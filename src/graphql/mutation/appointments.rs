//! Scheduling, rescheduling, cancelling and completing appointments.

use async_graphql::{Context, Object};

use crate::domain::appointments::{
    self, CancelAppointmentInput, CompleteAppointmentInput, RescheduleAppointmentInput, ScheduleAppointmentInput,
};
use crate::graphql::context::{caller, touched};
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::Appointment;

#[derive(Default)]
pub struct AppointmentMutation;

#[Object]
impl AppointmentMutation {
    /// Appends APPOINTMENT_SCHEDULED; CONFLICT if the provider is already booked then.
    async fn schedule_appointment(&self, ctx: &Context<'_>, input: ScheduleAppointmentInput) -> GqlResult<Appointment> {
        let (s, who) = caller(ctx)?;
        appointments::schedule(s, who, input).await.map(|a| touched(ctx, a)).gql()
    }

    /// Appends APPOINTMENT_RESCHEDULED.
    async fn reschedule_appointment(
        &self,
        ctx: &Context<'_>,
        input: RescheduleAppointmentInput,
    ) -> GqlResult<Appointment> {
        let (s, who) = caller(ctx)?;
        appointments::reschedule(s, who, input).await.map(|a| touched(ctx, a)).gql()
    }

    /// Appends APPOINTMENT_CANCELLED.
    async fn cancel_appointment(&self, ctx: &Context<'_>, input: CancelAppointmentInput) -> GqlResult<Appointment> {
        let (s, who) = caller(ctx)?;
        appointments::cancel(s, who, input).await.map(|a| touched(ctx, a)).gql()
    }

    /// Appends APPOINTMENT_COMPLETED.
    async fn complete_appointment(&self, ctx: &Context<'_>, input: CompleteAppointmentInput) -> GqlResult<Appointment> {
        let (s, who) = caller(ctx)?;
        appointments::complete(s, who, input).await.map(|a| touched(ctx, a)).gql()
    }
}
