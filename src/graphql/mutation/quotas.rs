//! Setting a practice's quotas (global ADMIN keys only).

use async_graphql::{Context, ID, InputObject, Object};

use crate::domain::quotas::{QuotaChange, set_practice_quota};
use crate::graphql::context::caller;
use crate::graphql::errors::{GqlResult, IntoGql};
use crate::graphql::types::{PracticeQuota, quota_view};

/// A practice's quotas, all of them at once: a null (or absent) one is unlimited.
#[derive(InputObject, Clone, Debug)]
pub struct SetPracticeQuotaInput {
    pub practice_id: ID,
    /// Open connections (websocket, SSE, multipart) across replicas.
    pub max_connections: Option<i32>,
    /// Active subscriptions (including live queries) across replicas.
    pub max_subscriptions: Option<i32>,
    /// Mutations that change the practice's data, per UTC minute.
    pub max_mutations_per_minute: Option<i32>,
    /// Deliveries per UTC day through every door (webhooks, subscription frames, live
    /// query results, bridge messages): over it they are held back, never dropped, and
    /// go on in order once it allows.
    pub max_deliveries_per_day: Option<i32>,
    pub max_webhook_endpoints: Option<i32>,
}

impl From<SetPracticeQuotaInput> for QuotaChange {
    fn from(input: SetPracticeQuotaInput) -> Self {
        QuotaChange {
            practice_id: input.practice_id.to_string(),
            max_connections: input.max_connections,
            max_subscriptions: input.max_subscriptions,
            max_mutations_per_minute: input.max_mutations_per_minute,
            max_deliveries_per_day: input.max_deliveries_per_day,
            max_webhook_endpoints: input.max_webhook_endpoints,
        }
    }
}

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
        let change = QuotaChange::from(input);
        let quota = set_practice_quota(s, &change).await.gql()?;
        quota_view(&s.limits, &change.practice_id, quota).await.gql()
    }
}
