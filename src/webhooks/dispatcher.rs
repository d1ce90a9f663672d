//! The dispatcher: turns new events of the log into deliveries, per matching endpoint.
//! Each endpoint remembers how far it got (`last_enqueued_seq`); on Postgres a round
//! claims the endpoints it advances with `FOR UPDATE SKIP LOCKED`, so replicas share the
//! work without waiting on each other, and the unique (endpoint, seq) key makes a repeated
//! enqueue a no-op. Events written while no dispatcher ran are queued when one starts.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult, QueryFilter, Statement,
    TransactionTrait,
};
use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::endpoints::stored_types;
use super::queue;
use super::settings::WebhookArgs;
use crate::clock::SharedClock;
use crate::db::entities::webhook_endpoint;
use crate::error::AppResult;
use crate::events::log;

/// Endpoints advanced per round, and events read per endpoint per round.
const ENDPOINTS_PER_ROUND: u64 = 50;
const EVENTS_PER_ROUND: u64 = 500;

/// An enabled endpoint whose practice's log has moved past it.
#[derive(Debug, FromQueryResult)]
struct Behind {
    id: String,
    practice_id: String,
    event_types: String,
    last_enqueued_seq: i64,
    head: i64,
}

pub struct Dispatcher {
    pub db: DatabaseConnection,
    pub clock: SharedClock,
    pub settings: Arc<WebhookArgs>,
    /// Woken when deliveries were queued, so the worker need not wait for its poll.
    pub queued: Arc<Notify>,
    pub shutdown: CancellationToken,
}

impl Dispatcher {
    #[tracing::instrument(skip_all, name = "webhook_dispatcher")]
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.settings.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            // Keep going while there is a backlog; then wait for the next tick.
            loop {
                match self.round().await {
                    Ok(0) => break,
                    Ok(_) => self.queued.notify_one(),
                    Err(err) => {
                        tracing::warn!(error = %err, "webhook dispatch round failed");
                        break;
                    }
                }
                if self.shutdown.is_cancelled() {
                    return;
                }
            }
        }
    }

    /// One round: claims endpoints that are behind, queues their new events, moves them on.
    /// Returns how many endpoints moved.
    async fn round(&self) -> AppResult<usize> {
        let txn = self.db.begin().await?;
        let backend = txn.get_database_backend();
        // Only the endpoint rows are locked, never the practice's counter row that every
        // mutation of the practice takes.
        let lock = if backend == DbBackend::Postgres { " FOR UPDATE OF e SKIP LOCKED" } else { "" };
        let now = self.clock.now().timestamp_millis();
        // A WebSub subscription whose lease ended gets nothing more.
        let sql = format!(
            "SELECT e.id, e.practice_id, e.event_types, e.last_enqueued_seq, p.last_seq AS head \
             FROM webhook_endpoints e JOIN practices p ON p.id = e.practice_id \
             WHERE e.disabled_at IS NULL AND e.last_enqueued_seq < p.last_seq \
               AND (e.lease_expires_at IS NULL OR e.lease_expires_at > {now}) \
             ORDER BY e.id LIMIT {ENDPOINTS_PER_ROUND}{lock}"
        );
        let behind = Behind::find_by_statement(Statement::from_string(backend, sql)).all(&txn).await?;
        for endpoint in &behind {
            let types = stored_types(&endpoint.event_types);
            let types = (!types.is_empty()).then_some(types.as_slice());
            let events = log::read_range(
                &txn,
                &endpoint.practice_id,
                endpoint.last_enqueued_seq,
                Some(endpoint.head),
                types,
                EVENTS_PER_ROUND,
            )
            .await?;
            queue::enqueue(&txn, &endpoint.id, &events, now).await?;
            // A full batch may stop short of the head; otherwise everything up to the head
            // that matched is queued (the rest did not match the endpoint's types).
            let reached = match events.last() {
                Some(last) if events.len() as u64 == EVENTS_PER_ROUND => last.seq,
                _ => endpoint.head,
            };
            webhook_endpoint::Entity::update_many()
                .col_expr(webhook_endpoint::Column::LastEnqueuedSeq, Expr::value(reached))
                .filter(webhook_endpoint::Column::Id.eq(&endpoint.id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(behind.len())
    }
}
