//! Applying a verified intent: a subscription becomes (or renews) its webhook endpoint row
//! of protocol `WEBSUB` — new ones receive the events from the moment they are verified;
//! a renewal keeps its place in the log and takes the new lease and secret — and an
//! unsubscription deletes it with its queue. One subscription per (callback, topic).

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, IntoActiveModel};
use sea_orm::{PaginatorTrait, QueryFilter};
use std::time::Duration;

use super::request::{Intent, Mode};
use super::verify::confirmed;
use crate::clock::SharedClock;
use crate::db::entities::{practice, webhook_endpoint};
use crate::domain::new_id;
use crate::error::{AppError, AppResult};
use crate::webhooks::guard::Allowlist;

/// Verifies `intent` with its callback and, when confirmed, applies it. Ok(false): the
/// callback did not confirm, and nothing changed.
pub async fn verify_and_apply(
    db: &DatabaseConnection,
    clock: &SharedClock,
    allow: &Allowlist,
    timeout: Duration,
    intent: &Intent,
) -> AppResult<bool> {
    if let Err(why) = confirmed(intent, allow, timeout).await {
        tracing::info!(mode = intent.mode.as_str(), why, "a WebSub intent was not verified");
        return Ok(false);
    }
    let existing = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Protocol.eq(webhook_endpoint::WEBSUB))
        .filter(webhook_endpoint::Column::Url.eq(&intent.callback))
        .filter(webhook_endpoint::Column::Topic.eq(&intent.topic.url))
        .one(db)
        .await?;
    let now = clock.now().timestamp_millis();
    match (intent.mode, existing) {
        (Mode::Unsubscribe, Some(row)) => crate::webhooks::endpoints::remove(db, &row.id).await?,
        (Mode::Unsubscribe, None) => {}
        (Mode::Subscribe, Some(row)) => {
            let mut row = row.into_active_model();
            row.secret = Set(intent.secret.clone().unwrap_or_default());
            row.lease_expires_at = Set(Some(now + intent.lease_seconds * 1000));
            row.disabled_at = Set(None);
            row.disabled_reason = Set(None);
            row.updated_at = Set(now);
            row.update(db).await?;
        }
        (Mode::Subscribe, None) => {
            let practice_id = &intent.topic.practice_id;
            let head =
                practice::Entity::find_by_id(practice_id).one(db).await?.ok_or(AppError::NotFound("practice"))?;
            let types: Vec<&str> = intent.topic.types.iter().map(|t| t.as_str()).collect();
            webhook_endpoint::ActiveModel {
                id: Set(new_id("wsb")),
                practice_id: Set(practice_id.clone()),
                url: Set(intent.callback.clone()),
                event_types: Set(serde_json::to_string(&types)?),
                description: Set(Some("WebSub subscription".into())),
                secret: Set(intent.secret.clone().unwrap_or_default()),
                previous_secret: Set(None),
                previous_secret_expires_at: Set(None),
                disabled_at: Set(None),
                disabled_reason: Set(None),
                failing_since: Set(None),
                // The events from now on.
                last_enqueued_seq: Set(head.last_seq),
                lease_until: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                protocol: Set(webhook_endpoint::WEBSUB.to_string()),
                topic: Set(Some(intent.topic.url.clone())),
                lease_expires_at: Set(Some(now + intent.lease_seconds * 1000)),
            }
            .insert(db)
            .await?;
        }
    }
    Ok(true)
}

/// How many endpoints and subscriptions the practice has besides `intent`'s own (for
/// `maxWebhookEndpoints`: renewing a subscription takes no new place).
pub async fn count_others(db: &DatabaseConnection, intent: &Intent) -> AppResult<u64> {
    let rows =
        webhook_endpoint::Entity::find().filter(webhook_endpoint::Column::PracticeId.eq(&intent.topic.practice_id));
    let all = rows.count(db).await?;
    let own = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Protocol.eq(webhook_endpoint::WEBSUB))
        .filter(webhook_endpoint::Column::Url.eq(&intent.callback))
        .filter(webhook_endpoint::Column::Topic.eq(&intent.topic.url))
        .count(db)
        .await?;
    Ok(all - own.min(all))
}
