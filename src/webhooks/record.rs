//! Recording an attempt: its row, the delivery's next state (delivered, retried later on
//! the schedule or as `Retry-After` asks, or failed for good), and the endpoint's health
//! (a 410 or failing for longer than `WEBHOOK_DISABLE_AFTER` disables it). Releases the
//! endpoint's lease.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, DatabaseConnection, DatabaseTransaction, EntityTrait, IntoActiveModel,
    TransactionTrait,
};

use super::claim::Claimed;
use super::sender::Outcome;
use super::settings::WebhookArgs;
use crate::clock::from_millis;
use crate::db::entities::{webhook_attempt, webhook_delivery, webhook_endpoint};
use crate::error::AppResult;
use crate::vocab::WebhookDeliveryStatus;

/// What becomes of the delivery after an attempt.
#[derive(Debug, PartialEq)]
pub enum Next {
    Delivered,
    RetryAt(i64),
    GiveUp,
}

/// Decides the delivery's fate. `round` counts this round's attempts, this one included.
pub fn next(outcome: &Outcome, round: usize, settings: &WebhookArgs, now_ms: i64, gone: bool) -> Next {
    if outcome.succeeded() {
        return Next::Delivered;
    }
    if gone {
        return Next::GiveUp;
    }
    match settings.retry_schedule.delay_after(round) {
        None => Next::GiveUp,
        Some(delay) => Next::RetryAt(now_ms + outcome.retry_after.unwrap_or(delay).as_millis() as i64),
    }
}

/// Why the endpoint must stop receiving, if it must.
fn disable_reason(outcome: &Outcome, failing_since: i64, settings: &WebhookArgs, now_ms: i64) -> Option<String> {
    if outcome.status == Some(410) {
        return Some("the endpoint answered 410 Gone".into());
    }
    let limit = settings.disable_after.as_millis() as i64;
    (now_ms - failing_since >= limit).then(|| {
        format!("every attempt failed since {} (longer than {limit} ms)", from_millis(failing_since).to_rfc3339())
    })
}

/// Stores the attempt and its consequences in one transaction. `gone` marks an event no
/// longer in the log (pruned), which no retry can deliver.
pub async fn record(
    db: &DatabaseConnection,
    claimed: &Claimed,
    outcome: &Outcome,
    settings: &WebhookArgs,
    attempted_at: i64,
    gone: bool,
) -> AppResult<()> {
    let txn = db.begin().await?;
    // Read again: the delivery may have been redelivered or deleted while in flight.
    let Some(delivery) = webhook_delivery::Entity::find_by_id(&claimed.delivery.id).one(&txn).await? else {
        return Ok(txn.commit().await?);
    };
    let now = attempted_at + outcome.latency_ms;
    let number = delivery.attempts + 1;
    webhook_attempt::ActiveModel {
        delivery_id: Set(delivery.id.clone()),
        number: Set(number),
        attempted_at: Set(attempted_at),
        status_code: Set(outcome.status.map(i32::from)),
        latency_ms: Set(outcome.latency_ms),
        error: Set(outcome.error.clone()),
    }
    .insert(&txn)
    .await?;
    // Redelivered or replayed while this attempt was in flight: the new request stands.
    let requeued = delivery.generation != claimed.delivery.generation;
    let round = delivery.round_attempts + 1;
    let mut active = delivery.into_active_model();
    active.attempts = Set(number);
    active.last_status_code = Set(outcome.status.map(i32::from));
    active.last_latency_ms = Set(Some(outcome.latency_ms));
    active.last_error = Set(outcome.error.clone());
    active.updated_at = Set(now);
    if requeued {
        active.update(&txn).await?;
        release(&txn, claimed, outcome, settings, attempted_at, now).await?;
        return Ok(txn.commit().await?);
    }
    active.round_attempts = Set(round);
    let status = match next(outcome, round as usize, settings, now, gone) {
        Next::Delivered => {
            active.delivered_at = Set(Some(now));
            active.next_attempt_at = Set(None);
            WebhookDeliveryStatus::Succeeded
        }
        Next::RetryAt(at) => {
            active.next_attempt_at = Set(Some(at));
            WebhookDeliveryStatus::Pending
        }
        Next::GiveUp => {
            active.next_attempt_at = Set(None);
            WebhookDeliveryStatus::Failed
        }
    };
    active.status = Set(status.as_str().to_string());
    active.update(&txn).await?;
    release(&txn, claimed, outcome, settings, attempted_at, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Updates the endpoint's health after the attempt and releases its lease.
async fn release(
    txn: &DatabaseTransaction,
    claimed: &Claimed,
    outcome: &Outcome,
    settings: &WebhookArgs,
    attempted_at: i64,
    now: i64,
) -> AppResult<()> {
    if let Some(endpoint) = webhook_endpoint::Entity::find_by_id(&claimed.endpoint.id).one(txn).await? {
        let mut active = endpoint.clone().into_active_model();
        active.lease_until = Set(None);
        if outcome.succeeded() {
            active.failing_since = Set(None);
        } else {
            let since = endpoint.failing_since.unwrap_or(attempted_at);
            active.failing_since = Set(Some(since));
            if endpoint.disabled_at.is_none()
                && let Some(reason) = disable_reason(outcome, since, settings, now)
            {
                tracing::warn!(endpoint = %endpoint.id, %reason, "webhook endpoint disabled");
                active.disabled_at = Set(Some(now));
                active.disabled_reason = Set(Some(reason));
                active.updated_at = Set(now);
            }
        }
        active.update(txn).await?;
    }
    Ok(())
}
