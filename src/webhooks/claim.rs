//! Claiming due deliveries, and recording what an attempt did. A claim takes the oldest
//! pending delivery of each endpoint (FIFO: a failing one holds back the later ones) and
//! leases the endpoint, so no other worker attempts that endpoint while it is in flight.
//! On Postgres the claim skips endpoints another replica is claiming (`SKIP LOCKED`).

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult, QueryFilter, Statement,
    TransactionTrait,
};

use crate::db::entities::{webhook_delivery, webhook_endpoint};
use crate::error::AppResult;

/// A delivery this worker may attempt now, with its endpoint as it was when claimed.
pub struct Claimed {
    pub delivery: webhook_delivery::Model,
    pub endpoint: webhook_endpoint::Model,
}

#[derive(FromQueryResult)]
struct Due {
    delivery_id: String,
    endpoint_id: String,
}

/// Claims up to `limit` due deliveries, each of a different endpoint, leasing their
/// endpoints until `lease_until`.
pub async fn claim(db: &DatabaseConnection, now_ms: i64, lease_until: i64, limit: usize) -> AppResult<Vec<Claimed>> {
    let txn = db.begin().await?;
    let backend = txn.get_database_backend();
    let lock = if backend == DbBackend::Postgres { " FOR UPDATE OF e SKIP LOCKED" } else { "" };
    let sql = format!(
        "SELECT d.id AS delivery_id, d.endpoint_id \
         FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id \
         WHERE d.status = 'PENDING' AND d.next_attempt_at <= $1 \
           AND e.disabled_at IS NULL AND (e.lease_until IS NULL OR e.lease_until <= $1) \
           AND (e.lease_expires_at IS NULL OR e.lease_expires_at > $1) \
           AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o \
                           WHERE o.endpoint_id = d.endpoint_id AND o.status = 'PENDING' AND o.seq < d.seq) \
         ORDER BY d.next_attempt_at, d.seq LIMIT $2{lock}"
    );
    let due =
        Due::find_by_statement(Statement::from_sql_and_values(backend, sql, [now_ms.into(), (limit as i64).into()]))
            .all(&txn)
            .await?;
    if due.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let endpoint_ids: Vec<&str> = due.iter().map(|d| d.endpoint_id.as_str()).collect();
    webhook_endpoint::Entity::update_many()
        .col_expr(webhook_endpoint::Column::LeaseUntil, Expr::value(lease_until))
        .filter(webhook_endpoint::Column::Id.is_in(endpoint_ids.iter().copied()))
        .exec(&txn)
        .await?;
    let mut endpoints = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Id.is_in(endpoint_ids.iter().copied()))
        .all(&txn)
        .await?;
    let mut deliveries = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Id.is_in(due.iter().map(|d| d.delivery_id.as_str())))
        .all(&txn)
        .await?;
    txn.commit().await?;
    let mut claimed = Vec::new();
    for delivery in deliveries.drain(..) {
        if let Some(at) = endpoints.iter().position(|e| e.id == delivery.endpoint_id) {
            claimed.push(Claimed { endpoint: endpoints.swap_remove(at), delivery });
        }
    }
    Ok(claimed)
}
