//! API keys: created by admins, shown once, stored as a hash, revocable.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};
use serde::Serialize;

use super::{Begun, MutationTx, Rejected, Services, new_id, validate};
use crate::auth::{Principal, new_key};
use crate::clock::{from_millis, to_millis};
use crate::db::entities::{api_key, practice};
use crate::error::{AppError, AppResult};
use crate::vocab::{ApiKey, CreatedApiKey, Role};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateApiKeyInput {
    pub role: Role,
    /// Required for BACKOFFICE and SUBSCRIBER keys; omitted for a global ADMIN key.
    pub practice_id: Option<String>,
    pub name: String,
    /// After this moment the key no longer authenticates.
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeApiKeyInput {
    pub id: String,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

pub fn view(row: api_key::Model) -> ApiKey {
    ApiKey {
        id: row.id,
        name: row.name,
        role: Role::parse(&row.role).unwrap_or(Role::Subscriber),
        practice_id: row.practice_id,
        prefix: row.key_prefix,
        created_at: from_millis(row.created_at),
        expires_at: row.expires_at.map(from_millis),
        revoked_at: row.revoked_at.map(from_millis),
    }
}

#[tracing::instrument(skip_all)]
pub async fn create(s: &Services, who: &Principal, input: CreateApiKeyInput) -> AppResult<CreatedApiKey> {
    let practice_id = input.practice_id.as_deref().map(|p| validate::id("practiceId", p)).transpose()?;
    who.require_admin(practice_id)?;
    if input.role == Role::Patient {
        return Err(AppError::bad_input(
            "role: PATIENT is granted by a person's access token (OIDC), never by an API key",
        ));
    }
    if practice_id.is_none() && input.role != Role::Admin {
        return Err(AppError::bad_input("practiceId: required for BACKOFFICE and SUBSCRIBER keys"));
    }
    let name = validate::name("name", &input.name)?;
    if let Some(expires_at) = input.expires_at
        && expires_at <= s.clock.now()
    {
        return Err(AppError::bad_input("expiresAt: must be in the future"));
    }
    let tx = match MutationTx::begin(s, who, "createApiKey", input.idempotency_key.as_deref(), &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    if let Some(practice_id) = practice_id {
        practice::Entity::find_by_id(practice_id).one(tx.conn()).await?.ok_or(AppError::NotFound("practice"))?;
    }
    let material = new_key();
    let row = api_key::ActiveModel {
        id: Set(new_id("key")),
        name: Set(name),
        role: Set(input.role.as_str().to_string()),
        practice_id: Set(practice_id.map(str::to_string)),
        key_prefix: Set(material.prefix),
        key_hash: Set(material.hash),
        created_at: Set(tx.now_ms()),
        expires_at: Set(input.expires_at.map(to_millis)),
        revoked_at: Set(None),
    }
    .insert(tx.conn())
    .await?;
    let created = CreatedApiKey { key: material.key, api_key: view(row) };
    // A replay must not hand out the secret again, and the secret must not be stored.
    let stored = serde_json::to_string(&CreatedApiKey { key: String::new(), api_key: created.api_key.clone() })?;
    tx.commit_storing(created, stored).await
}

#[tracing::instrument(skip_all)]
pub async fn revoke(s: &Services, who: &Principal, input: RevokeApiKeyInput) -> AppResult<ApiKey> {
    let id = validate::id("id", &input.id)?;
    who.require_writer()?;
    let tx = match MutationTx::begin(s, who, "revokeApiKey", input.idempotency_key.as_deref(), &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    let row = api_key::Entity::find_by_id(id).one(tx.conn()).await?.ok_or(AppError::NotFound("API key"))?;
    match (&row.practice_id, who) {
        (Some(p), _) => who.require_admin(Some(p)).map_err(|e| hide_foreign(e, who, p))?,
        (None, _) => who.require_admin(None).map_err(|_| AppError::NotFound("API key"))?,
    }
    if row.revoked_at.is_some() {
        return tx.commit(view(row)).await;
    }
    let mut active = row.into_active_model();
    active.revoked_at = Set(Some(tx.now_ms()));
    let row = active.update(tx.conn()).await?;
    let key_id = row.id.clone();
    let revoked = tx.commit(view(row)).await?;
    // This replica's sockets close now; other replicas' at once through the control
    // channel (with Redis), else within a second (the sweep).
    s.keys.forget(&key_id);
    s.sessions.close_key(&key_id, "API key revoked");
    s.limits.broadcast(crate::limits::Control::Revoked(key_id)).await;
    Ok(revoked)
}

/// A key of another practice does not exist for the caller.
fn hide_foreign(err: AppError, who: &Principal, practice_id: &str) -> AppError {
    match who.practice_id() {
        Some(own) if own != practice_id => AppError::NotFound("API key"),
        _ => err,
    }
}

pub async fn list(s: &Services, who: &Principal, practice_id: &str) -> AppResult<Vec<ApiKey>> {
    let practice_id = validate::id("practiceId", practice_id)?;
    who.require_admin(Some(practice_id))?;
    let rows = api_key::Entity::find()
        .filter(api_key::Column::PracticeId.eq(practice_id))
        .order_by_asc(api_key::Column::Id)
        .all(&s.db)
        .await?;
    Ok(rows.into_iter().map(view).collect())
}

/// Replaces the credentials of the calling websocket connection with `key` (an API key or
/// a person's access token), keeping its subscriptions: from then on its operations act as
/// the new credentials, and the old ones' revocation or expiry no longer closes it. A new
/// key must be of the same practice; a new token of the same person with the same grant.
pub async fn refresh(
    s: &Services,
    who: &Principal,
    connection: Option<&std::sync::Arc<crate::auth::Credentials>>,
    key: &str,
) -> AppResult<bool> {
    let presented = key.trim();
    let presented = crate::auth::bearer(presented).unwrap_or(presented);
    let new = s.authenticate(presented).await.map_err(|rejected| match rejected {
        Rejected::UnknownKey | Rejected::InvalidToken(_) => AppError::Unauthenticated,
        Rejected::NoScope(reason) => AppError::forbidden(reason),
        Rejected::Lookup(err) => err,
    })?;
    match (who.person(), new.person()) {
        (None, None) if new.practice_id() != who.practice_id() => {
            return Err(AppError::forbidden("the new key must belong to the same practice as the connection's key"));
        }
        (None, None) => {}
        (Some(old), Some(person)) if old.subject == person.subject && new.grant == who.grant => {}
        (Some(_), Some(_)) => {
            return Err(AppError::forbidden(
                "the new token must be the same person's, with the same practice and role",
            ));
        }
        _ => return Err(AppError::forbidden("a key's connection takes a key, a person's connection a token")),
    }
    let connection = connection.ok_or_else(|| {
        AppError::bad_input("refreshCredentials replaces a websocket connection's key: send it over that connection")
    })?;
    connection.replace(new);
    Ok(true)
}
