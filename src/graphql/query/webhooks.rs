//! A practice's webhook endpoints and their deliveries (ADMIN and BACKOFFICE keys).

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};

use crate::graphql::connection::connection;
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{WebSubSubscription, WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint};
use crate::webhooks::{deliveries, endpoints};

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    async fn webhook_endpoints(&self, ctx: &Context<'_>, practice_id: ID) -> GqlResult<Vec<WebhookEndpoint>> {
        let (s, who) = caller(ctx)?;
        endpoints::list(s, who, &practice_id).await.gql()
    }

    /// The practice's WebSub subscriptions (`POST /websub`) whose lease has not ended.
    async fn websub_subscriptions(&self, ctx: &Context<'_>, practice_id: ID) -> GqlResult<Vec<WebSubSubscription>> {
        let (s, who) = caller(ctx)?;
        crate::webhooks::websub::list(s, who, &practice_id).await.gql()
    }

    /// An endpoint's deliveries in seq order, each with every attempt made.
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        status: Option<WebhookDeliveryStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, WebhookDelivery>> {
        let (s, who) = caller(ctx)?;
        deliveries::list(s, who, &endpoint_id, status.map(Into::into), first, after.as_deref())
            .await
            .map(connection)
            .gql()
    }
}
