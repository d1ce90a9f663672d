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

    /// Over a websocket: replaces the connection's API key with `key` (same practice)
    /// without dropping its subscriptions, e.g. before the current key expires.
    async fn refresh_credentials(&self, ctx: &Context<'_>, key: String) -> GqlResult<bool> {
        let (s, who) = caller(ctx)?;
        let connection = ctx.data_opt::<std::sync::Arc<crate::auth::Credentials>>();
        api_keys::refresh(s, who, connection, &key).await.gql()
    }

    /// Revokes a key: it stops authenticating at once, and its open connections close.
    async fn revoke_api_key(&self, ctx: &Context<'_>, input: RevokeApiKeyInput) -> GqlResult<ApiKey> {
        let (s, who) = caller(ctx)?;
        api_keys::revoke(s, who, input).await.gql()
    }
}
