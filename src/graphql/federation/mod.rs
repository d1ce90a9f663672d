//! The schema as an Apollo Federation v2 subgraph (`FEDERATION=true`): the query root with
//! entity references, the `@key`s of the resources, and the per-request batches that load
//! referenced entities with one query per kind, scoped by the caller.

mod entities;
mod keys;
mod loader;
mod root;

pub use keys::EntityKeys;
pub use loader::EntityBatches;
pub use root::Root;
