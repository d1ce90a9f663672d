//! Which resources a live query's result was made of, so that an event re-executes only
//! the live queries it can change. Before a live query runs, every selection on a type
//! with an `id` also selects it under a private alias (and `practiceId` where the type
//! has one); the result is then walked once: the aliased values are collected and taken
//! out, so the client sees exactly what it asked for.
//!
//! An event can change a result if it is about one of those resources (its own id, or a
//! patient, provider or appointment it refers to), or if the query read the practice as
//! a whole (a root field taking `practiceId`, or the practice itself): every event of the
//! practice counts then.

use async_graphql::parser::Positioned;
use async_graphql::parser::types::{
    BaseType, ExecutableDocument, Field, Selection, SelectionSet, TypeKind, TypeSystemDefinition,
};
use async_graphql_value::{ConstValue as Value, Name, Variables};
use std::collections::{HashMap, HashSet};

const ID_ALIAS: &str = "__liveId";
const PRACTICE_ALIAS: &str = "__livePractice";

/// The schema's composite types: each field's named type, and which types have an `id`
/// and a `practiceId`. Read once from the SDL.
#[derive(Default)]
pub struct Types {
    fields: HashMap<String, HashMap<String, String>>,
}

impl Types {
    pub fn from_sdl(sdl: &str) -> Self {
        let mut types = Types::default();
        let Ok(document) = async_graphql::parser::parse_schema(sdl) else { return types };
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else { continue };
            let fields = match &definition.node.kind {
                TypeKind::Object(object) => &object.fields,
                TypeKind::Interface(interface) => &interface.fields,
                _ => continue,
            };
            let fields = fields
                .iter()
                .map(|f| {
                    let mut ty = &f.node.ty.node;
                    while let BaseType::List(inner) = &ty.base {
                        ty = inner;
                    }
                    let BaseType::Named(name) = &ty.base else { unreachable!() };
                    (f.node.name.node.to_string(), name.to_string())
                })
                .collect();
            types.fields.insert(definition.node.name.node.to_string(), fields);
        }
        types
    }

    fn has(&self, ty: &str, field: &str) -> bool {
        self.fields.get(ty).is_some_and(|fields| fields.contains_key(field))
    }

    fn field_type(&self, ty: &str, field: &str) -> Option<&str> {
        self.fields.get(ty)?.get(field).map(String::as_str)
    }

    /// Adds the private selections to the selected operation and every fragment.
    pub fn instrument(&self, document: &mut ExecutableDocument, operation_name: Option<&str>) {
        for (_, fragment) in document.fragments.iter_mut() {
            let ty = fragment.node.type_condition.node.on.node.to_string();
            self.instrument_set(&mut fragment.node.selection_set.node, &ty);
        }
        let operation = match &mut document.operations {
            async_graphql::parser::types::DocumentOperations::Single(op) => Some(op),
            async_graphql::parser::types::DocumentOperations::Multiple(ops) => match operation_name {
                Some(name) => ops.get_mut(name),
                None => ops.values_mut().next(),
            },
        };
        if let Some(operation) = operation {
            self.instrument_set(&mut operation.node.selection_set.node, "Query");
        }
    }

    fn instrument_set(&self, set: &mut SelectionSet, ty: &str) {
        for item in &mut set.items {
            match &mut item.node {
                Selection::Field(field) => {
                    let field = &mut field.node;
                    if field.selection_set.node.items.is_empty() {
                        continue;
                    }
                    if let Some(inner) = self.field_type(ty, &field.name.node) {
                        let inner = inner.to_string();
                        self.instrument_set(&mut field.selection_set.node, &inner);
                    }
                }
                Selection::InlineFragment(fragment) => {
                    let inner = match &fragment.node.type_condition {
                        Some(condition) => condition.node.on.node.to_string(),
                        None => ty.to_string(),
                    };
                    self.instrument_set(&mut fragment.node.selection_set.node, &inner);
                }
                Selection::FragmentSpread(_) => {}
            }
        }
        if ty == "Query" {
            return;
        }
        let position = set.items.first().map(|item| item.pos).unwrap_or_default();
        for (alias, field) in [(ID_ALIAS, "id"), (PRACTICE_ALIAS, "practiceId")] {
            if self.has(ty, field) {
                let selection = Field {
                    alias: Some(Positioned::new(Name::new(alias), position)),
                    name: Positioned::new(Name::new(field), position),
                    arguments: Vec::new(),
                    directives: Vec::new(),
                    selection_set: Positioned::new(SelectionSet::default(), position),
                };
                set.items.push(Positioned::new(Selection::Field(Positioned::new(selection, position)), position));
            }
        }
    }
}

/// What a result was made of.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reads {
    /// Resources read, by id.
    pub ids: HashSet<String>,
    /// The practices the result's resources belong to.
    pub practices: HashSet<String>,
    /// The query read a practice as a whole: every event of it may change the result.
    pub whole_practice: bool,
}

impl Reads {
    /// From the root fields' arguments: an `id`, `patientId` or `providerId` names a
    /// resource (found or not), a `practiceId` the whole practice.
    pub fn of_arguments(document: &ExecutableDocument, operation_name: Option<&str>, variables: &Variables) -> Self {
        let mut reads = Reads::default();
        let Some(operation) = crate::operation::selected_operation(document, operation_name) else { return reads };
        for item in &operation.node.selection_set.node.items {
            let Selection::Field(field) = &item.node else { continue };
            if field.node.name.node == "practice" {
                reads.whole_practice = true;
            }
            for (name, value) in &field.node.arguments {
                let value =
                    value.node.clone().into_const_with(|v| Ok::<_, ()>(variables.get(&v).cloned().unwrap_or_default()));
                let Ok(Value::String(id)) = value else { continue };
                match name.node.as_str() {
                    "practiceId" => {
                        reads.whole_practice = true;
                        reads.practices.insert(id);
                    }
                    "id" if field.node.name.node == "practice" => {
                        reads.practices.insert(id.clone());
                        reads.ids.insert(id);
                    }
                    "id" | "patientId" | "providerId" => {
                        reads.ids.insert(id);
                    }
                    _ => {}
                }
            }
        }
        reads
    }

    /// Takes the private selections out of `data`, noting what they held.
    pub fn collect(&mut self, data: &mut Value) {
        match data {
            Value::Object(object) => {
                if let Some(Value::String(id)) = object.shift_remove(ID_ALIAS) {
                    self.ids.insert(id);
                }
                if let Some(Value::String(practice)) = object.shift_remove(PRACTICE_ALIAS) {
                    self.practices.insert(practice);
                }
                for value in object.values_mut() {
                    self.collect(value);
                }
            }
            Value::List(items) => items.iter_mut().for_each(|item| self.collect(item)),
            _ => {}
        }
    }

    /// Whether `event_ids` (an event's resources) may change the result.
    pub fn affected_by(&self, event_ids: &[&str]) -> bool {
        self.whole_practice || event_ids.iter().any(|id| self.ids.contains(*id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDL: &str = "type Query { patient(id: ID!): Patient appointment(id: ID!): Appointment }
        type Patient { id: ID! practiceId: ID! balanceCents: Int! }
        type Appointment { id: ID! practiceId: ID! patient: Patient! status: String! }";

    fn run(query: &str, data: serde_json::Value) -> (String, Reads) {
        let types = Types::from_sdl(SDL);
        let mut document = async_graphql::parser::parse_query(query).unwrap();
        types.instrument(&mut document, None);
        let mut reads = Reads::of_arguments(&document, None, &Variables::default());
        let mut data = Value::from_json(data).unwrap();
        reads.collect(&mut data);
        (data.to_string(), reads)
    }

    #[test]
    fn the_resources_read_are_collected_and_hidden() {
        let (data, reads) = run(
            "{ appointment(id: \"a1\") { status patient { balanceCents } } }",
            serde_json::json!({ "appointment": { "status": "SCHEDULED", "patient": {
                "balanceCents": 5, "__liveId": "p1", "__livePractice": "pr" }, "__liveId": "a1", "__livePractice": "pr" } }),
        );
        assert_eq!(data, "{appointment: {patient: {balanceCents: 5}, status: \"SCHEDULED\"}}");
        assert_eq!(reads.ids, HashSet::from(["a1".to_string(), "p1".to_string()]));
        assert_eq!(reads.practices, HashSet::from(["pr".to_string()]));
        assert!(!reads.whole_practice);
        assert!(reads.affected_by(&["x", "p1"]));
        assert!(!reads.affected_by(&["p2"]));
    }

    #[test]
    fn every_composite_selection_also_selects_its_id() {
        let types = Types::from_sdl(SDL);
        let mut document = async_graphql::parser::parse_query(
            "query { patient(id: \"p\") { ...F } } fragment F on Patient { balanceCents }",
        )
        .unwrap();
        types.instrument(&mut document, None);
        let fragment = &document.fragments[&Name::new("F")].node.selection_set.node.items;
        let names: Vec<_> = fragment
            .iter()
            .filter_map(|s| match &s.node {
                Selection::Field(f) => Some(f.node.response_key().node.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["balanceCents", ID_ALIAS, PRACTICE_ALIAS]);
    }
}
