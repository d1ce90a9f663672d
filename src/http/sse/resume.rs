//! Making a subscription over SSE resumable, by rewriting its parsed document: each root
//! field also selects its `cursor` under a private alias (read for the SSE `id:` and
//! removed before the result is sent), and a `Last-Event-ID` becomes its `after`.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection,
};
use async_graphql::{Name, Pos, Positioned, Value};
use async_graphql_value::{ConstValue, Value as ArgumentValue};

use crate::graphql::selected_operation;

/// The response key under which the cursor is selected; clients never see it.
pub(super) const CURSOR_KEY: &str = "_sseCursor";

/// What the stream needs to know about the operation it runs.
pub(super) struct Plan {
    /// The response keys of the subscription's root fields (empty for queries and mutations).
    pub root_keys: Vec<String>,
}

impl Plan {
    /// Why a `Last-Event-ID` cannot resume this subscription, if it cannot: each root field
    /// is its own position in the log, and one id resuming them all could skip what one of
    /// them had not sent yet. Refused up front rather than resumed with a gap.
    pub fn unresumable(&self, last_event_id: Option<&str>) -> Option<String> {
        let fields = self.root_keys.len();
        (last_event_id.is_some() && fields > 1).then(|| {
            format!(
                "Last-Event-ID resumes a subscription with one root field; this one has {fields} ({}): \
                 subscribe to each on its own stream",
                self.root_keys.join(", ")
            )
        })
    }
}

/// The type of the operation the request runs (None when the document names no such
/// operation). Errors are syntax errors.
pub(super) fn kind(request: &mut async_graphql::Request) -> Result<Option<OperationType>, String> {
    let name = request.operation_name.clone();
    let document = request.parsed_query().map_err(|e| e.message.clone())?;
    Ok(selected_operation(document, name.as_deref()).map(|op| op.node.ty))
}

/// Prepares `request` for SSE. Errors are syntax errors: the protocol answers them with 400.
pub(super) fn prepare(request: &mut async_graphql::Request, last_event_id: Option<&str>) -> Result<Plan, String> {
    let mut document = request.parsed_query().map_err(|e| e.message)?.clone();
    let Some(operation) = selected(&mut document, request.operation_name.as_deref()) else {
        return Ok(Plan { root_keys: Vec::new() });
    };
    if operation.node.ty != OperationType::Subscription {
        return Ok(Plan { root_keys: Vec::new() });
    }
    let mut root_keys = Vec::new();
    let fields = operation.node.selection_set.node.items.iter_mut().filter_map(|item| match &mut item.node {
        Selection::Field(field) => Some(&mut field.node),
        _ => None,
    });
    for field in fields {
        if field.name.node.as_str().starts_with("__") {
            continue;
        }
        let key = field.alias.as_ref().unwrap_or(&field.name).node.to_string();
        if !root_keys.contains(&key) {
            root_keys.push(key);
        }
        field.selection_set.node.items.push(positioned(Selection::Field(positioned(cursor_field()))));
        if let Some(cursor) = last_event_id {
            set_after(field, cursor, &mut request.variables);
        }
    }
    request.set_parsed_query(document);
    Ok(Plan { root_keys })
}

/// `graphql::selected_operation`, for rewriting the operation in place.
fn selected<'a>(
    document: &'a mut ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a mut Positioned<OperationDefinition>> {
    match (&mut document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get_mut(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values_mut().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// `_sseCursor: cursor`
fn cursor_field() -> Field {
    Field {
        alias: Some(positioned(Name::new(CURSOR_KEY))),
        name: positioned(Name::new("cursor")),
        arguments: Vec::new(),
        directives: Vec::new(),
        selection_set: positioned(Default::default()),
    }
}

/// Resumes after `cursor`: the `after` variable gets it when the field takes `after` from a
/// variable (the variable stays used), otherwise the argument is set or replaced literally.
fn set_after(field: &mut Field, cursor: &str, variables: &mut async_graphql::Variables) {
    let literal = ArgumentValue::String(cursor.to_string());
    match field.arguments.iter_mut().find(|(name, _)| name.node == "after") {
        Some((_, value)) => match &value.node {
            ArgumentValue::Variable(variable) => {
                variables.insert(variable.clone(), ConstValue::String(cursor.to_string()));
            }
            _ => value.node = literal,
        },
        None => field.arguments.push((positioned(Name::new("after")), positioned(literal))),
    }
}

fn positioned<T>(node: T) -> Positioned<T> {
    Positioned::new(node, Pos::default())
}

/// Takes the private cursor out of a result: the cursor of the event it carries, if any.
pub(super) fn take_cursor(data: &mut Value, root_keys: &[String]) -> Option<String> {
    let Value::Object(root) = data else { return None };
    let mut cursor = None;
    for key in root_keys {
        if let Some(Value::Object(event)) = root.get_mut(key.as_str())
            && let Some(Value::String(found)) = event.shift_remove(CURSOR_KEY)
        {
            cursor = Some(found);
        }
    }
    cursor
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(query: &str, variables: serde_json::Value, last: Option<&str>) -> (async_graphql::Request, Plan) {
        let mut request = async_graphql::Request::new(query).variables(async_graphql::Variables::from_json(variables));
        let plan = prepare(&mut request, last).expect("parses");
        (request, plan)
    }

    fn printed_after(request: &mut async_graphql::Request) -> Option<String> {
        let document = request.parsed_query().unwrap();
        let op = document.operations.iter().next().unwrap().1;
        let Selection::Field(field) = &op.node.selection_set.node.items[0].node else { panic!() };
        let names: Vec<_> = field
            .node
            .selection_set
            .node
            .items
            .iter()
            .filter_map(|s| match &s.node {
                Selection::Field(f) => Some(f.node.alias.as_ref().map(|a| a.node.to_string())),
                _ => None,
            })
            .collect();
        assert!(names.contains(&Some(CURSOR_KEY.to_string())), "the cursor is selected");
        field.node.get_argument("after").map(|v| v.node.to_string())
    }

    #[test]
    fn a_last_event_id_sets_the_after_variable_when_the_query_uses_one() {
        let (request, plan) = plan(
            "subscription($p: ID!, $a: String) { feed: events(practiceId: $p, after: $a) { seq } }",
            serde_json::json!({ "p": "prc_1", "a": "old" }),
            Some("new"),
        );
        assert_eq!(plan.root_keys, vec!["feed".to_string()]);
        assert_eq!(request.variables.get("a").unwrap(), &ConstValue::String("new".into()));
    }

    #[test]
    fn a_last_event_id_replaces_or_inserts_a_literal_after() {
        let (mut request, _) = plan(
            "subscription { events(practiceId: \"p\", after: \"old\") { seq } }",
            serde_json::json!({}),
            Some("new"),
        );
        assert_eq!(printed_after(&mut request).as_deref(), Some("\"new\""));
        let (mut request, _) =
            plan("subscription { events(practiceId: \"p\") { seq } }", serde_json::json!({}), Some("new"));
        assert_eq!(printed_after(&mut request).as_deref(), Some("\"new\""));
        let (mut request, _) = plan("subscription { events(practiceId: \"p\") { seq } }", serde_json::json!({}), None);
        assert_eq!(printed_after(&mut request), None);
    }

    #[test]
    fn queries_are_left_alone_and_syntax_errors_are_reported() {
        let (_, plan) = plan("{ practices { edges { cursor } } }", serde_json::json!({}), Some("x"));
        assert!(plan.root_keys.is_empty());
        let mut bad = async_graphql::Request::new("subscription {");
        assert!(prepare(&mut bad, None).is_err());
    }

    #[test]
    fn the_private_cursor_is_taken_out_of_the_result() {
        let mut data = Value::from_json(serde_json::json!({ "events": { "seq": 3, "_sseCursor": "c3" } })).unwrap();
        assert_eq!(take_cursor(&mut data, &["events".to_string()]).as_deref(), Some("c3"));
        assert_eq!(data.into_json().unwrap(), serde_json::json!({ "events": { "seq": 3 } }));
    }
}
