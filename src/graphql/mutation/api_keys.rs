//! Creating and revoking API keys.

use async_graphql::{Context, Object};

use crate::domain::api_keys::{self, CreateApiKeyInput, RevokeApiKeyInput};
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{ApiKey, CreatedApiKey};

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates a key; the plaintext `key` is in this response only.
    async fn create_api_key(&self, ctx: &Context<'_>, input: CreateApiKeyInput) -> GqlResult<CreatedApiKey> {
        let (s, who) = caller(ctx)?;
        api_keys::create(s, who, input).await.gql()
    }

    /// Revokes a key: it stops authenticating at once.
    async fn revoke_api_key(&self, ctx: &Context<'_>, input: RevokeApiKeyInput) -> GqlResult<ApiKey> {
        let (s, who) = caller(ctx)?;
        api_keys::revoke(s, who, input).await.gql()
    }
}
