//! Creating and updating patients.

use async_graphql::{Context, Object};

use crate::domain::patients::{self, CreatePatientInput, UpdatePatientInput};
use crate::graphql::context::{caller, touched};
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::Patient;

#[derive(Default)]
pub struct PatientMutation;

#[Object]
impl PatientMutation {
    /// Appends PATIENT_CREATED.
    async fn create_patient(&self, ctx: &Context<'_>, input: CreatePatientInput) -> GqlResult<Patient> {
        let (s, who) = caller(ctx)?;
        patients::create(s, who, input).await.map(|p| touched(ctx, p)).gql()
    }

    /// Appends PATIENT_UPDATED.
    async fn update_patient(&self, ctx: &Context<'_>, input: UpdatePatientInput) -> GqlResult<Patient> {
        let (s, who) = caller(ctx)?;
        patients::update(s, who, input).await.map(|p| touched(ctx, p)).gql()
    }
}
