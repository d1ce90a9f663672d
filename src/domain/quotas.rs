//! Setting a practice's quotas (global ADMIN): the values checked and the practice found
//! here, the row stored and every replica told by `limits`.

use sea_orm::EntityTrait;

use super::{Services, validate};
use crate::db::entities::practice;
use crate::error::{AppError, AppResult};
use crate::limits::quota::Quota;

/// The largest quota value accepted; anything above it is a typo, not a plan.
pub const MAX_QUOTA: i32 = 1_000_000_000;

/// A practice's quotas, all of them at once: None is unlimited.
#[derive(Clone, Debug)]
pub struct QuotaChange {
    pub practice_id: String,
    pub max_connections: Option<i32>,
    pub max_subscriptions: Option<i32>,
    pub max_mutations_per_minute: Option<i32>,
    pub max_deliveries_per_day: Option<i32>,
    pub max_webhook_endpoints: Option<i32>,
}

fn checked(field: &str, value: Option<i32>) -> AppResult<Option<i64>> {
    match value {
        Some(v) if v < 0 => Err(AppError::bad_input(format!("{field} must not be negative (null is unlimited)"))),
        Some(v) if v > MAX_QUOTA => Err(AppError::bad_input(format!("{field} may be at most {MAX_QUOTA}"))),
        v => Ok(v.map(i64::from)),
    }
}

impl QuotaChange {
    fn quota(&self) -> AppResult<Quota> {
        Ok(Quota {
            max_connections: checked("maxConnections", self.max_connections)?,
            max_subscriptions: checked("maxSubscriptions", self.max_subscriptions)?,
            max_mutations_per_minute: checked("maxMutationsPerMinute", self.max_mutations_per_minute)?,
            max_deliveries_per_day: checked("maxDeliveriesPerDay", self.max_deliveries_per_day)?,
            max_webhook_endpoints: checked("maxWebhookEndpoints", self.max_webhook_endpoints)?,
        })
    }
}

/// Sets all of a practice's quotas at once; the caller has checked it is a global ADMIN.
pub async fn set_practice_quota(s: &Services, change: &QuotaChange) -> AppResult<Quota> {
    let practice_id = validate::id("practiceId", &change.practice_id)?;
    let quota = change.quota()?;
    if practice::Entity::find_by_id(practice_id).one(&s.db).await?.is_none() {
        return Err(AppError::NotFound("practice"));
    }
    s.limits.set_quota(practice_id, quota, s.now_ms()).await
}
