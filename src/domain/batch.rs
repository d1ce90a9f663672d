//! One batch of a lane (`super::writer`): begin, lock the first mutation's practice
//! (waiting if need be) and, in one statement, those of the mutations queued behind it
//! (passing over rows another transaction holds), give each mutation its turn, write
//! each practice's events and counter, commit, answer, publish. The first mutation runs
//! in the transaction itself (a batch of one costs no savepoint); if it fails, the
//! transaction is rolled back and the next mutation opens another.

use sea_orm::TransactionTrait;
use sea_orm::sea_query::{LockBehavior, LockType};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::writer::{Join, Kept, MAX_BATCH, Turn, Writers};
use crate::db::entities::practice;
use crate::error::{AppError, AppResult};
use crate::events::{StoredEvent, log};

/// Where the batch's savepoint stands. Turns after the first run under a savepoint named
/// `turn`: opened before the turn, released when the next opens (or by the commit), rolled
/// back to when the turn fails. A rolled-back savepoint stays open, ready for the next
/// turn. Postgres and SQLite both keep a savepoint after `ROLLBACK TO` and let a name be
/// reused, the newest shadowing the older. The practices' row locks are all taken before
/// the first savepoint, so rolling a turn back never gives one up.
#[derive(Clone, Copy)]
enum Savepoint {
    /// None open: the batch's first turn runs in the transaction itself.
    None,
    /// The last turn kept its work.
    Kept,
    /// The last turn failed; its work is still to be rolled back.
    Dropped,
}

impl Savepoint {
    /// What opens a fresh savepoint for the next turn, in one round trip.
    fn before_turn(self) -> &'static str {
        match self {
            Savepoint::None => "SAVEPOINT turn",
            Savepoint::Kept => "RELEASE SAVEPOINT turn; SAVEPOINT turn",
            Savepoint::Dropped => "ROLLBACK TO SAVEPOINT turn",
        }
    }
}

/// A batch's open transaction: the practices it locked, its savepoint, and the turns
/// that kept their work (waiting for the commit).
struct Open {
    txn: Arc<DatabaseTransaction>,
    practices: Vec<Locked>,
    savepoint: Savepoint,
    kept: Vec<oneshot::Sender<Result<(), String>>>,
}

/// A practice whose counter row the batch holds: its last seq when locked, and the
/// events its kept turns appended since, in seq order.
struct Locked {
    id: String,
    last_seq: i64,
    events: Vec<StoredEvent>,
}

impl Writers {
    /// One batch, led by `first`. Mutations whose practice it could not lock go back to
    /// the front of `waiting`, in their order.
    pub(super) async fn batch(
        &self,
        first: Join,
        joins: &mut mpsc::UnboundedReceiver<Join>,
        waiting: &mut VecDeque<Join>,
    ) {
        let mut queued = VecDeque::from([first]);
        while queued.len() < MAX_BATCH {
            match self.next_queued(joins, waiting) {
                Some(join) => queued.push_back(join),
                None => break,
            }
        }
        let mut open: Option<Open> = None;
        let mut passed: VecDeque<Join> = VecDeque::new();
        let mut unlocked: Vec<String> = Vec::new();
        let mut turns = 0;
        loop {
            let join = match queued.pop_front() {
                Some(join) => join,
                None if turns < MAX_BATCH => match self.next_queued(joins, waiting) {
                    Some(join) => join,
                    None => break,
                },
                None => break,
            };
            turns += 1;
            if join.reply.is_closed() {
                continue;
            }
            if unlocked.contains(&join.practice_id) {
                // Not locked by this batch (held elsewhere, or first seen after the batch
                // began): it and every later mutation of its practice wait for the next
                // batch, in their order.
                passed.push_back(join);
                continue;
            }
            if open.is_none() {
                match self.open(&join.practice_id, &queued, &mut unlocked).await {
                    Ok(opened) => open = Some(opened),
                    Err(err) => {
                        let _ = join.reply.send(Err(err));
                        continue;
                    }
                }
            }
            let batch = open.as_mut().expect("the batch is open");
            let Some(at) = batch.practices.iter().position(|p| p.id == join.practice_id) else {
                // Its practice came after the batch began: it waits for the next one.
                unlocked.push(join.practice_id.clone());
                passed.push_back(join);
                continue;
            };
            if let Err(err) = self.give_turn(&mut open, at, join).await {
                tracing::warn!(error = %err, "the batch's transaction failed; it is rolled back");
                open = None;
            }
        }
        while let Some(join) = passed.pop_back() {
            waiting.push_front(join);
        }
        if let Some(open) = open {
            self.commit(open).await;
        }
    }

    /// Begins a transaction, locks `practice_id`'s counter row (waiting for it), then
    /// those of the other practices in `queued` that no other transaction holds.
    /// Practices it could not lock are added to `unlocked`.
    async fn open(&self, practice_id: &str, queued: &VecDeque<Join>, unlocked: &mut Vec<String>) -> AppResult<Open> {
        let txn = self.db.begin().await?;
        let last_seq = practice::Entity::find_by_id(practice_id)
            .select_only()
            .column(practice::Column::LastSeq)
            .lock_exclusive()
            .into_tuple::<i64>()
            .one(&txn)
            .await?
            .ok_or(AppError::NotFound("practice"))?;
        let mut practices = vec![Locked { id: practice_id.to_string(), last_seq, events: Vec::new() }];
        let mut others: Vec<&str> = Vec::new();
        for join in queued {
            let id = join.practice_id.as_str();
            if id != practice_id && !others.contains(&id) && !unlocked.iter().any(|u| u == id) {
                others.push(id);
            }
        }
        if !others.is_empty() {
            let mut locked = practice::Entity::find()
                .select_only()
                .column(practice::Column::Id)
                .column(practice::Column::LastSeq)
                .filter(practice::Column::Id.is_in(others.iter().copied()))
                .lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
                .into_tuple::<(String, i64)>()
                .all(&txn)
                .await?;
            // In queue order, so that the events are written in a steady order.
            locked.sort_by_key(|(id, _)| others.iter().position(|o| o == id));
            for id in others.iter().filter(|o| !locked.iter().any(|(id, _)| id == *o)) {
                unlocked.push(id.to_string());
            }
            practices.extend(locked.into_iter().map(|(id, last_seq)| Locked { id, last_seq, events: Vec::new() }));
        }
        Ok(Open { txn: Arc::new(txn), practices, savepoint: Savepoint::None, kept: Vec::new() })
    }

    /// Gives one queued mutation its turn on the batch's practice `at` and waits until it
    /// keeps or drops it. Err only when the batch's transaction itself failed.
    async fn give_turn(&self, open: &mut Option<Open>, at: usize, join: Join) -> AppResult<()> {
        let batch = open.as_mut().expect("the batch is open");
        let first = batch.kept.is_empty();
        if !first {
            batch.txn.execute_unprepared(batch.savepoint.before_turn()).await?;
        }
        let practice = &batch.practices[at];
        let next_seq = practice.last_seq + 1 + practice.events.len() as i64;
        let (done, finished) = oneshot::channel();
        let turn = Turn { txn: batch.txn.clone(), next_seq, done };
        let outcome: Option<Kept> = match join.reply.send(Ok(turn)) {
            Ok(()) => finished.await.ok(),
            Err(_) => None,
        };
        match (first, outcome) {
            (_, Some(done)) => {
                batch.practices[at].events.extend(done.events);
                batch.kept.push(done.outcome);
                if !first {
                    batch.savepoint = Savepoint::Kept;
                }
            }
            (true, None) => {
                let Open { txn, .. } = open.take().expect("the batch is open");
                Arc::try_unwrap(txn).map_err(|_| held())?.rollback().await?;
            }
            (false, None) => batch.savepoint = Savepoint::Dropped,
        }
        Ok(())
    }

    /// Commits the batch, answers its mutations, and publishes its events.
    async fn commit(&self, open: Open) {
        let Open { txn, practices, savepoint, kept } = open;
        let span = commit_span(&practices, kept.len());
        let committed = match Arc::try_unwrap(txn) {
            Ok(txn) => self.finish(txn, savepoint, &practices).instrument(span).await,
            Err(_) => Err(AppError::Internal(anyhow::anyhow!("a turn still holds the batch's transaction"))),
        };
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
        for practice in practices {
            self.counters.appended.inc_by(practice.events.len() as u64);
            if !self.faults.skip_publish() {
                for event in practice.events {
                    self.bus.publish(Arc::new(event));
                }
            }
        }
    }

    /// Rolls back a failed last turn, writes each practice's events, their outbox rows and
    /// its counter, and commits.
    async fn finish(&self, txn: DatabaseTransaction, savepoint: Savepoint, practices: &[Locked]) -> AppResult<()> {
        if let Savepoint::Dropped = savepoint {
            txn.execute_unprepared(savepoint.before_turn()).await?;
        }
        let outbox_at = self.outbox.then(|| self.clock.now().timestamp_millis());
        let appended: Vec<(&str, &[StoredEvent])> =
            practices.iter().map(|p| (p.id.as_str(), p.events.as_slice())).collect();
        log::append_batch(&txn, &appended, outbox_at).await?;
        txn.commit().await?;
        Ok(())
    }
}

/// The span of a batch's commit, linked to the trace of each mutation in it (when traced).
fn commit_span(practices: &[Locked], mutations: usize) -> tracing::Span {
    crate::telemetry::if_on(|| {
        let events = practices.iter().flat_map(|p| &p.events);
        let span = tracing::info_span!(
            parent: None,
            "commit_batch",
            clinicstream.practice_id = practices.first().map(|p| p.id.as_str()),
            clinicstream.practices = practices.len(),
            clinicstream.mutations = mutations,
            clinicstream.events = events.clone().count(),
        );
        let mut linked: Vec<&str> = Vec::new();
        for trace in events.filter_map(|e| e.trace.as_ref()) {
            if !linked.contains(&trace.traceparent()) {
                linked.push(trace.traceparent());
                crate::telemetry::link(&span, Some(trace));
            }
        }
        span
    })
}

fn held() -> AppError {
    AppError::Internal(anyhow::anyhow!("a finished turn still holds its transaction"))
}
