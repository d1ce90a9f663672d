//! The GraphQL schema: types, queries, mutations and subscriptions, split per resource
//! and merged here; error codes are attached in `errors`.

mod connection;
mod context;
mod errors;
mod metering;
mod mutation;
mod no_nul;
mod operation;
mod query;
mod render_cache;
mod schema;
pub mod shared_feed;
mod subscription;
pub mod types;

pub use errors::{ErrorCodes, GqlResult, fill_code};
pub use operation::{operation_name, selected_operation, streams};
pub use render_cache::{RenderCache, RenderSlot};
pub use schema::{AppSchema, build, introspection_schema, sdl};
