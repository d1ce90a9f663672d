//! Reading appointments: one by id, or a practice's by start time — each only as the
//! caller may see it (a patient sees their own appointments and no one else's).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Condition;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
use std::collections::HashMap;

use super::{Services, paging, patients, providers, validate};
use crate::auth::Principal;
use crate::clock::{from_millis, to_millis};
use crate::db::entities::{appointment, patient, practice, provider};
use crate::error::{AppError, AppResult};
use crate::vocab::{Appointment, AppointmentStatus};

/// The patients and providers of some appointments, by id: two queries for all of them.
pub(super) struct Parties {
    pub patients: HashMap<String, patient::Model>,
    pub providers: HashMap<String, provider::Model>,
}

impl Parties {
    pub async fn of(db: &impl ConnectionTrait, rows: &[appointment::Model]) -> AppResult<Self> {
        let patient_ids: Vec<&str> = rows.iter().map(|r| r.patient_id.as_str()).collect();
        let provider_ids: Vec<&str> = rows.iter().map(|r| r.provider_id.as_str()).collect();
        let patients = patient::Entity::find().filter(patient::Column::Id.is_in(patient_ids)).all(db).await?;
        let providers = provider::Entity::find().filter(provider::Column::Id.is_in(provider_ids)).all(db).await?;
        Ok(Self {
            patients: patients.into_iter().map(|p| (p.id.clone(), p)).collect(),
            providers: providers.into_iter().map(|p| (p.id.clone(), p)).collect(),
        })
    }
}

pub fn view(row: appointment::Model, patient: patient::Model, provider: provider::Model) -> Appointment {
    Appointment {
        id: row.id,
        practice_id: row.practice_id,
        patient: patients::view(patient),
        provider: providers::view(provider),
        starts_at: from_millis(row.starts_at),
        ends_at: from_millis(row.ends_at),
        duration_minutes: ((row.ends_at - row.starts_at) / 60_000) as i32,
        status: AppointmentStatus::parse(&row.status).unwrap_or(AppointmentStatus::Scheduled),
        reason: row.reason,
        cancellation_reason: row.cancellation_reason,
        version: row.version,
    }
}

pub(super) async fn snapshot(conn: &impl ConnectionTrait, row: appointment::Model) -> AppResult<Appointment> {
    let patient = patient::Entity::find_by_id(&row.patient_id).one(conn).await?.ok_or(AppError::NotFound("patient"))?;
    let provider =
        provider::Entity::find_by_id(&row.provider_id).one(conn).await?.ok_or(AppError::NotFound("provider"))?;
    Ok(view(row, patient, provider))
}

/// Loads an appointment the caller may see: another practice's, or for a patient another
/// patient's, is NOT_FOUND.
pub async fn load(conn: &impl ConnectionTrait, who: &Principal, id: &str) -> AppResult<appointment::Model> {
    let id = validate::id("id", id)?;
    let row = appointment::Entity::find_by_id(id).one(conn).await?.ok_or(AppError::NotFound("appointment"))?;
    who.read_patient(&row.practice_id, &row.patient_id, "appointment")?;
    Ok(row)
}

pub async fn get(s: &Services, who: &Principal, id: &str) -> AppResult<Appointment> {
    let row = load(&s.db, who, id).await?;
    snapshot(&s.db, row).await
}

pub struct ListFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub provider_id: Option<String>,
    pub status: Option<AppointmentStatus>,
}

/// A practice's appointments by start time; a patient's list holds their own only.
pub async fn list(
    s: &Services,
    who: &Principal,
    practice_id: &str,
    filter: ListFilter,
    first: Option<i32>,
    after: Option<&str>,
) -> AppResult<paging::Page<Appointment>> {
    let practice_id = validate::id("practiceId", practice_id)?;
    who.read(practice_id, "practice")?;
    let limit = validate::page_size(first)?;
    if let (Some(from), Some(to)) = (filter.from, filter.to) {
        validate::range(from, to)?;
    }
    practice::Entity::find_by_id(practice_id).one(&s.db).await?.ok_or(AppError::NotFound("practice"))?;
    let mut query = appointment::Entity::find()
        .filter(appointment::Column::PracticeId.eq(practice_id))
        .apply_if(who.patient_id(), |q, own| q.filter(appointment::Column::PatientId.eq(own)))
        .order_by_asc(appointment::Column::StartsAt)
        .order_by_asc(appointment::Column::Id);
    if let Some(from) = filter.from {
        query = query.filter(appointment::Column::StartsAt.gte(to_millis(from)));
    }
    if let Some(to) = filter.to {
        query = query.filter(appointment::Column::StartsAt.lt(to_millis(to)));
    }
    if let Some(provider_id) = &filter.provider_id {
        query = query.filter(appointment::Column::ProviderId.eq(validate::id("providerId", provider_id)?));
    }
    if let Some(status) = filter.status {
        query = query.filter(appointment::Column::Status.eq(status.as_str()));
    }
    if let Some(after) = after {
        let (starts_at, id) = paging::decode_pair(after)?;
        query = query.filter(Condition::any().add(appointment::Column::StartsAt.gt(starts_at)).add(
            Condition::all().add(appointment::Column::StartsAt.eq(starts_at)).add(appointment::Column::Id.gt(id)),
        ));
    }
    let rows = query.limit(limit + 1).all(&s.db).await?;
    let Parties { patients, providers } = Parties::of(&s.db, &rows).await?;
    let mut complete_rows = Vec::with_capacity(rows.len());
    for row in rows {
        let patient = patients.get(&row.patient_id).cloned().ok_or(AppError::NotFound("patient"))?;
        let provider = providers.get(&row.provider_id).cloned().ok_or(AppError::NotFound("provider"))?;
        complete_rows.push((row, patient, provider));
    }
    Ok(paging::Page::from_rows(complete_rows, limit, after.is_some(), |(row, patient, provider)| {
        (paging::encode(&format!("{}:{}", row.starts_at, row.id)), view(row, patient, provider))
    }))
}
