//! Charges and payments: each moves the patient's balance in the same transaction as
//! its event, so the snapshot in the log carries the balance after it.

use async_graphql::{ID, InputObject};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use std::sync::Arc;

use super::{Begun, MutationTx, Services, appointments, new_id, paging, patients, validate};
use crate::auth::Principal;
use crate::clock::from_millis;
use crate::db::entities::{charge, patient, payment};
use crate::error::{AppError, AppResult};
use crate::events::Payload;
use crate::vocab::{Charge, EventType, Payment, PaymentMethod};

const MAX_DESCRIPTION: usize = 500;
const MAX_REFERENCE: usize = 200;

#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostChargeInput {
    pub patient_id: ID,
    /// Positive, in cents of the practice's currency.
    pub amount_cents: i64,
    pub description: String,
    pub appointment_id: Option<ID>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

#[derive(InputObject, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostPaymentInput {
    pub patient_id: ID,
    /// Positive, in cents of the practice's currency.
    pub amount_cents: i64,
    pub method: PaymentMethod,
    pub reference: Option<String>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

pub fn charge_view(row: charge::Model) -> Charge {
    Charge {
        id: ID(row.id),
        practice_id: ID(row.practice_id),
        patient_id: ID(row.patient_id),
        amount_cents: row.amount_cents,
        description: row.description,
        appointment_id: row.appointment_id.map(ID),
        posted_at: from_millis(row.posted_at),
    }
}

pub fn payment_view(row: payment::Model) -> Payment {
    Payment {
        id: ID(row.id),
        practice_id: ID(row.practice_id),
        patient_id: ID(row.patient_id),
        amount_cents: row.amount_cents,
        method: PaymentMethod::parse(&row.method).unwrap_or(PaymentMethod::Cash),
        reference: row.reference,
        posted_at: from_millis(row.posted_at),
    }
}

/// Adds `delta` to the patient's balance and returns the row as updated, in one statement
/// (inside the practice's batch, so every round trip here is one the batch waits on).
async fn move_balance(tx: &MutationTx<'_>, patient_id: &str, delta: i64) -> AppResult<patient::Model> {
    patient::Entity::update_many()
        .col_expr(patient::Column::BalanceCents, Expr::col(patient::Column::BalanceCents).add(delta))
        .col_expr(patient::Column::UpdatedAt, Expr::value(tx.now_ms()))
        .filter(patient::Column::Id.eq(patient_id))
        .exec_with_returning(tx.conn())
        .await?
        .pop()
        .ok_or(AppError::NotFound("patient"))
}

#[tracing::instrument(skip_all)]
pub async fn post_charge(s: &Services, who: &Principal, input: PostChargeInput) -> AppResult<Charge> {
    who.require_writer()?;
    let amount = validate::amount_cents(input.amount_cents)?;
    let description = validate::name("description", &input.description)?;
    validate::text("description", &description, MAX_DESCRIPTION)?;
    let practice_id = patients::practice_of(s, who, &input.patient_id).await?;
    let key = input.idempotency_key.as_deref();
    let mut tx = match MutationTx::begin_in(s, &practice_id, who, "postCharge", key, &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    if let Some(appointment_id) = &input.appointment_id {
        let appointment = appointments::load(tx.conn(), who, appointment_id).await?;
        if appointment.patient_id != input.patient_id.as_str() {
            return Err(AppError::bad_input("appointmentId: the appointment belongs to another patient"));
        }
    }
    let row = charge::ActiveModel {
        id: Set(new_id("chg")),
        practice_id: Set(practice_id),
        patient_id: Set(input.patient_id.to_string()),
        appointment_id: Set(input.appointment_id.as_ref().map(|a| a.to_string())),
        amount_cents: Set(amount),
        description: Set(description),
        posted_at: Set(tx.now_ms()),
    }
    .insert(tx.conn())
    .await?;
    let patient = move_balance(&tx, &input.patient_id, amount).await?;
    let charge = charge_view(row);
    let payload = Payload::Charge { charge: Arc::new(charge.clone()), patient: Arc::new(patients::view(patient)) };
    tx.append(EventType::ChargePosted, payload)?;
    tx.commit(charge).await
}

#[tracing::instrument(skip_all)]
pub async fn post_payment(s: &Services, who: &Principal, input: PostPaymentInput) -> AppResult<Payment> {
    who.require_writer()?;
    let amount = validate::amount_cents(input.amount_cents)?;
    let reference = validate::optional_text("reference", input.reference.as_deref(), MAX_REFERENCE)?;
    let practice_id = patients::practice_of(s, who, &input.patient_id).await?;
    let key = input.idempotency_key.as_deref();
    let mut tx = match MutationTx::begin_in(s, &practice_id, who, "postPayment", key, &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    let row = payment::ActiveModel {
        id: Set(new_id("pay")),
        practice_id: Set(practice_id),
        patient_id: Set(input.patient_id.to_string()),
        amount_cents: Set(amount),
        method: Set(input.method.as_str().to_string()),
        reference: Set(reference),
        posted_at: Set(tx.now_ms()),
    }
    .insert(tx.conn())
    .await?;
    let patient = move_balance(&tx, &input.patient_id, -amount).await?;
    let payment = payment_view(row);
    let payload = Payload::Payment { payment: Arc::new(payment.clone()), patient: Arc::new(patients::view(patient)) };
    tx.append(EventType::PaymentPosted, payload)?;
    tx.commit(payment).await
}

pub async fn payments(
    s: &Services,
    who: &Principal,
    patient_id: &str,
    first: Option<i32>,
    after: Option<&str>,
) -> AppResult<paging::Page<Payment>> {
    let limit = validate::page_size(first)?;
    let patient = patients::load(&s.db, who, patient_id).await?;
    let mut query =
        payment::Entity::find().filter(payment::Column::PatientId.eq(patient.id)).order_by_asc(payment::Column::Id);
    if let Some(after) = after {
        query = query.filter(payment::Column::Id.gt(paging::decode(after)?));
    }
    let rows = query.limit(limit + 1).all(&s.db).await?;
    Ok(paging::Page::from_rows(rows, limit, after.is_some(), |r| (paging::encode(&r.id), payment_view(r))))
}
