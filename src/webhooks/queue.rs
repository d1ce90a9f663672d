//! Putting events on an endpoint's queue: one delivery row per (endpoint, event), so
//! enqueueing the same event twice (two dispatchers, a replay) is a no-op.

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::db::entities::webhook_delivery::{self, Column};
use crate::domain::new_id;
use crate::error::AppResult;
use crate::events::StoredEvent;
use crate::vocab::WebhookDeliveryStatus;

/// Queues `events` for the endpoint, due at once. Events already queued are left alone.
pub async fn enqueue(
    conn: &impl ConnectionTrait,
    endpoint_id: &str,
    events: &[StoredEvent],
    now_ms: i64,
) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows = events.iter().map(|event| webhook_delivery::ActiveModel {
        id: Set(new_id("whd")),
        endpoint_id: Set(endpoint_id.to_string()),
        practice_id: Set(event.practice_id.clone()),
        seq: Set(event.seq),
        event_type: Set(event.event_type.as_str().to_string()),
        status: Set(WebhookDeliveryStatus::Pending.as_str().to_string()),
        attempts: Set(0),
        round_attempts: Set(0),
        next_attempt_at: Set(Some(now_ms)),
        generation: Set(0),
        last_status_code: Set(None),
        last_latency_ms: Set(None),
        last_error: Set(None),
        delivered_at: Set(None),
        created_at: Set(now_ms),
        updated_at: Set(now_ms),
    });
    webhook_delivery::Entity::insert_many(rows)
        .on_conflict_do_nothing_on([Column::EndpointId, Column::Seq])
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// Puts the endpoint's existing deliveries of `seqs` back in the queue as if new: due now,
/// with a fresh retry schedule. Their attempts stay on record.
pub async fn requeue_seqs(conn: &impl ConnectionTrait, endpoint_id: &str, seqs: &[i64], now_ms: i64) -> AppResult<()> {
    requeue(webhook_delivery::Entity::update_many(), now_ms)
        .filter(Column::EndpointId.eq(endpoint_id))
        .filter(Column::Seq.is_in(seqs.iter().copied()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Puts one delivery back in the queue.
pub async fn requeue_one(conn: &impl ConnectionTrait, delivery_id: &str, now_ms: i64) -> AppResult<()> {
    requeue(webhook_delivery::Entity::update_many(), now_ms).filter(Column::Id.eq(delivery_id)).exec(conn).await?;
    Ok(())
}

fn requeue(
    update: sea_orm::UpdateMany<webhook_delivery::Entity>,
    now_ms: i64,
) -> sea_orm::UpdateMany<webhook_delivery::Entity> {
    update
        .col_expr(Column::Status, Expr::value(WebhookDeliveryStatus::Pending.as_str()))
        .col_expr(Column::RoundAttempts, Expr::value(0))
        .col_expr(Column::Generation, Expr::col(Column::Generation).add(1))
        .col_expr(Column::NextAttemptAt, Expr::value(now_ms))
        .col_expr(Column::UpdatedAt, Expr::value(now_ms))
}
