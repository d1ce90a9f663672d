//! Posting charges and payments.

use async_graphql::{Context, ID, InputObject, Object};

use crate::domain::billing;
use crate::graphql::context::{caller, touched};
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{Charge, Payment, PaymentMethod};

#[derive(InputObject)]
pub struct PostChargeInput {
    pub patient_id: ID,
    /// Positive, in cents of the practice's currency.
    pub amount_cents: i64,
    pub description: String,
    pub appointment_id: Option<ID>,
    pub idempotency_key: Option<String>,
}

impl From<PostChargeInput> for billing::PostChargeInput {
    fn from(input: PostChargeInput) -> Self {
        Self {
            patient_id: input.patient_id.0,
            amount_cents: input.amount_cents,
            description: input.description,
            appointment_id: input.appointment_id.map(|id| id.0),
            idempotency_key: input.idempotency_key,
        }
    }
}

#[derive(InputObject)]
pub struct PostPaymentInput {
    pub patient_id: ID,
    /// Positive, in cents of the practice's currency.
    pub amount_cents: i64,
    pub method: PaymentMethod,
    pub reference: Option<String>,
    pub idempotency_key: Option<String>,
}

impl From<PostPaymentInput> for billing::PostPaymentInput {
    fn from(input: PostPaymentInput) -> Self {
        Self {
            patient_id: input.patient_id.0,
            amount_cents: input.amount_cents,
            method: input.method.into(),
            reference: input.reference,
            idempotency_key: input.idempotency_key,
        }
    }
}

#[derive(Default)]
pub struct BillingMutation;

#[Object]
impl BillingMutation {
    /// Appends CHARGE_POSTED; the patient's balance goes up.
    async fn post_charge(&self, ctx: &Context<'_>, input: PostChargeInput) -> GqlResult<Charge> {
        let (s, who) = caller(ctx)?;
        billing::post_charge(s, who, input.into()).await.map(|c| touched(ctx, c)).gql()
    }

    /// Appends PAYMENT_POSTED; the patient's balance goes down.
    async fn post_payment(&self, ctx: &Context<'_>, input: PostPaymentInput) -> GqlResult<Payment> {
        let (s, who) = caller(ctx)?;
        billing::post_payment(s, who, input.into()).await.map(|p| touched(ctx, p)).gql()
    }
}
