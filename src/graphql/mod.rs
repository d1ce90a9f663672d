//! The GraphQL schema: types, queries, mutations and subscriptions, split per resource
//! and merged here; error codes are attached in `errors`. Every GraphQL type is this
//! module's: `types` gives the plain records of the layers below their face, the
//! mutations convert their inputs into the domain's, and `persisted` applies persisted
//! queries to a GraphQL request; `federation` makes the schema a federation subgraph.

pub mod bounds;
mod connection;
mod context;
mod errors;
mod federation;
mod live;
mod metering;
mod mutation;
mod no_nul;
mod operation;
mod persisted;
mod query;
mod render_cache;
mod root_fields;
mod schema;
pub mod shared_feed;
mod subscription;
mod tokens;
pub mod types;

pub use bounds::{Bounded, Bounds, MAX_NESTING};
pub use errors::{ErrorCodes, GqlResult, fill_code};
pub use live::{LiveDirective, asks, live_query};
pub use operation::{operation_name, selected_operation, streams, unparsed};
pub use render_cache::{RenderCache, RenderSlot};
pub use root_fields::hoist_root_fields;
pub use schema::{AppSchema, build, federation_sdl, introspection_schema, sdl};
