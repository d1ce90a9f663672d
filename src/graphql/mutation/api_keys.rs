//! Creating and revoking API keys.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use crate::domain::api_keys;
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{ApiKey, CreatedApiKey, Role};

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    pub role: Role,
    /// Required for BACKOFFICE and SUBSCRIBER keys; omitted for a global ADMIN key.
    pub practice_id: Option<ID>,
    pub name: String,
    /// After this moment the key no longer authenticates.
    pub expires_at: Option<DateTime<Utc>>,
    pub idempotency_key: Option<String>,
}

impl From<CreateApiKeyInput> for api_keys::CreateApiKeyInput {
    fn from(input: CreateApiKeyInput) -> Self {
        Self {
            role: input.role.into(),
            practice_id: input.practice_id.map(|id| id.0),
            name: input.name,
            expires_at: input.expires_at,
            idempotency_key: input.idempotency_key,
        }
    }
}

#[derive(InputObject)]
pub struct RevokeApiKeyInput {
    pub id: ID,
    pub idempotency_key: Option<String>,
}

impl From<RevokeApiKeyInput> for api_keys::RevokeApiKeyInput {
    fn from(input: RevokeApiKeyInput) -> Self {
        Self { id: input.id.0, idempotency_key: input.idempotency_key }
    }
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates a key; the plaintext `key` is in this response only.
    async fn create_api_key(&self, ctx: &Context<'_>, input: CreateApiKeyInput) -> GqlResult<CreatedApiKey> {
        let (s, who) = caller(ctx)?;
        api_keys::create(s, who, input.into()).await.gql()
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
        api_keys::revoke(s, who, input.into()).await.gql()
    }
}
