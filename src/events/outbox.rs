//! The outbox relay: publishes events whose normal publish did not happen (the process
//! died after commit, or Redis was down), and the deleter that clears published rows.
//! Replicas share the work without racing: on Postgres each relay claims rows with
//! `FOR UPDATE SKIP LOCKED`.

use sea_orm::sea_query::{Condition, LockBehavior, LockType};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::redis_publisher::Publisher;
use super::{Counters, StoredEvent};
use crate::db::entities::{event, outbox};
use crate::error::AppResult;

/// Rows handled per relay round or delete statement.
const BATCH: u64 = 200;

/// Records, inside the events' transaction, that they still have to be published.
pub async fn record_many(conn: &impl ConnectionTrait, events: &[StoredEvent], now_ms: i64) -> AppResult<()> {
    for chunk in events.chunks(crate::db::ROWS_PER_INSERT) {
        let rows = chunk.iter().map(|event| outbox::ActiveModel {
            practice_id: Set(event.practice_id.clone()),
            seq: Set(event.seq),
            created_at: Set(now_ms),
        });
        outbox::Entity::insert_many(rows).exec_without_returning(conn).await?;
    }
    Ok(())
}

/// `(practice_id, seq) IN keys`, spelled portably, over either table keyed that way: one
/// `practice_id = ? AND seq IN (…)` per practice, since a batch holds many seqs of few
/// practices (a term per key built and bound two expressions per event).
fn keys_condition<C: ColumnTrait>(practice_id: C, seq: C, keys: &[(String, i64)]) -> Condition {
    let practices = super::per_practice(keys.iter().map(|(practice, s)| (practice.as_str(), *s)));
    practices.into_iter().fold(Condition::any(), |any, (practice, seqs)| {
        any.add(Condition::all().add(practice_id.eq(practice)).add(seq.is_in(seqs)))
    })
}

#[derive(Clone, Debug)]
pub struct RelaySettings {
    /// How often the relay looks for stranded events.
    pub interval: Duration,
    /// How old a row must be before the relay takes it: younger ones are still on their
    /// normal way out (a duplicate publish would be harmless, just wasted).
    pub grace: Duration,
}

/// Deletes the outbox rows of published events, in batches.
pub struct Deleter {
    pub db: DatabaseConnection,
    pub shutdown: CancellationToken,
}

impl Deleter {
    pub async fn run(self, mut published: mpsc::UnboundedReceiver<(String, i64)>) {
        let mut keys = Vec::new();
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                n = published.recv_many(&mut keys, BATCH as usize) => if n == 0 { return },
            }
            let result = outbox::Entity::delete_many()
                .filter(keys_condition(outbox::Column::PracticeId, outbox::Column::Seq, &keys))
                .exec(&self.db)
                .await;
            if let Err(err) = result {
                // Rows left behind are republished by the relay: wasteful, never wrong.
                tracing::warn!(error = %err, "could not clear published outbox rows");
            }
            keys.clear();
        }
    }
}

pub struct Relay {
    pub db: DatabaseConnection,
    pub publisher: Publisher,
    pub counters: Arc<Counters>,
    pub settings: RelaySettings,
    pub shutdown: CancellationToken,
}

impl Relay {
    #[tracing::instrument(skip_all, name = "outbox_relay")]
    pub async fn run(mut self) {
        let mut tick = tokio::time::interval(self.settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.round().await {
                Ok(n) if n > 0 => tracing::info!(republished = n, "relay published stranded events"),
                Ok(_) => {}
                Err(err) => tracing::warn!(error = %err, "outbox relay round failed"),
            }
        }
    }

    /// One round: claim old rows, publish their events in seq order, delete what went out.
    async fn round(&mut self) -> AppResult<u64> {
        let now = chrono::Utc::now().timestamp_millis();
        let cutoff = now - self.settings.grace.as_millis() as i64;
        let txn = self.db.begin().await?;
        let mut claim = outbox::Entity::find()
            .filter(outbox::Column::CreatedAt.lte(cutoff))
            .order_by_asc(outbox::Column::PracticeId)
            .order_by_asc(outbox::Column::Seq)
            .limit(BATCH);
        if txn.get_database_backend() == DbBackend::Postgres {
            claim = claim.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = claim.all(&txn).await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(0);
        }
        let keys: Vec<(String, i64)> = rows.into_iter().map(|r| (r.practice_id, r.seq)).collect();
        let events = event::Entity::find()
            .filter(keys_condition(event::Column::PracticeId, event::Column::Seq, &keys))
            .order_by_asc(event::Column::PracticeId)
            .order_by_asc(event::Column::Seq)
            .all(&txn)
            .await?;
        let mut done = Vec::new();
        for row in events {
            let key = (row.practice_id.clone(), row.seq);
            let event = StoredEvent::from_row(row)?;
            if !self.publisher.publish(&event).await {
                break; // Redis is away: keep the rest for the next round, in order.
            }
            done.push(key);
        }
        if !done.is_empty() {
            outbox::Entity::delete_many()
                .filter(keys_condition(outbox::Column::PracticeId, outbox::Column::Seq, &done))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        self.counters.republished.inc_by(done.len() as u64);
        self.counters.published.inc_by(done.len() as u64);
        Ok(done.len() as u64)
    }
}
