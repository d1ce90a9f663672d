//! Charges and payments: each moves the patient's balance in the same transaction as
//! its event, so the snapshot in the log carries the balance after it.

use sea_orm::sea_query::{Expr, ExprTrait, PostgresQueryBuilder, Values};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, Insert, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Statement,
};
use serde::Serialize;
use std::sync::Arc;

use super::{Begun, MutationTx, Services, appointments, new_id, paging, patients, validate};
use crate::auth::Principal;
use crate::clock::from_millis;
use crate::db::bind;
use crate::db::entities::{charge, patient, payment};
use crate::error::{AppError, AppResult};
use crate::events::Payload;
use crate::vocab::{Charge, EventType, Payment, PaymentMethod};

const MAX_DESCRIPTION: usize = 500;
const MAX_REFERENCE: usize = 200;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostChargeInput {
    pub patient_id: String,
    /// Positive, in cents of the practice's currency.
    pub amount_cents: i64,
    pub description: String,
    pub appointment_id: Option<String>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PostPaymentInput {
    pub patient_id: String,
    /// Positive, in cents of the practice's currency.
    pub amount_cents: i64,
    pub method: PaymentMethod,
    pub reference: Option<String>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

pub fn charge_view(row: charge::Model) -> Charge {
    Charge {
        id: row.id,
        practice_id: row.practice_id,
        patient_id: row.patient_id,
        amount_cents: row.amount_cents,
        description: row.description,
        appointment_id: row.appointment_id,
        posted_at: from_millis(row.posted_at),
    }
}

pub fn payment_view(row: payment::Model) -> Payment {
    Payment {
        id: row.id,
        practice_id: row.practice_id,
        patient_id: row.patient_id,
        amount_cents: row.amount_cents,
        method: PaymentMethod::parse(&row.method).unwrap_or(PaymentMethod::Cash),
        reference: row.reference,
        posted_at: from_millis(row.posted_at),
    }
}

/// Inserts the charge or payment row and adds `delta` to the patient's balance, returning
/// the patient as updated; a balance outside the `Int` range is BAD_USER_INPUT, and the
/// mutation's savepoint (its turn in the practice's writer) takes both writes back. Checked
/// here, after the write and inside its transaction, so mutations batched together cannot
/// each pass on a balance read before the others moved it.
async fn record_and_move<A>(
    tx: &MutationTx<'_>,
    row: Insert<A>,
    patient_id: &str,
    delta: i64,
) -> AppResult<patient::Model>
where
    A: ActiveModelTrait,
{
    let patient = write_and_move(tx, row, patient_id, delta).await?;
    validate::balance_cents(patient.balance_cents)?;
    Ok(patient)
}

/// The writes of `record_and_move`. Inside the practice's batch every round trip is one the
/// batch waits on, so on Postgres both are one statement (`WITH … INSERT … UPDATE … RETURNING`).
async fn write_and_move<A>(
    tx: &MutationTx<'_>,
    row: Insert<A>,
    patient_id: &str,
    delta: i64,
) -> AppResult<patient::Model>
where
    A: ActiveModelTrait,
{
    let conn = tx.conn();
    if conn.get_database_backend() != DbBackend::Postgres {
        row.exec_without_returning(conn).await?;
        return patient::Entity::update_many()
            .col_expr(patient::Column::BalanceCents, Expr::col(patient::Column::BalanceCents).add(delta))
            .col_expr(patient::Column::UpdatedAt, Expr::value(tx.now_ms()))
            .filter(patient::Column::Id.eq(patient_id))
            .exec_with_returning(conn)
            .await?
            .pop()
            .ok_or(AppError::NotFound("patient"));
    }
    let (insert, Values(mut values)) = row.into_query().build(PostgresQueryBuilder);
    let (delta, now, id) =
        (bind(delta.into(), &mut values), bind(tx.now_ms().into(), &mut values), bind(patient_id.into(), &mut values));
    let sql = format!(
        "WITH m AS ({insert}) UPDATE patients SET balance_cents = balance_cents + {delta}, updated_at = {now} \
         WHERE id = {id} RETURNING *"
    );
    patient::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(DbBackend::Postgres, sql, values))
        .one(conn)
        .await?
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
    let row = charge::Model {
        id: new_id("chg"),
        practice_id,
        patient_id: input.patient_id.to_string(),
        appointment_id: input.appointment_id.as_ref().map(|a| a.to_string()),
        amount_cents: amount,
        description,
        posted_at: tx.now_ms(),
    };
    let patient =
        record_and_move(&tx, charge::Entity::insert(row.clone().into_active_model()), &input.patient_id, amount)
            .await?;
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
    let row = payment::Model {
        id: new_id("pay"),
        practice_id,
        patient_id: input.patient_id.to_string(),
        amount_cents: amount,
        method: input.method.as_str().to_string(),
        reference,
        posted_at: tx.now_ms(),
    };
    let patient =
        record_and_move(&tx, payment::Entity::insert(row.clone().into_active_model()), &input.patient_id, -amount)
            .await?;
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
