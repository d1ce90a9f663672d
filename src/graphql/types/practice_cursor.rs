//! `Practice.lastCursor`: where "from now on" starts. A client that loads a snapshot
//! (today's appointments) reads it first, then subscribes with `after: lastCursor`, and so
//! misses nothing committed between its snapshot and its subscription.

use async_graphql::{ComplexObject, Context};

use super::Practice;
use crate::error::AppError;
use crate::events::{Cursor, log};
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};

#[ComplexObject]
impl Practice {
    /// The cursor of the practice's latest event (of the empty log when it has none): a
    /// subscription with `after` set to it receives everything committed from now on.
    async fn last_cursor(&self, ctx: &Context<'_>) -> GqlResult<String> {
        let (s, who) = caller(ctx)?;
        who.read(&self.id, "practice").gql()?;
        let seq = log::head(&s.db, &self.id).await.gql()?.ok_or(AppError::NotFound("practice")).gql()?;
        Ok(Cursor { practice_id: self.id.to_string(), seq }.encode())
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
