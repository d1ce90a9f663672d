//! Webhook endpoints: registered by a practice's ADMIN or BACKOFFICE keys, each with its
//! own signing secret (shown once) and the event types it wants.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel};
use sea_orm::{PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};

use super::guard::Allowlist;
use super::inputs::{self, *};
use super::signing::new_secret;
use crate::auth::Principal;
use crate::clock::from_millis;
use crate::db::entities::{practice, webhook_attempt, webhook_delivery, webhook_endpoint};
use crate::domain::{Begun, MutationTx, Services, new_id, validate};
use crate::error::{AppError, AppResult};
use crate::limits::Limits;
use crate::vocab::{EventType, WebhookEndpoint, WebhookEndpointSecret};

/// The most endpoints one practice may register.
const MAX_ENDPOINTS: u64 = 50;

pub fn view(row: &webhook_endpoint::Model) -> WebhookEndpoint {
    WebhookEndpoint {
        id: row.id.clone(),
        practice_id: row.practice_id.clone(),
        url: row.url.clone(),
        event_types: stored_types(&row.event_types),
        description: row.description.clone(),
        enabled: row.disabled_at.is_none(),
        disabled_at: row.disabled_at.map(from_millis),
        disabled_reason: row.disabled_reason.clone(),
        failing_since: row.failing_since.map(from_millis),
        previous_secret_expires_at: row.previous_secret_expires_at.map(from_millis),
        created_at: from_millis(row.created_at),
        updated_at: from_millis(row.updated_at),
    }
}

/// The stored event-type filter; empty means every type.
pub fn stored_types(json: &str) -> Vec<EventType> {
    let names: Vec<String> = serde_json::from_str(json).unwrap_or_default();
    names.iter().filter_map(|n| EventType::parse(n)).collect()
}

/// The endpoint `id`, if the caller may manage it: SUBSCRIBER keys are FORBIDDEN, and
/// another practice's endpoint does not exist for the caller.
pub async fn load(conn: &impl ConnectionTrait, who: &Principal, id: &str) -> AppResult<webhook_endpoint::Model> {
    let id = validate::id("id", id)?;
    who.require_writer()?;
    let row = webhook_endpoint::Entity::find_by_id(id)
        .filter(webhook_endpoint::Column::Protocol.eq(webhook_endpoint::WEBHOOK))
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("webhook endpoint"))?;
    who.write(&row.practice_id, "webhook endpoint")?;
    Ok(row)
}

#[tracing::instrument(skip_all)]
pub async fn create(
    s: &Services,
    who: &Principal,
    allow: &Allowlist,
    input: CreateWebhookEndpointInput,
) -> AppResult<WebhookEndpointSecret> {
    let practice_id = validate::id("practiceId", &input.practice_id)?.to_string();
    who.write(&practice_id, "practice")?;
    let url = inputs::url(&input.url, allow).await?;
    let event_types = inputs::event_types(input.event_types.as_deref())?;
    let description = inputs::description(input.description.as_deref())?;
    // Read before the transaction: inside it, a read through the pool would wait for the
    // connection the transaction holds (SQLite has one).
    let quota = s.limits.quota(&practice_id).await;
    let tx = match MutationTx::begin(s, who, "createWebhookEndpoint", input.idempotency_key.as_deref(), &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    let practice =
        practice::Entity::find_by_id(&practice_id).one(tx.conn()).await?.ok_or(AppError::NotFound("practice"))?;
    let count = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::PracticeId.eq(&practice_id))
        .count(tx.conn())
        .await?;
    Limits::check_webhook_endpoints(&quota, count)?;
    if count >= MAX_ENDPOINTS {
        return Err(AppError::bad_input(format!("a practice may have at most {MAX_ENDPOINTS} webhook endpoints")));
    }
    let now = tx.now_ms();
    let secret = new_secret();
    let row = webhook_endpoint::ActiveModel {
        id: Set(new_id("whe")),
        practice_id: Set(practice_id),
        url: Set(url),
        event_types: Set(event_types),
        description: Set(description),
        secret: Set(secret.clone()),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
        disabled_at: Set(None),
        disabled_reason: Set(None),
        failing_since: Set(None),
        // Events from now on; earlier ones can be sent with `replayWebhooks`.
        last_enqueued_seq: Set(practice.last_seq),
        lease_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        protocol: Set(webhook_endpoint::WEBHOOK.to_string()),
        topic: Set(None),
        lease_expires_at: Set(None),
    }
    .insert(tx.conn())
    .await?;
    let endpoint = view(&row);
    // A replay must not hand out the secret again, and the result store must not keep it.
    let stored = serde_json::to_string(&WebhookEndpointSecret { endpoint: endpoint.clone(), secret: String::new() })?;
    tx.commit_storing(WebhookEndpointSecret { endpoint, secret }, stored).await
}

#[tracing::instrument(skip_all)]
pub async fn update(
    s: &Services,
    who: &Principal,
    allow: &Allowlist,
    input: UpdateWebhookEndpointInput,
) -> AppResult<WebhookEndpoint> {
    validate::id("id", &input.id)?;
    let url = match &input.url {
        Some(url) => Some(inputs::url(url, allow).await?),
        None => None,
    };
    let event_types = input.event_types.as_deref().map(|t| inputs::event_types(Some(t))).transpose()?;
    // `None`: omitted, stays as it is; `Some(None)`: null, cleared.
    let description = match &input.description {
        Some(Some(v)) => Some(inputs::description(Some(v))?),
        Some(None) => Some(None),
        None => None,
    };
    let tx = match MutationTx::begin(s, who, "updateWebhookEndpoint", input.idempotency_key.as_deref(), &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    let row = load(tx.conn(), who, &input.id).await?;
    let now = tx.now_ms();
    let was_enabled = row.disabled_at.is_none();
    let mut active = row.into_active_model();
    if let Some(url) = url {
        active.url = Set(url);
    }
    if let Some(types) = event_types {
        active.event_types = Set(types);
    }
    if let Some(description) = description {
        active.description = Set(description);
    }
    match input.enabled {
        Some(true) if !was_enabled => {
            active.disabled_at = Set(None);
            active.disabled_reason = Set(None);
            active.failing_since = Set(None);
        }
        Some(false) if was_enabled => {
            active.disabled_at = Set(Some(now));
            active.disabled_reason = Set(Some("disabled by request".into()));
        }
        _ => {}
    }
    active.updated_at = Set(now);
    let row = active.update(tx.conn()).await?;
    tx.commit(view(&row)).await
}

#[tracing::instrument(skip_all)]
pub async fn rotate(
    s: &Services,
    who: &Principal,
    input: RotateWebhookSecretInput,
) -> AppResult<WebhookEndpointSecret> {
    validate::id("id", &input.id)?;
    let grace_ms = inputs::grace_seconds(input.grace_seconds)? * 1000;
    let tx = match MutationTx::begin(s, who, "rotateWebhookSecret", input.idempotency_key.as_deref(), &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    let row = load(tx.conn(), who, &input.id).await?;
    let now = tx.now_ms();
    let secret = new_secret();
    let mut active = row.clone().into_active_model();
    active.previous_secret = Set((grace_ms > 0).then(|| row.secret.clone()));
    active.previous_secret_expires_at = Set((grace_ms > 0).then_some(now + grace_ms));
    active.secret = Set(secret.clone());
    active.updated_at = Set(now);
    let row = active.update(tx.conn()).await?;
    let endpoint = view(&row);
    let stored = serde_json::to_string(&WebhookEndpointSecret { endpoint: endpoint.clone(), secret: String::new() })?;
    tx.commit_storing(WebhookEndpointSecret { endpoint, secret }, stored).await
}

/// Deletes the endpoint with its deliveries and their attempts.
#[tracing::instrument(skip_all)]
pub async fn delete(s: &Services, who: &Principal, input: DeleteWebhookEndpointInput) -> AppResult<WebhookEndpoint> {
    validate::id("id", &input.id)?;
    let tx = match MutationTx::begin(s, who, "deleteWebhookEndpoint", input.idempotency_key.as_deref(), &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    let row = load(tx.conn(), who, &input.id).await?;
    remove(tx.conn(), &row.id).await?;
    tx.commit(view(&row)).await
}

/// Deletes an endpoint (or WebSub subscription) row with its deliveries and their attempts.
pub(crate) async fn remove(conn: &impl ConnectionTrait, id: &str) -> AppResult<()> {
    let deliveries = webhook_delivery::Entity::find()
        .select_only()
        .column(webhook_delivery::Column::Id)
        .filter(webhook_delivery::Column::EndpointId.eq(id))
        .into_query();
    webhook_attempt::Entity::delete_many()
        .filter(webhook_attempt::Column::DeliveryId.in_subquery(deliveries))
        .exec(conn)
        .await?;
    webhook_delivery::Entity::delete_many().filter(webhook_delivery::Column::EndpointId.eq(id)).exec(conn).await?;
    webhook_endpoint::Entity::delete_by_id(id).exec(conn).await?;
    Ok(())
}

/// A practice's endpoints, oldest first.
pub async fn list(s: &Services, who: &Principal, practice_id: &str) -> AppResult<Vec<WebhookEndpoint>> {
    let practice_id = validate::id("practiceId", practice_id)?;
    who.write(practice_id, "practice")?;
    let rows = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::PracticeId.eq(practice_id))
        .filter(webhook_endpoint::Column::Protocol.eq(webhook_endpoint::WEBHOOK))
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(&s.db)
        .await?;
    Ok(rows.iter().map(view).collect())
}
