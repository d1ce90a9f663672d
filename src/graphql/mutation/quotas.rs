//! Setting a practice's quotas (global ADMIN keys only).

use async_graphql::{Context, Object};

use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{PracticeQuota, quota_view};
use crate::limits::quota::SetPracticeQuotaInput;

#[derive(Default)]
pub struct QuotaMutation;

#[Object]
impl QuotaMutation {
    /// Sets all of a practice's quotas at once (null = unlimited); every replica applies
    /// them within a second. Negative values, or values above 1,000,000,000, are
    /// BAD_USER_INPUT. Global ADMIN keys only.
    async fn set_practice_quota(&self, ctx: &Context<'_>, input: SetPracticeQuotaInput) -> GqlResult<PracticeQuota> {
        let (s, who) = caller(ctx)?;
        who.require_admin(None).gql()?;
        let quota = s.limits.set_quota(&input, s.now_ms()).await.gql()?;
        quota_view(&s.limits, &input.practice_id, quota).await.gql()
    }
}
