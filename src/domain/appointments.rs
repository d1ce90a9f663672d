//! Appointments: scheduling with no double booking, rescheduling, cancelling, completing.
//! A patient may cancel their own appointments that have not started, saying why.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
};
use serde::{Serialize, de::DeserializeOwned};
use std::sync::Arc;

use super::appointment_reads::snapshot;
pub use super::appointment_reads::{ListFilter, get, list, load, view};
use super::{Begun, MutationTx, Services, new_id, patients, providers, validate};
use crate::auth::Principal;
use crate::clock::to_millis;
use crate::db::entities::appointment;
use crate::error::{AppError, AppResult};
use crate::events::Payload;
use crate::vocab::{Appointment, AppointmentStatus, EventType};

const MAX_REASON: usize = 500;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleAppointmentInput {
    pub patient_id: String,
    pub provider_id: String,
    pub starts_at: DateTime<Utc>,
    pub duration_minutes: i32,
    pub reason: Option<String>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RescheduleAppointmentInput {
    pub id: String,
    pub starts_at: DateTime<Utc>,
    /// Keeps the current duration when omitted.
    pub duration_minutes: Option<i32>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelAppointmentInput {
    pub id: String,
    pub reason: Option<String>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CompleteAppointmentInput {
    pub id: String,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

/// CONFLICT if the provider already has a SCHEDULED appointment overlapping [start, end).
async fn ensure_free(
    conn: &impl ConnectionTrait,
    provider_id: &str,
    start: i64,
    end: i64,
    except: Option<&str>,
) -> AppResult<()> {
    let mut query = appointment::Entity::find()
        .filter(appointment::Column::ProviderId.eq(provider_id))
        .filter(appointment::Column::Status.eq(AppointmentStatus::Scheduled.as_str()))
        .filter(appointment::Column::StartsAt.lt(end))
        .filter(appointment::Column::EndsAt.gt(start));
    if let Some(id) = except {
        query = query.filter(appointment::Column::Id.ne(id));
    }
    if query.one(conn).await?.is_some() {
        return Err(AppError::conflict("the provider already has an appointment at that time"));
    }
    Ok(())
}

#[tracing::instrument(skip_all)]
pub async fn schedule(s: &Services, who: &Principal, input: ScheduleAppointmentInput) -> AppResult<Appointment> {
    who.require_writer()?;
    let duration = validate::duration_minutes(input.duration_minutes)?;
    let starts_at = validate::starts_at(input.starts_at, s.clock.now())?;
    let reason = validate::optional_text("reason", input.reason.as_deref(), MAX_REASON)?;
    let practice_id = patients::practice_of(s, who, &input.patient_id).await?;
    if providers::practice_of(s, who, &input.provider_id).await? != practice_id {
        return Err(AppError::bad_input("providerId: the provider belongs to another practice than the patient"));
    }
    let key = input.idempotency_key.as_deref();
    let mut tx = match MutationTx::begin_in(s, &practice_id, who, "scheduleAppointment", key, &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    let patient = patients::load(tx.conn(), who, &input.patient_id).await?;
    let provider = providers::load(tx.conn(), who, &input.provider_id).await?;
    let start = to_millis(starts_at);
    let end = start + i64::from(duration) * 60_000;
    ensure_free(tx.conn(), &provider.id, start, end, None).await?;
    let now = tx.now_ms();
    let remind_at = s.reminders.remind_at(start, now);
    let row = appointment::ActiveModel {
        id: Set(new_id("apt")),
        practice_id: Set(patient.practice_id.clone()),
        patient_id: Set(patient.id.clone()),
        provider_id: Set(provider.id.clone()),
        starts_at: Set(start),
        ends_at: Set(end),
        status: Set(AppointmentStatus::Scheduled.as_str().to_string()),
        reason: Set(reason),
        cancellation_reason: Set(None),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        remind_at: Set(remind_at),
        reminded_at: Set(None),
    }
    .insert(tx.conn())
    .await?;
    let appointment = view(row, patient, provider);
    tx.append(EventType::AppointmentScheduled, Payload::Appointment { appointment: Arc::new(appointment.clone()) })?;
    let appointment = tx.commit(appointment).await?;
    s.owners.remember(&appointment.id, &appointment.practice_id);
    s.reminders.armed(remind_at);
    Ok(appointment)
}

/// Starts a change of an appointment in its practice's writer.
async fn begin_change<'a, T: DeserializeOwned>(
    s: &'a Services,
    who: &Principal,
    id: &str,
    operation: &'static str,
    key: Option<&str>,
    request: &impl Serialize,
) -> AppResult<Begun<'a, T>> {
    let practice_id = practice_of(s, who, id).await?;
    MutationTx::begin_in(s, &practice_id, who, operation, key, request).await
}

/// Loads a SCHEDULED appointment for a change, in the practice's writer. A patient (who
/// gets this far only to cancel) changes only their own, and only before it starts.
async fn load_for_change(tx: &MutationTx<'_>, who: &Principal, id: &str) -> AppResult<appointment::Model> {
    let current = load(tx.conn(), who, id).await?;
    who.write_own(&current.practice_id, &current.patient_id, "appointment")?;
    if current.status != AppointmentStatus::Scheduled.as_str() {
        return Err(AppError::conflict(format!("the appointment is {} and can no longer change", current.status)));
    }
    if who.patient_id().is_some() && current.starts_at <= tx.now_ms() {
        return Err(AppError::bad_input("id: the appointment has started; only the practice can change it now"));
    }
    Ok(current)
}

#[tracing::instrument(skip_all)]
pub async fn reschedule(s: &Services, who: &Principal, input: RescheduleAppointmentInput) -> AppResult<Appointment> {
    who.require_writer()?;
    let starts_at = validate::starts_at(input.starts_at, s.clock.now())?;
    let duration = input.duration_minutes.map(validate::duration_minutes).transpose()?;
    let key = input.idempotency_key.as_deref();
    let mut tx = match begin_change(s, who, &input.id, "rescheduleAppointment", key, &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    let current = load_for_change(&tx, who, &input.id).await?;
    let start = to_millis(starts_at);
    let end = start + duration.map_or(current.ends_at - current.starts_at, |d| i64::from(d) * 60_000);
    ensure_free(tx.conn(), &current.provider_id, start, end, Some(&current.id)).await?;
    let version = current.version + 1;
    // A new start time re-arms the reminder, even if the old one was already sent.
    let remind_at = (start != current.starts_at).then(|| s.reminders.remind_at(start, tx.now_ms()));
    let mut active = current.into_active_model();
    if let Some(remind_at) = remind_at {
        active.remind_at = Set(remind_at);
        active.reminded_at = Set(None);
    }
    active.starts_at = Set(start);
    active.ends_at = Set(end);
    active.version = Set(version);
    active.updated_at = Set(tx.now_ms());
    let row = active.update(tx.conn()).await?;
    let appointment = snapshot(tx.conn(), row).await?;
    tx.append(EventType::AppointmentRescheduled, Payload::Appointment { appointment: Arc::new(appointment.clone()) })?;
    let appointment = tx.commit(appointment).await?;
    s.reminders.armed(remind_at.flatten());
    Ok(appointment)
}

#[tracing::instrument(skip_all)]
pub async fn cancel(s: &Services, who: &Principal, input: CancelAppointmentInput) -> AppResult<Appointment> {
    let reason = validate::optional_text("reason", input.reason.as_deref(), MAX_REASON)?;
    match who.patient_id() {
        // The practice needs to know why a patient cancels (a writer may leave it out).
        Some(_) if reason.is_none() => return Err(AppError::bad_input("reason: required when a patient cancels")),
        Some(_) => {}
        None => who.require_writer()?,
    }
    let key = input.idempotency_key.as_deref();
    let tx = match begin_change(s, who, &input.id, "cancelAppointment", key, &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    finish(tx, who, &input.id, AppointmentStatus::Cancelled, reason, EventType::AppointmentCancelled).await
}

#[tracing::instrument(skip_all)]
pub async fn complete(s: &Services, who: &Principal, input: CompleteAppointmentInput) -> AppResult<Appointment> {
    who.require_writer()?;
    let key = input.idempotency_key.as_deref();
    let tx = match begin_change(s, who, &input.id, "completeAppointment", key, &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    finish(tx, who, &input.id, AppointmentStatus::Completed, None, EventType::AppointmentCompleted).await
}

/// Moves a SCHEDULED appointment to a final status.
async fn finish(
    mut tx: MutationTx<'_>,
    who: &Principal,
    id: &str,
    status: AppointmentStatus,
    cancellation_reason: Option<String>,
    event_type: EventType,
) -> AppResult<Appointment> {
    let current = load_for_change(&tx, who, id).await?;
    let version = current.version + 1;
    let mut active = current.into_active_model();
    active.status = Set(status.as_str().to_string());
    active.cancellation_reason = Set(cancellation_reason);
    active.remind_at = Set(None);
    active.version = Set(version);
    active.updated_at = Set(tx.now_ms());
    let row = active.update(tx.conn()).await?;
    let appointment = snapshot(tx.conn(), row).await?;
    tx.append(event_type, Payload::Appointment { appointment: Arc::new(appointment.clone()) })?;
    tx.commit(appointment).await
}

/// The practice of a appointment the caller may see (cached: a appointment never changes practice).
pub async fn practice_of(s: &Services, who: &Principal, id: &str) -> AppResult<String> {
    s.owners
        .practice_of::<appointment::Entity>(&s.db, who, ("id", "appointment"), id, appointment::Column::PracticeId)
        .await
}
