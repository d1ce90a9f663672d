//! The schema's query root: the plain `Query`, which also answers entity references when
//! the schema is federated. Its type info is `Query`'s alone, so the plain schema gains no
//! `_entities` and no `@key`: those exist only where `graphql::schema` enables federation
//! and registers `EntityKeys`.

use async_graphql::parser::types::Field;
use async_graphql::resolver_utils::{ContainerType, resolve_container};
use async_graphql::{Context, ContextSelectionSet, ObjectType, OutputType, Positioned, ServerResult, Value, registry};
use std::borrow::Cow;

use super::entities::Entities;
use crate::graphql::query::Query;

#[derive(Default)]
pub struct Root(Query);

impl ContainerType for Root {
    async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        self.0.resolve_field(ctx).await
    }

    /// Reached only through `_entities`, which exists only in the federated schema.
    async fn find_entity(&self, ctx: &Context<'_>, params: &Value) -> ServerResult<Option<Value>> {
        Entities.find_entity(ctx, params).await
    }
}

impl OutputType for Root {
    fn type_name() -> Cow<'static, str> {
        Query::type_name()
    }

    fn create_type_info(registry: &mut registry::Registry) -> String {
        Query::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, _field: &Positioned<Field>) -> ServerResult<Value> {
        resolve_container(ctx, self).await
    }
}

impl ObjectType for Root {}
