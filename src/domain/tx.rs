//! The transaction every mutation runs in. A mutation that appends events runs in its
//! practice's writer (`writer`): a savepoint of a batch that holds the practice's counter
//! row lock and commits together. One that appends none (a practice, a key, an endpoint)
//! runs in a transaction of its own. Either way: the idempotency check first, the result
//! stored under its key in the same transaction, and events published only after commit.

use sea_orm::{DatabaseTransaction, TransactionTrait};
use serde::{Serialize, de::DeserializeOwned};

use super::Services;
use super::idempotency::IdempotencyKey;
use super::writer::Turn;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::events::{Payload, StoredEvent};
use crate::vocab::EventType;

#[allow(clippy::large_enum_variant)] // built once per mutation and matched at once
pub enum Begun<'a, T> {
    /// A new request: do the work in this transaction.
    Fresh(MutationTx<'a>),
    /// The idempotency key was used before with the same request: its first result.
    Replayed(T),
}

pub struct MutationTx<'a> {
    services: &'a Services,
    mode: Mode,
    idempotency: Option<IdempotencyKey>,
    /// Appended events, in seq order; written and published by the writer.
    events: Vec<StoredEvent>,
}

enum Mode {
    /// A transaction of its own, for work that appends no event.
    Alone(DatabaseTransaction),
    /// A turn in the practice's batch.
    Batched { practice_id: String, turn: Turn },
}

impl<'a> MutationTx<'a> {
    /// A mutation that appends no events: its own transaction.
    pub async fn begin<T: DeserializeOwned>(
        services: &'a Services,
        principal: &Principal,
        operation: &'static str,
        idempotency_key: Option<&str>,
        request: &impl Serialize,
    ) -> AppResult<Begun<'a, T>> {
        let idempotency = key(principal, operation, idempotency_key, request)?;
        let txn = services.db.begin().await?;
        Self::start(services, Mode::Alone(txn), idempotency).await
    }

    /// A mutation of `practice_id`'s data: waits for its turn in the practice's writer,
    /// then runs with the practice's counter row locked.
    pub async fn begin_in<T: DeserializeOwned>(
        services: &'a Services,
        practice_id: &str,
        principal: &Principal,
        operation: &'static str,
        idempotency_key: Option<&str>,
        request: &impl Serialize,
    ) -> AppResult<Begun<'a, T>> {
        let idempotency = key(principal, operation, idempotency_key, request)?;
        services.limits.spend_mutation(practice_id).await?;
        let turn = services.writers.turn(practice_id).await?;
        Self::start(services, Mode::Batched { practice_id: practice_id.to_string(), turn }, idempotency).await
    }

    /// The server's own work on a practice (the reminder scheduler): no principal and no
    /// idempotency key, but the same writer, append and publish path as mutations.
    pub async fn system_in(services: &'a Services, practice_id: &str) -> AppResult<Self> {
        let turn = services.writers.turn(practice_id).await?;
        Ok(Self::new(services, Mode::Batched { practice_id: practice_id.to_string(), turn }, None))
    }

    async fn start<T: DeserializeOwned>(
        services: &'a Services,
        mode: Mode,
        idempotency: Option<IdempotencyKey>,
    ) -> AppResult<Begun<'a, T>> {
        let tx = Self::new(services, mode, idempotency);
        if let Some(idem) = &tx.idempotency
            && let Some(stored) = idem.lookup(tx.conn()).await?
        {
            // Seen inside a batch, the first result may not be committed yet: answer it
            // only once it is.
            let result = serde_json::from_str(&stored)?;
            tx.finish().await?;
            super::command::replayed();
            return Ok(Begun::Replayed(result));
        }
        Ok(Begun::Fresh(tx))
    }

    fn new(services: &'a Services, mode: Mode, idempotency: Option<IdempotencyKey>) -> Self {
        Self { services, mode, idempotency, events: Vec::new() }
    }

    pub fn conn(&self) -> &DatabaseTransaction {
        match &self.mode {
            Mode::Alone(txn) => txn,
            Mode::Batched { turn, .. } => &turn.txn,
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.services.now_ms()
    }

    /// Appends an event of the practice: it takes the next seq of the batch.
    pub fn append(&mut self, event_type: EventType, payload: Payload) -> AppResult<()> {
        let Mode::Batched { practice_id, turn } = &self.mode else {
            return Err(AppError::Internal(anyhow::anyhow!("event appended outside the practice's writer")));
        };
        let event = StoredEvent {
            practice_id: practice_id.clone(),
            seq: turn.next_seq + self.events.len() as i64,
            event_type,
            occurred_at: crate::clock::from_millis(self.now_ms()),
            payload,
            trace: crate::telemetry::TraceContext::current(),
        };
        self.events.push(event);
        Ok(())
    }

    /// Commits (with the batch) and publishes. `result` is returned and stored for the
    /// idempotency key.
    pub async fn commit<T: Serialize + DeserializeOwned>(self, result: T) -> AppResult<T> {
        let stored = serde_json::to_string(&result)?;
        self.commit_storing(result, stored).await
    }

    /// Like `commit`, but stores `stored` for replays instead of `result` (used where the
    /// result holds a secret that must not be kept).
    pub async fn commit_storing<T: DeserializeOwned>(self, result: T, stored: String) -> AppResult<T> {
        if let Some(idem) = &self.idempotency
            && !idem.store(self.conn(), stored, self.services.now_ms()).await?
        {
            // A concurrent request with the same key committed first: answer with its
            // result, and drop this one's work.
            let first = idem.lookup(self.conn()).await?.ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("idempotency key taken, but its record is not there"))
            })?;
            super::command::replayed();
            return Ok(serde_json::from_str(&first)?);
        }
        self.finish().await?;
        Ok(result)
    }

    async fn finish(self) -> AppResult<()> {
        match self.mode {
            Mode::Alone(txn) => Ok(txn.commit().await?),
            Mode::Batched { turn, .. } => turn.keep(self.events).await,
        }
    }
}

fn key(
    principal: &Principal,
    operation: &'static str,
    idempotency_key: Option<&str>,
    request: &impl Serialize,
) -> AppResult<Option<IdempotencyKey>> {
    // A command from a bus gives each of its mutations a key of its own, derived from
    // the command's id, so that a redelivered command replays instead of applying again.
    let derived = if idempotency_key.is_none() { super::command::next_key() } else { None };
    idempotency_key
        .or(derived.as_deref())
        .map(|key| IdempotencyKey::new(principal.idempotency_scope(), key, operation, request))
        .transpose()
}
