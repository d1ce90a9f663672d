//! Pruning what is past its retention: events oldest first, per practice, a page at a
//! time: only a prefix of a practice's log is ever deleted, so what is kept stays
//! gapless, and a cursor before the oldest kept event answers CURSOR_EXPIRED. The deletes
//! take no practice lock (new events are appended at the other end of the log), and each
//! is a short statement of its own.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::db::entities::{event, idempotency, practice, webhook_attempt, webhook_delivery};
use crate::domain::Services;
use crate::error::AppResult;
use crate::vocab::WebhookDeliveryStatus;

use super::settings::RetentionArgs;

/// Rows looked at (and at most deleted) per statement.
const PAGE: u64 = 500;
/// Pages per practice and round, so one practice's backlog does not starve the others.
const PAGES_PER_ROUND: usize = 20;

/// What one round deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub events: u64,
    pub deliveries: u64,
    pub idempotency_keys: u64,
    pub audit_entries: u64,
}

/// How often a replica prunes.
pub fn interval(settings: &RetentionArgs) -> Duration {
    (settings.event_retention / 2).min(Duration::from_secs(60))
}

/// Prunes every `interval` until `stop`.
pub async fn run(services: Services, settings: RetentionArgs, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(interval(&settings));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match prune(&services, &settings).await {
            Ok(pruned) if pruned != Pruned::default() => tracing::info!(?pruned, "retention pruned"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "retention pruning failed; trying again next round"),
        }
    }
}

/// One round: whatever is older than its retention, now.
pub async fn prune(s: &Services, settings: &RetentionArgs) -> AppResult<Pruned> {
    let now = s.now_ms();
    let before = |retention: Duration| now - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut pruned = Pruned::default();
    let practices: Vec<String> =
        practice::Entity::find().select_only().column(practice::Column::Id).into_tuple().all(&s.db).await?;
    for practice_id in practices {
        pruned.events += prune_events(s, &practice_id, before(settings.event_retention)).await?;
    }
    pruned.deliveries = prune_deliveries(s, before(settings.webhook_retention)).await?;
    pruned.idempotency_keys = prune_idempotency(s, before(settings.idempotency_retention)).await?;
    pruned.audit_entries = crate::audit::prune(&s.db, before(settings.audit_retention)).await?;
    Ok(pruned)
}

/// Deletes the practice's events older than `cutoff` (ms), oldest first, up to the first
/// event that is not.
async fn prune_events(s: &Services, practice_id: &str, cutoff: i64) -> AppResult<u64> {
    let mut deleted = 0;
    for _ in 0..PAGES_PER_ROUND {
        let oldest: Vec<(i64, i64)> = event::Entity::find()
            .select_only()
            .column(event::Column::Seq)
            .column(event::Column::OccurredAt)
            .filter(event::Column::PracticeId.eq(practice_id))
            .order_by_asc(event::Column::Seq)
            .limit(PAGE)
            .into_tuple()
            .all(&s.db)
            .await?;
        let old = oldest.iter().take_while(|(_, at)| *at < cutoff).count();
        let Some((through, _)) = old.checked_sub(1).map(|last| oldest[last]) else { break };
        let result = event::Entity::delete_many()
            .filter(event::Column::PracticeId.eq(practice_id))
            .filter(event::Column::Seq.lte(through))
            .exec(&s.db)
            .await?;
        deleted += result.rows_affected;
        if old < oldest.len() || (oldest.len() as u64) < PAGE {
            break;
        }
    }
    Ok(deleted)
}

/// Deletes finished webhook deliveries last changed before `cutoff`, with their attempts.
async fn prune_deliveries(s: &Services, cutoff: i64) -> AppResult<u64> {
    let finished = [WebhookDeliveryStatus::Succeeded.as_str(), WebhookDeliveryStatus::Failed.as_str()];
    let mut deleted = 0;
    loop {
        let ids: Vec<String> = webhook_delivery::Entity::find()
            .select_only()
            .column(webhook_delivery::Column::Id)
            .filter(webhook_delivery::Column::Status.is_in(finished))
            .filter(webhook_delivery::Column::UpdatedAt.lt(cutoff))
            .limit(PAGE)
            .into_tuple()
            .all(&s.db)
            .await?;
        if ids.is_empty() {
            return Ok(deleted);
        }
        webhook_attempt::Entity::delete_many()
            .filter(webhook_attempt::Column::DeliveryId.is_in(ids.iter().map(String::as_str)))
            .exec(&s.db)
            .await?;
        let result = webhook_delivery::Entity::delete_many()
            .filter(webhook_delivery::Column::Id.is_in(ids.iter().map(String::as_str)))
            .filter(webhook_delivery::Column::Status.is_in(finished))
            .exec(&s.db)
            .await?;
        deleted += result.rows_affected;
        if (ids.len() as u64) < PAGE {
            return Ok(deleted);
        }
    }
}

/// Forgets idempotency keys stored before `cutoff` (small rows: one statement).
async fn prune_idempotency(s: &Services, cutoff: i64) -> AppResult<u64> {
    let result =
        idempotency::Entity::delete_many().filter(idempotency::Column::CreatedAt.lt(cutoff)).exec(&s.db).await?;
    Ok(result.rows_affected)
}
