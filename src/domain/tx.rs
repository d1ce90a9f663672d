//! The transaction every mutation runs in: idempotency check, the practice lock, the
//! event append, commit, and only then publishing to the bus.

use sea_orm::{DatabaseTransaction, TransactionTrait};
use serde::{Serialize, de::DeserializeOwned};
use std::sync::Arc;

use super::Services;
use super::idempotency::IdempotencyKey;
use crate::auth::Principal;
use crate::db::is_unique_violation;
use crate::error::{AppError, AppResult};
use crate::events::{Payload, StoredEvent, log, outbox};
use crate::graphql::types::EventType;

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
    /// The practice whose counter row this transaction holds, and the seq it reserved.
    reserved: Option<(String, i64)>,
    event: Option<StoredEvent>,
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
        Ok(Begun::Fresh(Self { services, txn, idempotency, reserved: None, event: None }))
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
        self.reserved = Some((practice_id.to_string(), seq));
        Ok(())
    }

    /// Appends this mutation's event, with the seq reserved by `lock_practice`.
    pub async fn append(&mut self, event_type: EventType, payload: Payload) -> AppResult<()> {
        let (practice_id, seq) = self
            .reserved
            .clone()
            .ok_or_else(|| AppError::Internal(anyhow::anyhow!("event appended without the practice lock")))?;
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
        self.event = Some(event);
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
        let Self { services, txn, idempotency, event, .. } = self;
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
        if let Some(event) = event
            && !services.faults.skip_publish()
        {
            services.bus.publish(Arc::new(event));
        }
        Ok(result)
    }
}
