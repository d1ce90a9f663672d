//! Apollo's automatic persisted queries, applied to a request's document before it runs:
//! `extensions.persistedQuery = {version: 1, sha256Hash}` with no query looks the
//! document up (`PERSISTED_QUERY_NOT_FOUND` when it is not stored, so the client sends it
//! again with the query); with the query, the hash is checked and the document stored.
//! Under `PERSISTED_QUERIES_ONLY` nothing is stored and only registered documents run.
//! Reading the extension off a GraphQL request, and a refusal as a GraphQL response, are
//! `graphql::persisted`'s.

use super::store::{DocumentStore, sha256_hex};
use crate::clock::SharedClock;

/// Why a request was refused before it ran.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// A hash with no query, and no document stored under it.
    NotFound,
    /// The query's SHA-256 is not the hash it came with.
    HashMismatch,
    /// `extensions.persistedQuery` is not `{version: 1, sha256Hash: "<hex>"}`.
    Malformed,
    /// Under `PERSISTED_QUERIES_ONLY`: the document was not registered ahead of time.
    NotRegistered,
    /// The store could not be read or written.
    Internal,
}

/// The persisted queries of this app: the store and the mode it runs in.
#[derive(Clone)]
pub struct PersistedQueries {
    store: DocumentStore,
    clock: SharedClock,
    only_registered: bool,
}

impl PersistedQueries {
    pub fn new(store: DocumentStore, clock: SharedClock, only_registered: bool) -> Self {
        Self { store, clock, only_registered }
    }

    pub fn store(&self) -> &DocumentStore {
        &self.store
    }

    /// Applies a request's persisted query to its document `query` (empty when only a
    /// hash came), filling it in; `hash` is the lowercased `sha256Hash` of its
    /// `extensions.persistedQuery`, if it has one. Refuses it when the protocol (or the
    /// trusted-documents mode) says so. Nothing runs before this. Only `authenticated`
    /// callers' documents are stored: an anonymous request cannot spend the shared store
    /// (it runs, and its resolvers answer UNAUTHENTICATED).
    pub async fn apply_to(&self, query: &mut String, hash: Option<String>, authenticated: bool) -> Result<(), Refused> {
        let now_ms = self.clock.now().timestamp_millis();
        let Some(hash) = hash else {
            if self.only_registered {
                return self.check_registered(&sha256_hex(query), now_ms).await;
            }
            return Ok(());
        };
        if query.is_empty() {
            let found = self.store.find(&hash, now_ms).await.map_err(internal)?;
            return match found {
                Some(found) if found.registered || !self.only_registered => {
                    *query = found.document;
                    Ok(())
                }
                _ => Err(Refused::NotFound),
            };
        }
        if sha256_hex(query) != hash {
            return Err(Refused::HashMismatch);
        }
        if self.only_registered {
            return self.check_registered(&hash, now_ms).await;
        }
        // Only documents that parse are worth keeping; the executor reports the others.
        if authenticated && async_graphql::parser::parse_query(query.as_str()).is_ok() {
            self.store.remember(&hash, query, now_ms).await.map_err(internal)?;
        }
        Ok(())
    }

    async fn check_registered(&self, hash: &str, now_ms: i64) -> Result<(), Refused> {
        match self.store.find(hash, now_ms).await.map_err(internal)? {
            Some(found) if found.registered => Ok(()),
            _ => Err(Refused::NotRegistered),
        }
    }
}

fn internal(err: sea_orm::DbErr) -> Refused {
    tracing::error!(error = %err, "persisted query store failed");
    Refused::Internal
}
