//! Providers: the clinicians appointments are booked with.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde::Serialize;

use super::{Begun, MutationTx, Services, new_id, validate};
use crate::auth::Principal;
use crate::db::entities::{practice, provider};
use crate::error::{AppError, AppResult};
use crate::vocab::{Provider, ProviderKind};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateProviderInput {
    pub practice_id: String,
    pub name: String,
    pub kind: ProviderKind,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

pub fn view(row: provider::Model) -> Provider {
    Provider {
        id: row.id,
        practice_id: row.practice_id,
        name: row.name,
        kind: ProviderKind::parse(&row.kind).unwrap_or(ProviderKind::Other),
    }
}

#[tracing::instrument(skip_all)]
pub async fn create(s: &Services, who: &Principal, input: CreateProviderInput) -> AppResult<Provider> {
    let practice_id = validate::id("practiceId", &input.practice_id)?.to_string();
    who.write(&practice_id, "practice")?;
    let name = validate::name("name", &input.name)?;
    let tx = match MutationTx::begin(s, who, "createProvider", input.idempotency_key.as_deref(), &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    practice::Entity::find_by_id(&practice_id).one(tx.conn()).await?.ok_or(AppError::NotFound("practice"))?;
    let row = provider::ActiveModel {
        id: Set(new_id("prv")),
        practice_id: Set(practice_id),
        name: Set(name),
        kind: Set(input.kind.as_str().to_string()),
        created_at: Set(tx.now_ms()),
    }
    .insert(tx.conn())
    .await?;
    let provider = tx.commit(view(row)).await?;
    s.owners.remember(&provider.id, &provider.practice_id);
    Ok(provider)
}

/// Loads a provider the caller may see.
/// The practice of a provider the caller may see (cached: a provider never changes practice).
pub async fn practice_of(s: &Services, who: &Principal, id: &str) -> AppResult<String> {
    s.owners
        .practice_of::<provider::Entity>(&s.db, who, ("providerId", "provider"), id, provider::Column::PracticeId)
        .await
}

pub async fn load(conn: &impl ConnectionTrait, who: &Principal, id: &str) -> AppResult<provider::Model> {
    let id = validate::id("providerId", id)?;
    let row = provider::Entity::find_by_id(id).one(conn).await?.ok_or(AppError::NotFound("provider"))?;
    who.read(&row.practice_id, "provider")?;
    Ok(row)
}

pub async fn get(s: &Services, who: &Principal, id: &str) -> AppResult<Provider> {
    load(&s.db, who, id).await.map(view)
}

/// A practice's providers, by name.
pub async fn list(s: &Services, who: &Principal, practice_id: &str) -> AppResult<Vec<Provider>> {
    use sea_orm::{ColumnTrait, QueryFilter, QueryOrder};
    let practice_id = validate::id("practiceId", practice_id)?;
    who.read(practice_id, "practice")?;
    practice::Entity::find_by_id(practice_id).one(&s.db).await?.ok_or(AppError::NotFound("practice"))?;
    let rows = provider::Entity::find()
        .filter(provider::Column::PracticeId.eq(practice_id))
        .order_by_asc(provider::Column::Name)
        .all(&s.db)
        .await?;
    Ok(rows.into_iter().map(view).collect())
}
