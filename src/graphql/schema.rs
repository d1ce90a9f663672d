//! Assembling the schema, with its limits, from the per-resource parts.

use async_graphql::{Schema, SchemaBuilder};
use std::sync::Arc;

use super::errors::ErrorCodes;
use super::live::LiveDirective;
use super::mutation::Mutation;
use super::query::Query;
use super::subscription::Subscription;
use crate::audit::Recorder;
use crate::bridges::Bridges;
use crate::config::Config;
use crate::domain::Services;
use crate::usage::Meter;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// The schema over the domain's services, with the usage meter and the audit recorder its
/// `metering` extension and the usage queries read.
pub fn build(
    services: &Services,
    usage: &Arc<Meter>,
    audit: &Arc<Recorder>,
    config: &Config,
    bridges: Bridges,
) -> AppSchema {
    let builder = Schema::build(Query::default(), Mutation::default(), Subscription)
        .data(services.clone())
        .data(usage.clone())
        .data(audit.clone())
        .data(bridges)
        .data(config.webhooks.allow_private.clone());
    limited(builder, config).extension(super::metering::Metering).finish()
}

/// The directive, error codes and limits every schema that serves requests has; the
/// document's bounds come first, before anything else reads it.
pub(crate) fn limited(
    builder: SchemaBuilder<Query, Mutation, Subscription>,
    config: &Config,
) -> SchemaBuilder<Query, Mutation, Subscription> {
    builder
        .directive(LiveDirective)
        .extension(super::bounds::Bounded(super::Bounds::of(config)))
        .extension(ErrorCodes)
        .extension(super::no_nul::NoNul)
        .limit_depth(config.max_query_depth)
        .limit_complexity(config.max_query_complexity)
        .limit_recursive_depth(super::bounds::MAX_NESTING)
        .limit_directives(50)
}

/// The SDL of the public contract: what `clinicstream schema` prints and `schema.graphql` holds.
pub fn sdl() -> String {
    introspection_schema().sdl()
}

/// The schema without services, for reading its own types (introspection).
pub fn introspection_schema() -> AppSchema {
    Schema::build(Query::default(), Mutation::default(), Subscription).directive(LiveDirective).finish()
}
