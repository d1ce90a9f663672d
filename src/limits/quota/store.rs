//! Quotas in the database: read, and written whole when a practice's quota is set.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set};

use super::Quota;
use crate::db::entities::{practice_quota, webhook_endpoint};
use crate::error::AppResult;

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

/// Writes a practice's quota row whole (the domain has validated it and found the practice).
pub(super) async fn write(db: &DatabaseConnection, practice_id: &str, quota: Quota, now_ms: i64) -> AppResult<Quota> {
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
