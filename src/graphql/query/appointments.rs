//! Queries for appointments.

use async_graphql::connection::Connection;
use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use crate::domain::appointments::{self, ListFilter};
use crate::graphql::connection::connection;
use crate::graphql::context::{caller, touched, touched_page};
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{Appointment, AppointmentStatus};

#[derive(Default)]
pub struct AppointmentQuery;

#[Object]
impl AppointmentQuery {
    async fn appointment(&self, ctx: &Context<'_>, id: ID) -> GqlResult<Option<Appointment>> {
        let (s, who) = caller(ctx)?;
        appointments::get(s, who, &id).await.map(|a| Some(touched(ctx, a))).gql()
    }

    /// A practice's appointments by start time; `from` is inclusive, `to` exclusive.
    #[allow(clippy::too_many_arguments)]
    async fn appointments(
        &self,
        ctx: &Context<'_>,
        practice_id: ID,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        provider_id: Option<ID>,
        status: Option<AppointmentStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<String, Appointment>> {
        let (s, who) = caller(ctx)?;
        let filter = ListFilter { from, to, provider_id: provider_id.map(|p| p.0), status: status.map(Into::into) };
        appointments::list(s, who, &practice_id, filter, first, after.as_deref())
            .await
            .map(|page| connection(touched_page(ctx, page)))
            .gql()
    }
}
