//! Quotas in the database: read, and written whole by `setPracticeQuota`.

use async_graphql::{ID, InputObject};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set};

use super::Quota;
use crate::db::entities::{practice, practice_quota, webhook_endpoint};
use crate::error::{AppError, AppResult};

/// The largest quota value accepted; anything above it is a typo, not a plan.
pub const MAX_QUOTA: i32 = 1_000_000_000;

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

fn checked(field: &str, value: Option<i32>) -> AppResult<Option<i64>> {
    match value {
        Some(v) if v < 0 => Err(AppError::bad_input(format!("{field} must not be negative (null is unlimited)"))),
        Some(v) if v > MAX_QUOTA => Err(AppError::bad_input(format!("{field} may be at most {MAX_QUOTA}"))),
        v => Ok(v.map(i64::from)),
    }
}

impl SetPracticeQuotaInput {
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

pub(super) async fn read(db: &DatabaseConnection, practice_id: &str) -> Result<Quota, sea_orm::DbErr> {
    Ok(practice_quota::Entity::find_by_id(practice_id).one(db).await?.map_or_else(Quota::default, |row| Quota {
        max_connections: row.max_connections,
        max_subscriptions: row.max_subscriptions,
        max_mutations_per_minute: row.max_mutations_per_minute,
        max_deliveries_per_day: row.max_deliveries_per_day,
        max_webhook_endpoints: row.max_webhook_endpoints,
    }))
}

pub(super) async fn webhook_endpoints(db: &DatabaseConnection, practice_id: &str) -> AppResult<u64> {
    Ok(webhook_endpoint::Entity::find().filter(webhook_endpoint::Column::PracticeId.eq(practice_id)).count(db).await?)
}

pub(super) async fn write(db: &DatabaseConnection, input: &SetPracticeQuotaInput, now_ms: i64) -> AppResult<Quota> {
    let practice_id = crate::domain::validate::id("practiceId", &input.practice_id)?;
    let quota = input.quota()?;
    if practice::Entity::find_by_id(practice_id).one(db).await?.is_none() {
        return Err(AppError::NotFound("practice"));
    }
    let row = practice_quota::ActiveModel {
        practice_id: Set(practice_id.to_string()),
        max_connections: Set(quota.max_connections),
        max_subscriptions: Set(quota.max_subscriptions),
        max_mutations_per_minute: Set(quota.max_mutations_per_minute),
        max_deliveries_per_day: Set(quota.max_deliveries_per_day),
        max_webhook_endpoints: Set(quota.max_webhook_endpoints),
        updated_at: Set(now_ms),
    };
    let columns = [
        practice_quota::Column::MaxConnections,
        practice_quota::Column::MaxSubscriptions,
        practice_quota::Column::MaxMutationsPerMinute,
        practice_quota::Column::MaxDeliveriesPerDay,
        practice_quota::Column::MaxWebhookEndpoints,
        practice_quota::Column::UpdatedAt,
    ];
    practice_quota::Entity::insert(row)
        .on_conflict(OnConflict::column(practice_quota::Column::PracticeId).update_columns(columns).to_owned())
        .exec(db)
        .await?;
    Ok(quota)
}
