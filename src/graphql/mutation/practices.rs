//! Creating practices and providers.

use async_graphql::{Context, ID, InputObject, Object};

use crate::domain::{practices, providers};
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{Practice, Provider, ProviderKind};

#[derive(InputObject)]
pub struct CreatePracticeInput {
    pub name: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
    pub idempotency_key: Option<String>,
}

impl From<CreatePracticeInput> for practices::CreatePracticeInput {
    fn from(input: CreatePracticeInput) -> Self {
        Self {
            name: input.name,
            timezone: input.timezone,
            currency: input.currency,
            idempotency_key: input.idempotency_key,
        }
    }
}

#[derive(InputObject)]
pub struct CreateProviderInput {
    pub practice_id: ID,
    pub name: String,
    pub kind: ProviderKind,
    pub idempotency_key: Option<String>,
}

impl From<CreateProviderInput> for providers::CreateProviderInput {
    fn from(input: CreateProviderInput) -> Self {
        Self {
            practice_id: input.practice_id.0,
            name: input.name,
            kind: input.kind.into(),
            idempotency_key: input.idempotency_key,
        }
    }
}

#[derive(Default)]
pub struct PracticeMutation;

#[Object]
impl PracticeMutation {
    /// Creates a practice (global ADMIN keys only).
    async fn create_practice(&self, ctx: &Context<'_>, input: CreatePracticeInput) -> GqlResult<Practice> {
        let (s, who) = caller(ctx)?;
        practices::create(s, who, input.into()).await.gql()
    }

    async fn create_provider(&self, ctx: &Context<'_>, input: CreateProviderInput) -> GqlResult<Provider> {
        let (s, who) = caller(ctx)?;
        providers::create(s, who, input.into()).await.gql()
    }
}
