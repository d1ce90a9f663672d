//! `Practice.quota` and `setPracticeQuota`'s answer: a practice's quotas (null is
//! unlimited) and what it uses now, counted across replicas.

use async_graphql::SimpleObject;

use crate::error::AppResult;
use crate::limits::quota::{Quota, QuotaUse as Use};

/// What a practice uses now, across replicas.
#[derive(SimpleObject, Clone, Debug)]
pub struct QuotaUse {
    pub connections: i32,
    pub subscriptions: i32,
    /// Mutations in the current UTC minute.
    pub mutations_last_minute: i32,
    /// Deliveries reserved today (UTC) against `maxDeliveriesPerDay`: webhook deliveries
    /// that succeeded, and — while the practice has that quota — subscription frames
    /// (websocket, SSE, multipart), live query results and bridge messages; a replica's
    /// practice hub reserves in chunks (and gives back what it did not send when it
    /// goes), so this may run ahead of what was sent, never past the limit.
    pub deliveries_today: i32,
    pub webhook_endpoints: i32,
}

/// A practice's quotas; every null one is unlimited. A refusal is `QUOTA_EXCEEDED`.
#[derive(SimpleObject, Clone, Debug)]
pub struct PracticeQuota {
    pub max_connections: Option<i32>,
    pub max_subscriptions: Option<i32>,
    pub max_mutations_per_minute: Option<i32>,
    pub max_deliveries_per_day: Option<i32>,
    pub max_webhook_endpoints: Option<i32>,
    #[graphql(name = "use")]
    pub usage: QuotaUse,
}

fn int(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// The quota of a practice with its use, for the API.
pub async fn view(limits: &crate::limits::Limits, practice_id: &str, quota: Quota) -> AppResult<PracticeQuota> {
    let used: Use = limits.quota_use(practice_id).await?;
    let max = |v: Option<i64>| v.map(int);
    Ok(PracticeQuota {
        max_connections: max(quota.max_connections),
        max_subscriptions: max(quota.max_subscriptions),
        max_mutations_per_minute: max(quota.max_mutations_per_minute),
        max_deliveries_per_day: max(quota.max_deliveries_per_day),
        max_webhook_endpoints: max(quota.max_webhook_endpoints),
        usage: QuotaUse {
            connections: int(used.connections),
            subscriptions: int(used.subscriptions),
            mutations_last_minute: int(used.mutations_last_minute),
            deliveries_today: int(used.deliveries_today),
            webhook_endpoints: int(used.webhook_endpoints),
        },
    })
}
