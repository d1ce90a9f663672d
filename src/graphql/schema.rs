//! Assembling the schema, with its limits, from the per-resource parts.

use async_graphql::Schema;

use super::errors::ErrorCodes;
use super::mutation::Mutation;
use super::query::Query;
use super::subscription::Subscription;
use crate::bridges::Bridges;
use crate::config::Config;
use crate::domain::Services;
use crate::live::LiveDirective;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

pub fn build(services: Services, config: &Config, bridges: Bridges) -> AppSchema {
    Schema::build(Query::default(), Mutation::default(), Subscription)
        .data(services)
        .data(bridges)
        .data(config.webhooks.allow_private.clone())
        .directive(LiveDirective)
        .extension(ErrorCodes)
        .extension(super::no_nul::NoNul)
        .extension(super::metering::Metering)
        .limit_depth(config.max_query_depth)
        .limit_complexity(config.max_query_complexity)
        .limit_recursive_depth(64)
        .limit_directives(50)
        .finish()
}

/// The SDL of the public contract: what `clinicstream schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    introspection_schema().sdl()
}

/// The schema without services, for reading its own types (introspection).
pub fn introspection_schema() -> AppSchema {
    Schema::build(Query::default(), Mutation::default(), Subscription).directive(LiveDirective).finish()
}
