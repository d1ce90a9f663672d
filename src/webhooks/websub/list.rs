//! A practice's WebSub subscriptions as the console and the API show them.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::auth::Principal;
use crate::clock::from_millis;
use crate::db::entities::webhook_endpoint;
use crate::domain::{Services, validate};
use crate::error::AppResult;
use crate::vocab::WebSubSubscription;
use crate::webhooks::endpoints::stored_types;

/// The practice's subscriptions whose lease has not ended, oldest first (those who may
/// manage its webhook endpoints may see them).
pub async fn list(s: &Services, who: &Principal, practice_id: &str) -> AppResult<Vec<WebSubSubscription>> {
    let practice_id = validate::id("practiceId", practice_id)?;
    who.write(practice_id, "practice")?;
    let rows = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::PracticeId.eq(practice_id))
        .filter(webhook_endpoint::Column::Protocol.eq(webhook_endpoint::WEBSUB))
        .filter(webhook_endpoint::Column::LeaseExpiresAt.gt(s.now_ms()))
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(&s.db)
        .await?;
    Ok(rows.iter().map(view).collect())
}

fn view(row: &webhook_endpoint::Model) -> WebSubSubscription {
    WebSubSubscription {
        id: row.id.clone(),
        practice_id: row.practice_id.clone(),
        callback: row.url.clone(),
        topic: row.topic.clone().unwrap_or_default(),
        event_types: stored_types(&row.event_types),
        lease_expires_at: from_millis(row.lease_expires_at.unwrap_or(row.created_at)),
        signed: !row.secret.is_empty(),
        created_at: from_millis(row.created_at),
        updated_at: from_millis(row.updated_at),
    }
}
