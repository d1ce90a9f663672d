//! Managing webhook endpoints and sending deliveries again.

use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object};

use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{EventType, WebhookDelivery, WebhookEndpoint, WebhookEndpointSecret, WebhookReplay};
use crate::webhooks::{Allowlist, deliveries, endpoints, inputs};

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    pub practice_id: ID,
    /// `https://…` (or `http://`); private and loopback addresses are refused unless the
    /// server's `WEBHOOK_ALLOW_PRIVATE` allows them.
    pub url: String,
    /// The event types to send; omitted or empty: every type.
    pub event_types: Option<Vec<EventType>>,
    pub description: Option<String>,
    pub idempotency_key: Option<String>,
}

impl From<CreateWebhookEndpointInput> for inputs::CreateWebhookEndpointInput {
    fn from(input: CreateWebhookEndpointInput) -> Self {
        Self {
            practice_id: input.practice_id.0,
            url: input.url,
            event_types: input.event_types.map(|types| types.into_iter().map(Into::into).collect()),
            description: input.description,
            idempotency_key: input.idempotency_key,
        }
    }
}

/// Omitted fields stay as they are; `description: null` clears it.
#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    pub id: ID,
    pub url: Option<String>,
    pub event_types: Option<Vec<EventType>>,
    pub description: MaybeUndefined<String>,
    /// `false` disables the endpoint; `true` enables it again, and what it missed meanwhile
    /// is delivered, in order.
    pub enabled: Option<bool>,
    pub idempotency_key: Option<String>,
}

impl From<UpdateWebhookEndpointInput> for inputs::UpdateWebhookEndpointInput {
    fn from(input: UpdateWebhookEndpointInput) -> Self {
        Self {
            id: input.id.0,
            url: input.url,
            event_types: input.event_types.map(|types| types.into_iter().map(Into::into).collect()),
            description: input.description.into(),
            enabled: input.enabled,
            idempotency_key: input.idempotency_key,
        }
    }
}

#[derive(InputObject)]
pub struct RotateWebhookSecretInput {
    pub id: ID,
    /// How long the current secret keeps signing next to the new one (default one day,
    /// at most seven; 0 retires it at once).
    pub grace_seconds: Option<i32>,
    pub idempotency_key: Option<String>,
}

impl From<RotateWebhookSecretInput> for inputs::RotateWebhookSecretInput {
    fn from(input: RotateWebhookSecretInput) -> Self {
        Self { id: input.id.0, grace_seconds: input.grace_seconds, idempotency_key: input.idempotency_key }
    }
}

#[derive(InputObject)]
pub struct DeleteWebhookEndpointInput {
    pub id: ID,
    pub idempotency_key: Option<String>,
}

impl From<DeleteWebhookEndpointInput> for inputs::DeleteWebhookEndpointInput {
    fn from(input: DeleteWebhookEndpointInput) -> Self {
        Self { id: input.id.0, idempotency_key: input.idempotency_key }
    }
}

#[derive(InputObject)]
pub struct RedeliverWebhookInput {
    pub delivery_id: ID,
    pub idempotency_key: Option<String>,
}

impl From<RedeliverWebhookInput> for inputs::RedeliverWebhookInput {
    fn from(input: RedeliverWebhookInput) -> Self {
        Self { delivery_id: input.delivery_id.0, idempotency_key: input.idempotency_key }
    }
}

#[derive(InputObject)]
pub struct ReplayWebhooksInput {
    pub endpoint_id: ID,
    /// An event cursor: the endpoint's events after it are sent again, in order. Omitted:
    /// from the start of the retained log.
    pub after: Option<String>,
    pub idempotency_key: Option<String>,
}

impl From<ReplayWebhooksInput> for inputs::ReplayWebhooksInput {
    fn from(input: ReplayWebhooksInput) -> Self {
        Self { endpoint_id: input.endpoint_id.0, after: input.after, idempotency_key: input.idempotency_key }
    }
}

#[derive(Default)]
pub struct WebhookMutation;

/// The destinations the server allows although private (`WEBHOOK_ALLOW_PRIVATE`).
fn allowlist<'a>(ctx: &Context<'a>) -> &'a Allowlist {
    static NONE: std::sync::OnceLock<Allowlist> = std::sync::OnceLock::new();
    ctx.data_opt::<Allowlist>().unwrap_or_else(|| NONE.get_or_init(Allowlist::default))
}

#[Object]
impl WebhookMutation {
    /// Registers an endpoint; its signing `secret` is in this response only.
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> GqlResult<WebhookEndpointSecret> {
        let (s, who) = caller(ctx)?;
        endpoints::create(s, who, allowlist(ctx), input.into()).await.gql()
    }

    /// Changes an endpoint's URL, event types or description, or disables / re-enables it.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> GqlResult<WebhookEndpoint> {
        let (s, who) = caller(ctx)?;
        endpoints::update(s, who, allowlist(ctx), input.into()).await.gql()
    }

    /// Issues a new signing secret; the old one keeps signing too for `graceSeconds`.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: RotateWebhookSecretInput,
    ) -> GqlResult<WebhookEndpointSecret> {
        let (s, who) = caller(ctx)?;
        endpoints::rotate(s, who, input.into()).await.gql()
    }

    /// Deletes an endpoint and its delivery history; returns it as it was.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: DeleteWebhookEndpointInput,
    ) -> GqlResult<WebhookEndpoint> {
        let (s, who) = caller(ctx)?;
        endpoints::delete(s, who, input.into()).await.gql()
    }

    /// Sends one delivery again, now, with a fresh retry schedule.
    async fn redeliver_webhook(&self, ctx: &Context<'_>, input: RedeliverWebhookInput) -> GqlResult<WebhookDelivery> {
        let (s, who) = caller(ctx)?;
        deliveries::redeliver(s, who, input.into()).await.gql()
    }

    /// Sends the endpoint's events after a cursor again, in order.
    async fn replay_webhooks(&self, ctx: &Context<'_>, input: ReplayWebhooksInput) -> GqlResult<WebhookReplay> {
        let (s, who) = caller(ctx)?;
        deliveries::replay(s, who, input.into()).await.gql()
    }
}
