//! The entity resolvers `_entities` runs, one per keyed type: each loads its reference
//! through the request's batch. A reference the caller may not see is null in the list,
//! with a NOT_FOUND error beside it, exactly as `patient(id)` answers: never its data, and
//! never the whole list failed for one bad id.

use async_graphql::{Context, ErrorExtensions, ID, Object};

use super::loader::Slot;
use crate::domain::lookup::{Kind, Record};
use crate::error::AppError;
use crate::graphql::context::{caller, touched};
use crate::graphql::errors::GqlResult;
use crate::graphql::types::{Appointment, Charge, Patient, Payment, Practice, Provider};

pub struct Entities;

#[Object]
impl Entities {
    #[graphql(entity)]
    async fn find_practice_by_id(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Practice>> {
        Ok(match reference(ctx, Kind::Practice, id).await? {
            Some(Record::Practice(practice)) => Some(practice),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn find_provider_by_id(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Provider>> {
        Ok(match reference(ctx, Kind::Provider, id).await? {
            Some(Record::Provider(provider)) => Some(provider),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn find_patient_by_id(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Patient>> {
        Ok(match reference(ctx, Kind::Patient, id).await? {
            Some(Record::Patient(patient)) => Some(touched(ctx, patient)),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn find_appointment_by_id(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Appointment>> {
        Ok(match reference(ctx, Kind::Appointment, id).await? {
            Some(Record::Appointment(appointment)) => Some(touched(ctx, *appointment)),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn find_payment_by_id(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Payment>> {
        Ok(match reference(ctx, Kind::Payment, id).await? {
            Some(Record::Payment(payment)) => Some(touched(ctx, payment)),
            _ => None,
        })
    }

    #[graphql(entity)]
    async fn find_charge_by_id(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Charge>> {
        Ok(match reference(ctx, Kind::Charge, id).await? {
            Some(Record::Charge(charge)) => Some(touched(ctx, charge)),
            _ => None,
        })
    }
}

/// The referenced record, or None with a NOT_FOUND error added to the response (whether
/// the id is malformed, unknown or another practice's, the answer is the same).
async fn reference(ctx: &Context<'_>, kind: Kind, id: ID) -> GqlResult<Option<Record>> {
    let (services, who) = caller(ctx)?;
    let slot = ctx.data::<Slot>()?;
    let found = slot.loader(services, who).load_one((kind, id.0)).await.map_err(|e| ErrorExtensions::extend(&*e))?;
    if found.is_none() {
        let what = match kind {
            Kind::Practice => "practice",
            Kind::Provider => "provider",
            Kind::Patient => "patient",
            Kind::Appointment => "appointment",
            Kind::Payment => "payment",
            Kind::Charge => "charge",
        };
        ctx.add_error(ctx.set_error_path(AppError::NotFound(what).extend().into_server_error(ctx.item.pos)));
    }
    Ok(found)
}
