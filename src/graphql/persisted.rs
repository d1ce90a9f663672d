//! Persisted queries on a GraphQL request (`crate::persisted` holds the protocol): its
//! `extensions.persistedQuery` read, its document filled in, and a refusal answered as a
//! GraphQL response with a request error, on every transport.

use async_graphql::{ErrorExtensionValues, Request, Response, ServerError, Value};

use crate::persisted::{PersistedQueries, Refused};

impl PersistedQueries {
    /// Applies `request`'s persisted query, filling in its document; refuses it when the
    /// protocol (or the trusted-documents mode) says so (`PersistedQueries::apply_to`).
    #[tracing::instrument(skip_all, name = "persisted_query")]
    pub async fn apply(&self, request: &mut Request, authenticated: bool) -> Result<(), Refused> {
        let hash = match request.extensions.get("persistedQuery") {
            None => None,
            Some(extension) => Some(requested_hash(extension).ok_or(Refused::Malformed)?),
        };
        self.apply_to(&mut request.query, hash, authenticated).await
    }
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

/// `{version: 1, sha256Hash}`'s hash, lowercased; None when it is not that.
fn requested_hash(extension: &Value) -> Option<String> {
    let Value::Object(fields) = extension else { return None };
    let version_ok = matches!(fields.get("version"), Some(Value::Number(n)) if n.as_i64() == Some(1));
    let Some(Value::String(hash)) = fields.get("sha256Hash") else { return None };
    let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (version_ok && hex).then(|| hash.to_ascii_lowercase())
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
