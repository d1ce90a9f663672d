//! Creating practices and providers.

use async_graphql::{Context, Object};

use crate::domain::practices::{self, CreatePracticeInput};
use crate::domain::providers::{self, CreateProviderInput};
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{Practice, Provider};

#[derive(Default)]
pub struct PracticeMutation;

#[Object]
impl PracticeMutation {
    /// Creates a practice (global ADMIN keys only).
    async fn create_practice(&self, ctx: &Context<'_>, input: CreatePracticeInput) -> GqlResult<Practice> {
        let (s, who) = caller(ctx)?;
        practices::create(s, who, input).await.gql()
    }

    async fn create_provider(&self, ctx: &Context<'_>, input: CreateProviderInput) -> GqlResult<Provider> {
        let (s, who) = caller(ctx)?;
        providers::create(s, who, input).await.gql()
    }
}
