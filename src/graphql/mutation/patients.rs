//! Creating and updating patients.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use crate::domain::patients;
use crate::graphql::context::{caller, touched};
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{Date, Patient};

#[derive(InputObject)]
pub struct CreatePatientInput {
    pub practice_id: ID,
    pub first_name: String,
    pub last_name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<Date>,
    pub idempotency_key: Option<String>,
}

impl From<CreatePatientInput> for patients::CreatePatientInput {
    fn from(input: CreatePatientInput) -> Self {
        Self {
            practice_id: input.practice_id.0,
            first_name: input.first_name,
            last_name: input.last_name,
            email: input.email,
            phone: input.phone,
            date_of_birth: input.date_of_birth,
            idempotency_key: input.idempotency_key,
        }
    }
}

/// Omitted fields stay as they are; `null` clears an optional field.
#[derive(InputObject)]
pub struct UpdatePatientInput {
    pub id: ID,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub date_of_birth: MaybeUndefined<Date>,
    pub idempotency_key: Option<String>,
}

impl From<UpdatePatientInput> for patients::UpdatePatientInput {
    fn from(input: UpdatePatientInput) -> Self {
        Self {
            id: input.id.0,
            first_name: input.first_name,
            last_name: input.last_name,
            email: input.email.into(),
            phone: input.phone.into(),
            date_of_birth: input.date_of_birth.into(),
            idempotency_key: input.idempotency_key,
        }
    }
}

#[derive(Default)]
pub struct PatientMutation;

#[Object]
impl PatientMutation {
    /// Appends PATIENT_CREATED.
    async fn create_patient(&self, ctx: &Context<'_>, input: CreatePatientInput) -> GqlResult<Patient> {
        let (s, who) = caller(ctx)?;
        patients::create(s, who, input.into()).await.map(|p| touched(ctx, p)).gql()
    }

    /// Appends PATIENT_UPDATED.
    async fn update_patient(&self, ctx: &Context<'_>, input: UpdatePatientInput) -> GqlResult<Patient> {
        let (s, who) = caller(ctx)?;
        patients::update(s, who, input.into()).await.map(|p| touched(ctx, p)).gql()
    }
}
