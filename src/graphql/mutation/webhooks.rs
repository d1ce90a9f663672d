//! Managing webhook endpoints and sending deliveries again.

use async_graphql::{Context, Object};

use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{WebhookDelivery, WebhookEndpoint, WebhookEndpointSecret, WebhookReplay};
use crate::webhooks::inputs::*;
use crate::webhooks::{Allowlist, deliveries, endpoints};

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
        endpoints::create(s, who, allowlist(ctx), input).await.gql()
    }

    /// Changes an endpoint's URL, event types or description, or disables / re-enables it.
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: UpdateWebhookEndpointInput,
    ) -> GqlResult<WebhookEndpoint> {
        let (s, who) = caller(ctx)?;
        endpoints::update(s, who, allowlist(ctx), input).await.gql()
    }

    /// Issues a new signing secret; the old one keeps signing too for `graceSeconds`.
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        input: RotateWebhookSecretInput,
    ) -> GqlResult<WebhookEndpointSecret> {
        let (s, who) = caller(ctx)?;
        endpoints::rotate(s, who, input).await.gql()
    }

    /// Deletes an endpoint and its delivery history; returns it as it was.
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: DeleteWebhookEndpointInput,
    ) -> GqlResult<WebhookEndpoint> {
        let (s, who) = caller(ctx)?;
        endpoints::delete(s, who, input).await.gql()
    }

    /// Sends one delivery again, now, with a fresh retry schedule.
    async fn redeliver_webhook(&self, ctx: &Context<'_>, input: RedeliverWebhookInput) -> GqlResult<WebhookDelivery> {
        let (s, who) = caller(ctx)?;
        deliveries::redeliver(s, who, input).await.gql()
    }

    /// Sends the endpoint's events after a cursor again, in order.
    async fn replay_webhooks(&self, ctx: &Context<'_>, input: ReplayWebhooksInput) -> GqlResult<WebhookReplay> {
        let (s, who) = caller(ctx)?;
        deliveries::replay(s, who, input).await.gql()
    }
}
