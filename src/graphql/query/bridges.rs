//! The bridges of this deployment and how far behind each one is (global ADMIN keys).

use async_graphql::{Context, Object};

use crate::bridges::Bridges;
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::Bridge;

#[derive(Default)]
pub struct BridgeQuery;

#[Object]
impl BridgeQuery {
    /// Each configured bridge (NATS JetStream, RabbitMQ, MQTT): its connection state on the
    /// replica that answers, its last error, and its lag behind the practices' logs.
    async fn bridges(&self, ctx: &Context<'_>) -> GqlResult<Vec<Bridge>> {
        let (_, who) = caller(ctx)?;
        who.require_admin(None).gql()?;
        let bridges = ctx.data_opt::<Bridges>().map(|b| b.all.iter().map(|s| s.view()).collect());
        Ok(bridges.unwrap_or_default())
    }
}
