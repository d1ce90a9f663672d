//! Posting charges and payments.

use async_graphql::{Context, Object};

use crate::domain::billing::{self, PostChargeInput, PostPaymentInput};
use crate::graphql::context::{caller, touched};
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{Charge, Payment};

#[derive(Default)]
pub struct BillingMutation;

#[Object]
impl BillingMutation {
    /// Appends CHARGE_POSTED; the patient's balance goes up.
    async fn post_charge(&self, ctx: &Context<'_>, input: PostChargeInput) -> GqlResult<Charge> {
        let (s, who) = caller(ctx)?;
        billing::post_charge(s, who, input).await.map(|c| touched(ctx, c)).gql()
    }

    /// Appends PAYMENT_POSTED; the patient's balance goes down.
    async fn post_payment(&self, ctx: &Context<'_>, input: PostPaymentInput) -> GqlResult<Payment> {
        let (s, who) = caller(ctx)?;
        billing::post_payment(s, who, input).await.map(|p| touched(ctx, p)).gql()
    }
}
