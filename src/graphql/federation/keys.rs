//! The `@key(fields: "id")` of every resource a gateway may reference. Registered only in
//! the federated schema: async-graphql adds `_entities` to any schema whose types carry a
//! key, and the plain schema must stay the contract of `schema.graphql`.

use async_graphql::parser::types::Field;
use async_graphql::{ContextSelectionSet, OutputType, Positioned, ServerResult, Value, registry};
use std::borrow::Cow;

/// The entity types, each keyed by `id` (and resolved by `Entities`).
pub const ENTITY_TYPES: &[&str] = &["Practice", "Provider", "Patient", "Appointment", "Payment", "Charge"];

/// Registering this type (`SchemaBuilder::register_output_type`) keys the entity types;
/// it adds no type of its own.
pub struct EntityKeys;

impl OutputType for EntityKeys {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed("Practice")
    }

    fn create_type_info(registry: &mut registry::Registry) -> String {
        for ty in ENTITY_TYPES {
            registry.add_keys(ty, "id");
        }
        "Practice".to_string()
    }

    async fn resolve(&self, _ctx: &ContextSelectionSet<'_>, _field: &Positioned<Field>) -> ServerResult<Value> {
        Ok(Value::Null)
    }
}
