//! `Practice` as the schema shows it, with what only the API adds: `lastCursor`, where
//! "from now on" starts (a client that loads a snapshot, such as today's appointments,
//! reads it first, then subscribes with `after: lastCursor`, and so misses nothing
//! committed between its snapshot and its subscription), and `quota`.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::Practice;
use crate::error::AppError;
use crate::events::{Cursor, log};
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};

#[Object(name = "Practice")]
impl Practice {
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
    async fn name(&self) -> &str {
        &self.name
    }
    /// IANA time zone, e.g. `America/New_York`.
    async fn timezone(&self) -> &str {
        &self.timezone
    }
    /// ISO 4217 currency code of every amount in this practice.
    async fn currency(&self) -> &str {
        &self.currency
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The cursor of the practice's latest event (of the empty log when it has none): a
    /// subscription with `after` set to it receives everything committed from now on.
    async fn last_cursor(&self, ctx: &Context<'_>) -> GqlResult<String> {
        let (s, who) = caller(ctx)?;
        who.read(&self.id, "practice").gql()?;
        let seq = log::head(&s.db, &self.id).await.gql()?.ok_or(AppError::NotFound("practice")).gql()?;
        Ok(Cursor { practice_id: self.id.clone(), seq }.encode())
    }

    /// The practice's quotas and what it uses now (readable by any key of the practice).
    async fn quota(&self, ctx: &Context<'_>) -> GqlResult<super::PracticeQuota> {
        let (s, who) = caller(ctx)?;
        // The practice's business, not a patient's.
        who.read_practice_records(&self.id, "practice quota").gql()?;
        let quota = s.limits.quota(&self.id).await;
        super::quota_view(&s.limits, &self.id, quota).await.gql()
    }
}
