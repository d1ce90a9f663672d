//! Group commit: one writer per practice on each replica. Mutations of a practice queue
//! here and run one after another inside the writer's open transaction, each in a
//! savepoint of its own, so that one transaction, one lock of the practice's counter row
//! and one commit serve a whole batch.
//!
//! A lone mutation starts at once: a batch is whatever queued while the previous one
//! was committing (at most `MAX_BATCH`). The writer takes the counter row lock before the
//! first mutation runs and holds it to the commit, so across replicas commits of a
//! practice stay in seq order, and on this replica the writer is the lock's only holder.
//! A failing mutation rolls back to its savepoint alone; the others commit. Seqs follow
//! queue order. Events are written, counted and published by the writer, in seq order,
//! once the batch has committed.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use super::Faults;
use crate::clock::SharedClock;
use crate::db::entities::practice;
use crate::error::{AppError, AppResult};
use crate::events::{Counters, SharedBus, StoredEvent, log, outbox};

/// Mutations committed together at most.
const MAX_BATCH: usize = 128;
/// How long an idle writer stays before its task ends.
const LINGER: Duration = Duration::from_secs(2);

/// A mutation's turn in a batch: a savepoint of the batch's transaction, and the seq its
/// first event takes. Finished with `Turn::keep` (committed with the batch) or dropped
/// (rolled back; the writer goes on with the next mutation).
pub struct Turn {
    pub txn: DatabaseTransaction,
    pub next_seq: i64,
    done: oneshot::Sender<Kept>,
}

/// What a finished turn hands back: its events, and where to say how the batch ended.
struct Kept {
    events: Vec<StoredEvent>,
    outcome: oneshot::Sender<Result<(), String>>,
}

impl Turn {
    /// Releases the savepoint, hands the events to the writer and waits for the batch's
    /// commit.
    pub async fn keep(self, events: Vec<StoredEvent>) -> AppResult<()> {
        self.txn.commit().await?;
        let (outcome, committed) = oneshot::channel();
        self.done.send(Kept { events, outcome }).map_err(|_| gone())?;
        match committed.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(AppError::Internal(anyhow::anyhow!("batch commit failed: {message}"))),
            Err(_) => Err(gone()),
        }
    }
}

fn gone() -> AppError {
    AppError::Internal(anyhow::anyhow!("the practice's writer stopped"))
}

type Join = oneshot::Sender<AppResult<Turn>>;

/// The writers of this replica, one per practice with mutations queued or in flight.
pub struct Writers {
    db: DatabaseConnection,
    bus: SharedBus,
    faults: Arc<Faults>,
    outbox: bool,
    clock: SharedClock,
    counters: Arc<Counters>,
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Join>>>,
}

impl Writers {
    pub fn new(
        db: DatabaseConnection,
        bus: SharedBus,
        faults: Arc<Faults>,
        outbox: bool,
        clock: SharedClock,
        counters: Arc<Counters>,
    ) -> Arc<Self> {
        Arc::new(Self { db, bus, faults, outbox, clock, counters, queues: Mutex::default() })
    }

    /// Waits for this mutation's turn in the practice's writer.
    pub async fn turn(self: &Arc<Self>, practice_id: &str) -> AppResult<Turn> {
        let (join, turn) = oneshot::channel();
        {
            let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
            let queue = queues.entry(practice_id.to_string()).or_insert_with(|| {
                let (queue, joins) = mpsc::unbounded_channel();
                tokio::spawn(self.clone().run(practice_id.to_string(), joins));
                queue
            });
            // Sent under the map's lock: a writer only leaves the map under it, with an
            // empty queue, so no mutation is ever queued to a writer that is gone.
            queue.send(join).map_err(|_| gone())?;
            self.counters.write_queue.inc();
        }
        turn.await.map_err(|_| gone())?
    }

    async fn run(self: Arc<Self>, practice_id: String, mut joins: mpsc::UnboundedReceiver<Join>) {
        loop {
            let first = match tokio::time::timeout(LINGER, joins.recv()).await {
                Ok(Some(join)) => {
                    self.counters.write_queue.dec();
                    join
                }
                Ok(None) => return,
                Err(_) => {
                    let mut queues = self.queues.lock().unwrap_or_else(|p| p.into_inner());
                    if joins.is_empty() {
                        queues.remove(&practice_id);
                        return;
                    }
                    continue;
                }
            };
            self.faults.batches_allowed().await;
            self.batch(&practice_id, first, &mut joins).await;
        }
    }

    /// One batch: begin, lock the counter row, give each queued mutation its turn, write
    /// the events and the counter, commit, answer, publish.
    async fn batch(&self, practice_id: &str, first: Join, joins: &mut mpsc::UnboundedReceiver<Join>) {
        let (txn, last_seq) = match self.open(practice_id).await {
            Ok(opened) => opened,
            Err(err) => {
                // The others queued meanwhile get the same answer rather than a wait.
                while let Ok(join) = joins.try_recv() {
                    self.counters.write_queue.dec();
                    let _ = join.send(Err(again(&err)));
                }
                let _ = first.send(Err(err));
                return;
            }
        };
        let mut next_seq = last_seq + 1;
        let mut events = Vec::new();
        let mut kept = Vec::new();
        let mut join = Some(first);
        let mut turns = 0;
        while let Some(current) = join.take() {
            turns += 1;
            match self.give_turn(&txn, current, next_seq).await {
                Ok(Some(done)) => {
                    next_seq += done.events.len() as i64;
                    events.extend(done.events);
                    kept.push(done.outcome);
                }
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(practice_id, error = %err, "savepoint failed; the batch is rolled back");
                    kept.clear();
                    events.clear();
                    break;
                }
            }
            if turns < MAX_BATCH {
                join = joins.try_recv().ok();
                if join.is_some() {
                    self.counters.write_queue.dec();
                }
            }
        }
        let committed = self.finish(txn, practice_id, &events).await;
        let answer = committed.as_ref().map(|_| ()).map_err(|e| e.to_string());
        let kept_count = kept.len() as u64;
        for outcome in kept {
            let _ = outcome.send(answer.clone());
        }
        if committed.is_err() {
            return;
        }
        self.counters.write_batches.inc();
        self.counters.batched_writes.inc_by(kept_count);
        self.counters.appended.inc_by(events.len() as u64);
        if !self.faults.skip_publish() {
            for event in events {
                self.bus.publish(Arc::new(event));
            }
        }
    }

    /// Begins the batch's transaction and takes the practice's counter row lock.
    async fn open(&self, practice_id: &str) -> AppResult<(DatabaseTransaction, i64)> {
        let txn = self.db.begin().await?;
        let last_seq = practice::Entity::find_by_id(practice_id)
            .select_only()
            .column(practice::Column::LastSeq)
            .lock_exclusive()
            .into_tuple::<i64>()
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound("practice"))?;
        Ok((txn, last_seq))
    }

    /// Hands one queued mutation its savepoint and waits until it keeps or drops it.
    /// Err only when the batch's transaction itself failed.
    async fn give_turn(&self, txn: &DatabaseTransaction, join: Join, next_seq: i64) -> AppResult<Option<Kept>> {
        if join.is_closed() {
            return Ok(None);
        }
        let savepoint = txn.begin().await?;
        let (done, kept) = oneshot::channel();
        if join.send(Ok(Turn { txn: savepoint, next_seq, done })).is_err() {
            return Ok(None);
        }
        Ok(kept.await.ok())
    }

    /// Writes the batch's events, their outbox rows and the practice's counter, and commits.
    async fn finish(&self, txn: DatabaseTransaction, practice_id: &str, events: &[StoredEvent]) -> AppResult<()> {
        if let Some(last) = events.last() {
            log::insert_many(&txn, events).await?;
            if self.outbox {
                outbox::record_many(&txn, events, self.clock.now().timestamp_millis()).await?;
            }
            practice::Entity::update_many()
                .col_expr(practice::Column::LastSeq, Expr::value(last.seq))
                .filter(practice::Column::Id.eq(practice_id))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        Ok(())
    }
}

/// The same answer for another mutation of a batch that could not start.
fn again(err: &AppError) -> AppError {
    match err {
        AppError::NotFound(what) => AppError::NotFound(what),
        other => AppError::Internal(anyhow::anyhow!("the batch could not start: {other:#}")),
    }
}
