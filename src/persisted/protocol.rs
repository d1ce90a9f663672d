//! Apollo's automatic persisted queries, applied to a request before it runs:
//! `extensions.persistedQuery = {version: 1, sha256Hash}` with no query looks the
//! document up (`PERSISTED_QUERY_NOT_FOUND` when it is not stored, so the client sends it
//! again with the query); with the query, the hash is checked and the document stored.
//! Under `PERSISTED_QUERIES_ONLY` nothing is stored and only registered documents run.

use async_graphql::{ErrorExtensionValues, Request, Response, ServerError, Value};

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

impl Refused {
    /// The refusal as a GraphQL response with a request error, for any transport.
    pub fn response(&self) -> Response {
        // Apollo's clients recognise the message as well as the code.
        let (message, code) = match self {
            Refused::NotFound => ("PersistedQueryNotFound", "PERSISTED_QUERY_NOT_FOUND"),
            Refused::HashMismatch => ("provided sha does not match query", "BAD_USER_INPUT"),
            Refused::Malformed => {
                ("extensions.persistedQuery must be {\"version\": 1, \"sha256Hash\": \"<hex>\"}", "BAD_USER_INPUT")
            }
            Refused::NotRegistered => (
                "only registered documents may run on this server (PERSISTED_QUERIES_ONLY)",
                "PERSISTED_QUERY_NOT_IN_LIST",
            ),
            Refused::Internal => ("internal error", "INTERNAL"),
        };
        let mut error = ServerError::new(message, None);
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", code);
        error.extensions = Some(extensions);
        Response::from_errors(vec![error])
    }
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

    /// Applies `request`'s persisted query, filling in its document; refuses it when the
    /// protocol (or the trusted-documents mode) says so. Nothing runs before this. Only
    /// `authenticated` callers' documents are stored: an anonymous request cannot spend
    /// the shared store (it runs, and its resolvers answer UNAUTHENTICATED).
    #[tracing::instrument(skip_all, name = "persisted_query")]
    pub async fn apply(&self, request: &mut Request, authenticated: bool) -> Result<(), Refused> {
        let now_ms = self.clock.now().timestamp_millis();
        let hash = match request.extensions.get("persistedQuery") {
            None => None,
            Some(extension) => Some(requested_hash(extension).ok_or(Refused::Malformed)?),
        };
        let Some(hash) = hash else {
            if self.only_registered {
                return self.check_registered(&sha256_hex(&request.query), now_ms).await;
            }
            return Ok(());
        };
        if request.query.is_empty() {
            let found = self.store.find(&hash, now_ms).await.map_err(internal)?;
            return match found {
                Some(found) if found.registered || !self.only_registered => {
                    request.query = found.document;
                    Ok(())
                }
                _ => Err(Refused::NotFound),
            };
        }
        if sha256_hex(&request.query) != hash {
            return Err(Refused::HashMismatch);
        }
        if self.only_registered {
            return self.check_registered(&hash, now_ms).await;
        }
        // Only documents that parse are worth keeping; the executor reports the others.
        if authenticated && async_graphql::parser::parse_query(&request.query).is_ok() {
            self.store.remember(&hash, &request.query, now_ms).await.map_err(internal)?;
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

/// `{version: 1, sha256Hash}`'s hash, lowercased; None when it is not that.
fn requested_hash(extension: &Value) -> Option<String> {
    let Value::Object(fields) = extension else { return None };
    let version_ok = matches!(fields.get("version"), Some(Value::Number(n)) if n.as_i64() == Some(1));
    let Some(Value::String(hash)) = fields.get("sha256Hash") else { return None };
    let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (version_ok && hex).then(|| hash.to_ascii_lowercase())
}

fn internal(err: sea_orm::DbErr) -> Refused {
    tracing::error!(error = %err, "persisted query store failed");
    Refused::Internal
}

#[cfg(test)]
mod tests {
    use super::requested_hash;
    use async_graphql::Value;

    fn extension(json: serde_json::Value) -> Value {
        Value::from_json(json).unwrap()
    }

    #[test]
    fn only_version_one_with_a_hex_sha256_is_a_persisted_query() {
        let hash = "A".repeat(64);
        let ok = requested_hash(&extension(serde_json::json!({ "version": 1, "sha256Hash": hash })));
        assert_eq!(ok, Some("a".repeat(64)));
        for bad in [
            serde_json::json!({ "version": 2, "sha256Hash": "a".repeat(64) }),
            serde_json::json!({ "version": 1, "sha256Hash": "abc" }),
            serde_json::json!({ "version": 1, "sha256Hash": "z".repeat(64) }),
            serde_json::json!({ "version": 1 }),
            serde_json::json!("x"),
        ] {
            assert_eq!(requested_hash(&extension(bad.clone())), None, "{bad}");
        }
    }
}
