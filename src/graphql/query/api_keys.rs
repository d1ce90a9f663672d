//! Listing a practice's API keys (admins only; the keys themselves are never shown).

use async_graphql::{Context, ID, Object};

use crate::domain::api_keys;
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::ApiKey;

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    async fn api_keys(&self, ctx: &Context<'_>, practice_id: ID) -> GqlResult<Vec<ApiKey>> {
        let (s, who) = caller(ctx)?;
        api_keys::list(s, who, &practice_id).await.gql()
    }
}
