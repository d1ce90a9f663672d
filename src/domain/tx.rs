//! The transaction every mutation runs in: idempotency check, the practice lock, the
//! event append, commit, and only then publishing to the bus.

use sea_orm::{DatabaseTransaction, EntityTrait, QuerySelect, TransactionTrait};
use serde::{Serialize, de::DeserializeOwned};
use std::sync::Arc;

use super::Services;
use super::idempotency::IdempotencyKey;
use crate::auth::Principal;
use crate::db::entities::practice;
use crate::db::is_unique_violation;
use crate::error::{AppError, AppResult};
use crate::events::{Payload, StoredEvent, log, outbox};
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
    txn: DatabaseTransaction,
    idempotency: Option<IdempotencyKey>,
    /// The practice whose counter row this transaction holds.
    locked: Option<String>,
    /// A seq reserved by `lock_practice` that no event has taken yet.
    reserved: Option<i64>,
    /// Appended events, in seq order; published after the commit.
    events: Vec<StoredEvent>,
}

impl<'a> MutationTx<'a> {
    pub async fn begin<T: DeserializeOwned>(
        services: &'a Services,
        principal: &Principal,
        operation: &'static str,
        idempotency_key: Option<&str>,
        request: &impl Serialize,
    ) -> AppResult<Begun<'a, T>> {
        let idempotency = idempotency_key
            .map(|key| IdempotencyKey::new(principal.idempotency_scope(), key, operation, request))
            .transpose()?;
        let txn = services.db.begin().await?;
        if let Some(idem) = &idempotency
            && let Some(stored) = idem.lookup(&txn).await?
        {
            return Ok(Begun::Replayed(serde_json::from_str(&stored)?));
        }
        Ok(Begun::Fresh(Self::new(services, txn, idempotency)))
    }

    /// A transaction for the server's own work (the reminder scheduler): no principal and
    /// no idempotency key, but the same append, commit and publish path as mutations.
    pub async fn system(services: &'a Services) -> AppResult<Self> {
        Ok(Self::new(services, services.db.begin().await?, None))
    }

    fn new(services: &'a Services, txn: DatabaseTransaction, idempotency: Option<IdempotencyKey>) -> Self {
        Self { services, txn, idempotency, locked: None, reserved: None, events: Vec::new() }
    }

    pub fn conn(&self) -> &DatabaseTransaction {
        &self.txn
    }

    pub fn now_ms(&self) -> i64 {
        self.services.now_ms()
    }

    /// Locks the practice's event counter for the rest of the transaction. Taken before
    /// any check that concurrent writers could race on (double booking), so those checks
    /// run one at a time per practice.
    pub async fn lock_practice(&mut self, practice_id: &str) -> AppResult<()> {
        let seq = log::reserve_seq(&self.txn, practice_id).await?;
        self.locked = Some(practice_id.to_string());
        self.reserved = Some(seq);
        Ok(())
    }

    /// Locks the practice's event counter like `lock_practice`, but reserves no seq yet:
    /// for work that may end up appending nothing (seqs must stay gapless).
    /// (SQLite has no row locks and needs none: it has one writer.)
    pub async fn hold_practice(&mut self, practice_id: &str) -> AppResult<()> {
        practice::Entity::find_by_id(practice_id)
            .select_only()
            .column(practice::Column::Id)
            .lock_exclusive()
            .into_tuple::<String>()
            .one(&self.txn)
            .await?
            .ok_or(AppError::NotFound("practice"))?;
        self.locked = Some(practice_id.to_string());
        Ok(())
    }

    /// Appends an event of the locked practice. The first takes the seq `lock_practice`
    /// reserved; each further one (or any, after `hold_practice`) reserves the next.
    pub async fn append(&mut self, event_type: EventType, payload: Payload) -> AppResult<()> {
        let practice_id = self
            .locked
            .clone()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("event appended without the practice lock")))?;
        let seq = match self.reserved.take() {
            Some(seq) => seq,
            None => log::reserve_seq(&self.txn, &practice_id).await?,
        };
        let event = StoredEvent {
            practice_id,
            seq,
            event_type,
            occurred_at: crate::clock::from_millis(self.now_ms()),
            payload,
        };
        log::insert(&self.txn, &event).await?;
        self.services.counters.appended.inc();
        if self.services.outbox {
            outbox::record(&self.txn, &event, self.now_ms()).await?;
        }
        self.events.push(event);
        Ok(())
    }

    /// Commits and publishes. `result` is returned and stored for the idempotency key.
    pub async fn commit<T: Serialize + DeserializeOwned>(self, result: T) -> AppResult<T> {
        let stored = serde_json::to_string(&result)?;
        self.commit_storing(result, stored).await
    }

    /// Like `commit`, but stores `stored` for replays instead of `result` (used where the
    /// result holds a secret that must not be kept).
    pub async fn commit_storing<T: DeserializeOwned>(self, result: T, stored: String) -> AppResult<T> {
        let Self { services, txn, idempotency, events, .. } = self;
        if let Some(idem) = &idempotency
            && let Err(err) = idem.store(&txn, stored, services.now_ms()).await
        {
            txn.rollback().await?;
            if !is_unique_violation(&err) {
                return Err(err.into());
            }
            // A concurrent request with the same key won the race: answer with its result.
            let stored = idem.lookup(&services.db).await?.ok_or_else(|| AppError::Internal(err.into()))?;
            return Ok(serde_json::from_str(&stored)?);
        }
        txn.commit().await?;
        if !services.faults.skip_publish() {
            for event in events {
                services.bus.publish(Arc::new(event));
            }
        }
        Ok(result)
    }
}
