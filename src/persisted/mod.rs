//! Persisted queries: GraphQL documents stored under their SHA-256 in the database (so
//! every replica shares them), Apollo's automatic persisted queries protocol over them,
//! and trusted documents (`PERSISTED_QUERIES_ONLY`).
//!
//! `store` reads and writes the table (bounded, least recently used pruned first),
//! `protocol` applies a request's `extensions.persistedQuery` to its document (or refuses
//! it; `graphql::persisted` reads the extension off a GraphQL request and answers a
//! refusal), `manifest` reads the files an operator registers ahead of time, `settings`
//! holds what clients may send (`ClientArgs`: these and the HTTP door's CORS origins and
//! batch size).

mod manifest;
mod protocol;
mod settings;
mod store;

pub use manifest::documents_in;
pub use protocol::{PersistedQueries, Refused};
pub use settings::ClientArgs;
pub use store::{DocumentStore, sha256_hex};
