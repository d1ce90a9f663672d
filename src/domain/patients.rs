//! Patients: created and updated by the back office, each change an event in the log;
//! a patient reads their own record only.

use sea_orm::sea_query::LikeExpr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait,
};
use serde::Serialize;
use std::sync::Arc;

use super::{Begun, MutationTx, Services, new_id, paging, validate};
use crate::auth::Principal;
use crate::clock::from_millis;
use crate::db::entities::{patient, practice};
use crate::error::{AppError, AppResult};
use crate::events::Payload;
use crate::vocab::{Date, EventType, Patient};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePatientInput {
    pub practice_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<Date>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

/// Omitted fields stay as they are; `null` clears an optional field.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePatientInput {
    pub id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phone: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_of_birth: Option<Option<Date>>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

pub fn view(row: patient::Model) -> Patient {
    Patient {
        id: row.id,
        practice_id: row.practice_id,
        first_name: row.first_name,
        last_name: row.last_name,
        email: row.email,
        phone: row.phone,
        date_of_birth: row.date_of_birth.and_then(|d| d.parse().ok()).map(Date),
        balance_cents: row.balance_cents,
        created_at: from_millis(row.created_at),
    }
}

/// What `patients(search:)` matches against: names and email, lower-cased.
fn search_text(first: &str, last: &str, email: Option<&str>) -> String {
    format!("{first} {last} {}", email.unwrap_or_default()).to_lowercase()
}

#[tracing::instrument(skip_all)]
pub async fn create(s: &Services, who: &Principal, input: CreatePatientInput) -> AppResult<Patient> {
    let practice_id = validate::id("practiceId", &input.practice_id)?.to_string();
    who.write(&practice_id, "practice")?;
    let first_name = validate::name("firstName", &input.first_name)?;
    let last_name = validate::name("lastName", &input.last_name)?;
    let email = validate::email(input.email.as_deref())?;
    let phone = validate::phone(input.phone.as_deref())?;
    let dob = validate::date_of_birth(input.date_of_birth.map(|d| d.0), s.clock.now().date_naive())?;
    let key = input.idempotency_key.as_deref();
    let mut tx = match MutationTx::begin_in(s, &practice_id, who, "createPatient", key, &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    let now = tx.now_ms();
    let row = patient::ActiveModel {
        id: Set(new_id("pat")),
        practice_id: Set(practice_id),
        search_text: Set(search_text(&first_name, &last_name, email.as_deref())),
        first_name: Set(first_name),
        last_name: Set(last_name),
        email: Set(email),
        phone: Set(phone),
        date_of_birth: Set(dob.map(|d| d.to_string())),
        balance_cents: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(tx.conn())
    .await?;
    let patient = view(row);
    tx.append(EventType::PatientCreated, Payload::Patient { patient: Arc::new(patient.clone()) })?;
    let patient = tx.commit(patient).await?;
    s.owners.remember(&patient.id, &patient.practice_id);
    Ok(patient)
}

#[tracing::instrument(skip_all)]
pub async fn update(s: &Services, who: &Principal, input: UpdatePatientInput) -> AppResult<Patient> {
    who.require_writer()?;
    let first_name = input.first_name.as_deref().map(|v| validate::name("firstName", v)).transpose()?;
    let last_name = input.last_name.as_deref().map(|v| validate::name("lastName", v)).transpose()?;
    // `None`: omitted, stays as it is; `Some(None)`: null, cleared.
    let email = match &input.email {
        Some(Some(v)) => Some(validate::email(Some(v))?),
        Some(None) => Some(None),
        None => None,
    };
    let phone = match &input.phone {
        Some(Some(v)) => Some(validate::phone(Some(v))?),
        Some(None) => Some(None),
        None => None,
    };
    if let Some(Some(d)) = &input.date_of_birth {
        validate::date_of_birth(Some(d.0), s.clock.now().date_naive())?;
    }
    let practice_id = practice_of(s, who, &input.id).await?;
    let key = input.idempotency_key.as_deref();
    let mut tx = match MutationTx::begin_in(s, &practice_id, who, "updatePatient", key, &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    // Read in the practice's writer: a concurrent balance change must not be overwritten.
    let current = load(tx.conn(), who, &input.id).await?;
    let first = first_name.unwrap_or_else(|| current.first_name.clone());
    let last = last_name.unwrap_or_else(|| current.last_name.clone());
    let email = email.unwrap_or_else(|| current.email.clone());
    let phone = phone.unwrap_or_else(|| current.phone.clone());
    let dob = match &input.date_of_birth {
        Some(d) => d.map(|d| d.0.to_string()),
        None => current.date_of_birth.clone(),
    };
    let mut active = current.into_active_model();
    active.search_text = Set(search_text(&first, &last, email.as_deref()));
    active.first_name = Set(first);
    active.last_name = Set(last);
    active.email = Set(email);
    active.phone = Set(phone);
    active.date_of_birth = Set(dob);
    active.updated_at = Set(tx.now_ms());
    let row = active.update(tx.conn()).await?;
    let patient = view(row);
    tx.append(EventType::PatientUpdated, Payload::Patient { patient: Arc::new(patient.clone()) })?;
    tx.commit(patient).await
}

/// The practice of a patient the caller may see (cached: a patient never changes practice).
pub async fn practice_of(s: &Services, who: &Principal, id: &str) -> AppResult<String> {
    s.owners.practice_of::<patient::Entity>(&s.db, who, ("patientId", "patient"), id, patient::Column::PracticeId).await
}

/// Loads a patient the caller may see: another practice's, or for a patient anyone but
/// themselves, is NOT_FOUND.
pub async fn load(conn: &impl ConnectionTrait, who: &Principal, id: &str) -> AppResult<patient::Model> {
    let id = validate::id("patientId", id)?;
    let row = patient::Entity::find_by_id(id).one(conn).await?.ok_or(AppError::NotFound("patient"))?;
    who.read_patient(&row.practice_id, &row.id, "patient")?;
    Ok(row)
}

pub async fn get(s: &Services, who: &Principal, id: &str) -> AppResult<Patient> {
    load(&s.db, who, id).await.map(view)
}

pub async fn list(
    s: &Services,
    who: &Principal,
    practice_id: &str,
    search: Option<&str>,
    first: Option<i32>,
    after: Option<&str>,
) -> AppResult<paging::Page<Patient>> {
    let practice_id = validate::id("practiceId", practice_id)?;
    who.read(practice_id, "practice")?;
    let limit = validate::page_size(first)?;
    practice::Entity::find_by_id(practice_id).one(&s.db).await?.ok_or(AppError::NotFound("practice"))?;
    // A patient's list holds themselves only.
    let mut query = patient::Entity::find()
        .filter(patient::Column::PracticeId.eq(practice_id))
        .apply_if(who.patient_id(), |q, own| q.filter(patient::Column::Id.eq(own)))
        .order_by_asc(patient::Column::Id);
    if let Some(search) = search.map(str::trim).filter(|s| !s.is_empty()) {
        let search = validate::text("search", search, validate::MAX_NAME)?.to_lowercase();
        let escaped = search.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        query = query.filter(patient::Column::SearchText.like(LikeExpr::new(format!("%{escaped}%")).escape('\\')));
    }
    if let Some(after) = after {
        query = query.filter(patient::Column::Id.gt(paging::decode(after)?));
    }
    let rows = query.limit(limit + 1).all(&s.db).await?;
    Ok(paging::Page::from_rows(rows, limit, after.is_some(), |r| (paging::encode(&r.id), view(r))))
}
