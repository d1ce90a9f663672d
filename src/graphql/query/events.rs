//! The event log as a query: the same events, ids and order the subscriptions deliver.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};

use crate::domain::event_log;
use crate::graphql::connection::connection;
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{Event, EventType};

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// A practice's events in seq order, after an optional cursor.
    async fn events(
        &self,
        ctx: &Context<'_>,
        practice_id: ID,
        types: Option<Vec<EventType>>,
        after: Option<String>,
        first: Option<i32>,
    ) -> GqlResult<Connection<String, Event>> {
        let (s, who) = caller(ctx)?;
        let types: Option<Vec<_>> = types.map(|types| types.into_iter().map(Into::into).collect());
        let page = event_log::page(s, who, &practice_id, types.as_deref(), after.as_deref(), first).await.gql()?;
        Ok(connection(page.map(Event::from)))
    }
}
