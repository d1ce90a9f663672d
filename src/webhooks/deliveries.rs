//! Deliveries as the API shows them (`webhookDeliveries`, with every attempt), and sending
//! them again: one (`redeliverWebhook`) or every event after a cursor (`replayWebhooks`).

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::HashMap;

use super::endpoints::{self, stored_types};
use super::inputs::{RedeliverWebhookInput, ReplayWebhooksInput};
use super::queue;
use crate::auth::Principal;
use crate::clock::from_millis;
use crate::db::entities::{webhook_attempt, webhook_delivery};
use crate::db::paging::{self, Page};
use crate::domain::{Begun, MutationTx, Services, validate};
use crate::error::{AppError, AppResult};
use crate::events::{Cursor, log};
use crate::vocab::{EventType, WebhookAttempt, WebhookDelivery, WebhookDeliveryStatus, WebhookReplay};

/// Events read from the log per step of a replay.
const REPLAY_BATCH: u64 = 500;

fn view(row: webhook_delivery::Model, attempts: Vec<WebhookAttempt>) -> WebhookDelivery {
    WebhookDelivery {
        id: row.id,
        endpoint_id: row.endpoint_id,
        webhook_id: Cursor { practice_id: row.practice_id, seq: row.seq }.encode(),
        seq: row.seq,
        event_type: EventType::parse(&row.event_type).unwrap_or(EventType::PatientCreated),
        status: WebhookDeliveryStatus::parse(&row.status).unwrap_or(WebhookDeliveryStatus::Pending),
        attempt_count: row.attempts,
        next_attempt_at: row.next_attempt_at.filter(|_| row.status == "PENDING").map(from_millis),
        last_status_code: row.last_status_code,
        last_latency_ms: row.last_latency_ms,
        last_error: row.last_error,
        delivered_at: row.delivered_at.map(from_millis),
        created_at: from_millis(row.created_at),
        attempts,
    }
}

/// The deliveries with their attempts, read in one query for all of them.
async fn with_attempts(
    conn: &impl ConnectionTrait,
    rows: Vec<webhook_delivery::Model>,
) -> AppResult<Vec<WebhookDelivery>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut by_delivery: HashMap<String, Vec<WebhookAttempt>> = HashMap::new();
    for a in webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.is_in(ids))
        .order_by_asc(webhook_attempt::Column::Number)
        .all(conn)
        .await?
    {
        by_delivery.entry(a.delivery_id).or_default().push(WebhookAttempt {
            number: a.number,
            attempted_at: from_millis(a.attempted_at),
            status_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error,
        });
    }
    Ok(rows.into_iter().map(|r| view(r.clone(), by_delivery.remove(&r.id).unwrap_or_default())).collect())
}

/// An endpoint's deliveries in seq order, optionally of one status.
pub async fn list(
    s: &Services,
    who: &Principal,
    endpoint_id: &str,
    status: Option<WebhookDeliveryStatus>,
    first: Option<i32>,
    after: Option<&str>,
) -> AppResult<Page<WebhookDelivery>> {
    let limit = validate::page_size(first)?;
    let after_seq = match after {
        Some(cursor) => {
            paging::decode(cursor)?.parse::<i64>().map_err(|_| AppError::bad_input("after: invalid cursor"))?
        }
        None => 0,
    };
    let endpoint = endpoints::load(&s.db, who, endpoint_id).await?;
    let mut query = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(&endpoint.id))
        .filter(webhook_delivery::Column::Seq.gt(after_seq));
    if let Some(status) = status {
        query = query.filter(webhook_delivery::Column::Status.eq(status.as_str()));
    }
    let rows = query.order_by_asc(webhook_delivery::Column::Seq).limit(limit + 1).all(&s.db).await?;
    let has_next = rows.len() as u64 > limit;
    let deliveries = with_attempts(&s.db, rows.into_iter().take(limit as usize).collect()).await?;
    Ok(Page {
        items: deliveries.into_iter().map(|d| (paging::encode(&d.seq.to_string()), d)).collect(),
        has_next,
        has_previous: after.is_some(),
    })
}

/// Sends one delivery again, whatever its status: due now, with a fresh retry schedule.
/// It keeps its place in the endpoint's seq order.
#[tracing::instrument(skip_all)]
pub async fn redeliver(s: &Services, who: &Principal, input: RedeliverWebhookInput) -> AppResult<WebhookDelivery> {
    let id = validate::id("deliveryId", &input.delivery_id)?;
    who.require_writer()?;
    let tx = match MutationTx::begin(s, who, "redeliverWebhook", input.idempotency_key.as_deref(), &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    let row =
        webhook_delivery::Entity::find_by_id(id).one(tx.conn()).await?.ok_or(AppError::NotFound("webhook delivery"))?;
    who.write(&row.practice_id, "webhook delivery")?;
    queue::requeue_one(tx.conn(), &row.id, tx.now_ms()).await?;
    let row =
        webhook_delivery::Entity::find_by_id(id).one(tx.conn()).await?.ok_or(AppError::NotFound("webhook delivery"))?;
    let delivery = with_attempts(tx.conn(), vec![row]).await?.remove(0);
    tx.commit(delivery).await
}

/// Sends the endpoint's events after `after` again, in seq order: those already delivered
/// (or failed) are queued anew, those never queued (before the endpoint existed) are
/// queued for the first time. Events the dispatcher has not reached yet are left to it.
#[tracing::instrument(skip_all)]
pub async fn replay(s: &Services, who: &Principal, input: ReplayWebhooksInput) -> AppResult<WebhookReplay> {
    validate::id("endpointId", &input.endpoint_id)?;
    let tx = match MutationTx::begin(s, who, "replayWebhooks", input.idempotency_key.as_deref(), &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    let endpoint = endpoints::load(tx.conn(), who, &input.endpoint_id).await?;
    let mut after = match &input.after {
        Some(cursor) => {
            let cursor = Cursor::decode_for(cursor, &endpoint.practice_id)?;
            log::check_resume_point(tx.conn(), &endpoint.practice_id, cursor.seq).await?;
            cursor.seq
        }
        None => log::first_seq(tx.conn(), &endpoint.practice_id).await?.map_or(0, |first| first - 1),
    };
    let types = stored_types(&endpoint.event_types);
    let types = (!types.is_empty()).then_some(types.as_slice());
    let now = tx.now_ms();
    let mut queued = 0;
    loop {
        let events = log::read_range(
            tx.conn(),
            &endpoint.practice_id,
            after,
            Some(endpoint.last_enqueued_seq),
            types,
            REPLAY_BATCH,
        )
        .await?;
        let Some(last) = events.last() else { break };
        after = last.seq;
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        queue::requeue_seqs(tx.conn(), &endpoint.id, &seqs, now).await?;
        queue::enqueue(tx.conn(), &endpoint.id, &events, now).await?;
        queued += events.len() as i32;
    }
    tx.commit(WebhookReplay { endpoint: endpoints::view(&endpoint), queued }).await
}
