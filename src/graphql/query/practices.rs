//! Queries for practices and their providers.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};

use crate::domain::{practices, providers};
use crate::graphql::connection::connection;
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{Practice, Provider};

#[derive(Default)]
pub struct PracticeQuery;

#[Object]
impl PracticeQuery {
    /// The practices the key can see: every practice for a global admin, its own otherwise.
    async fn practices(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Practice>> {
        let (s, who) = caller(ctx)?;
        practices::list(s, who, first, after.as_deref()).await.map(connection).gql()
    }

    async fn practice(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Practice>> {
        let (s, who) = caller(ctx)?;
        practices::get(s, who, &id).await.map(Some).gql()
    }

    async fn provider(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Provider>> {
        let (s, who) = caller(ctx)?;
        providers::get(s, who, &id).await.map(Some).gql()
    }

    /// A practice's providers, by name.
    async fn providers(&self, ctx: &Context<'_>, practice_id: ID) -> GqlResult<Vec<Provider>> {
        let (s, who) = caller(ctx)?;
        providers::list(s, who, &practice_id).await.gql()
    }
}
