//! The command consumers of this deployment (global ADMIN keys).

use async_graphql::{Context, Object};

use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::inbox::CommandStatuses;
use crate::vocab::CommandConsumer;

#[derive(Default)]
pub struct CommandQuery;

#[Object]
impl CommandQuery {
    /// Each configured command consumer (mutations in from NATS JetStream, RabbitMQ or Kafka): its
    /// connection state on the replica that answers, its last error, and what it did.
    async fn command_consumers(&self, ctx: &Context<'_>) -> GqlResult<Vec<CommandConsumer>> {
        let (_, who) = caller(ctx)?;
        who.require_admin(None).gql()?;
        let consumers = ctx.data_opt::<CommandStatuses>().map(|c| c.all.iter().map(|s| s.view()).collect());
        Ok(consumers.unwrap_or_default())
    }
}
