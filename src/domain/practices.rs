//! Practices: the tenants. Only a global admin creates them.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;

use super::{Begun, MutationTx, Services, new_id, paging, validate};
use crate::auth::Principal;
use crate::clock::from_millis;
use crate::db::entities::practice;
use crate::error::{AppError, AppResult};
use crate::vocab::Practice;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePracticeInput {
    pub name: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub timezone: String,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
    #[serde(skip)]
    pub idempotency_key: Option<String>,
}

pub fn view(row: practice::Model) -> Practice {
    Practice {
        id: row.id,
        name: row.name,
        timezone: row.timezone,
        currency: row.currency,
        created_at: from_millis(row.created_at),
    }
}

#[tracing::instrument(skip_all)]
pub async fn create(s: &Services, who: &Principal, input: CreatePracticeInput) -> AppResult<Practice> {
    who.require_admin(None)?;
    let name = validate::name("name", &input.name)?;
    let timezone = validate::timezone(&input.timezone)?;
    let currency = validate::currency(&input.currency)?;
    let tx = match MutationTx::begin(s, who, "createPractice", input.idempotency_key.as_deref(), &input).await? {
        Begun::Replayed(done) => return Ok(done),
        Begun::Fresh(tx) => tx,
    };
    let row = practice::ActiveModel {
        id: Set(new_id("prc")),
        name: Set(name),
        timezone: Set(timezone),
        currency: Set(currency),
        last_seq: Set(0),
        created_at: Set(tx.now_ms()),
    }
    .insert(tx.conn())
    .await?;
    tx.commit(view(row)).await
}

pub async fn get(s: &Services, who: &Principal, id: &str) -> AppResult<Practice> {
    let id = validate::id("id", id)?;
    who.read(id, "practice")?;
    let row = practice::Entity::find_by_id(id).one(&s.db).await?.ok_or(AppError::NotFound("practice"))?;
    Ok(view(row))
}

/// The practices the caller can see: all for a global admin, its own otherwise.
pub async fn list(
    s: &Services,
    who: &Principal,
    first: Option<i32>,
    after: Option<&str>,
) -> AppResult<paging::Page<Practice>> {
    let limit = validate::page_size(first)?;
    let mut query = practice::Entity::find().order_by_asc(practice::Column::Id);
    if let Some(own) = who.practice_id() {
        query = query.filter(practice::Column::Id.eq(own));
    }
    if let Some(after) = after {
        query = query.filter(practice::Column::Id.gt(paging::decode(after)?));
    }
    let rows = query.limit(limit + 1).all(&s.db).await?;
    Ok(paging::Page::from_rows(rows, limit, after.is_some(), |r| (paging::encode(&r.id), view(r))))
}
