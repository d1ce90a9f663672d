//! Assembling the schema, with its limits, from the per-resource parts.

use async_graphql::{SDLExportOptions, Schema, SchemaBuilder};
use std::sync::Arc;

use super::errors::ErrorCodes;
use super::federation::{EntityBatches, EntityKeys, Root};
use super::live::LiveDirective;
use super::mutation::Mutation;
use super::subscription::Subscription;
use crate::audit::Recorder;
use crate::bridges::Bridges;
use crate::config::Config;
use crate::domain::Services;
use crate::inbox::CommandStatuses;
use crate::usage::Meter;

pub type AppSchema = Schema<Root, Mutation, Subscription>;

/// The schema over the domain's services, with the usage meter and the audit recorder its
/// `metering` extension and the usage queries read.
pub fn build(
    services: &Services,
    usage: &Arc<Meter>,
    audit: &Arc<Recorder>,
    config: &Config,
    bridges: Bridges,
    commands: CommandStatuses,
) -> AppSchema {
    let builder = Schema::build(Root::default(), Mutation::default(), Subscription)
        .data(services.clone())
        .data(usage.clone())
        .data(audit.clone())
        .data(bridges)
        .data(commands)
        .data(config.webhooks.allow_private.clone());
    let builder = limited(builder, config).extension(super::metering::Metering);
    if config.federation.enabled { federated(builder).extension(EntityBatches) } else { builder }.finish()
}

/// The directive, error codes and limits every schema that serves requests has; the
/// document's bounds come first, before anything else reads it.
pub(crate) fn limited(
    builder: SchemaBuilder<Root, Mutation, Subscription>,
    config: &Config,
) -> SchemaBuilder<Root, Mutation, Subscription> {
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

/// The SDL a federation gateway composes: what `_service { sdl }` answers when
/// `FEDERATION=true`, what `clinicstream schema --federation` prints and
/// `schema.federation.graphql` holds.
pub fn federation_sdl() -> String {
    let schema = federated(Schema::build(Root::default(), Mutation::default(), Subscription).directive(LiveDirective));
    schema.finish().sdl_with_options(SDLExportOptions::new().federation().compose_directive())
}

/// An Apollo Federation v2 subgraph (the `@link` of federation 2.5): `_service`,
/// `_entities` for the keyed resources, and the subscriptions in its SDL.
fn federated(builder: SchemaBuilder<Root, Mutation, Subscription>) -> SchemaBuilder<Root, Mutation, Subscription> {
    builder.enable_federation().enable_subscription_in_federation().register_output_type::<EntityKeys>()
}

/// The schema without services, for reading its own types (introspection).
pub fn introspection_schema() -> AppSchema {
    Schema::build(Root::default(), Mutation::default(), Subscription).directive(LiveDirective).finish()
}
