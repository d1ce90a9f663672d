//! A subscription's root fields brought up to its root when the document writes them
//! inside fragments (named or inline): async-graphql starts a stream only for a field
//! selected directly at the subscription root and silently drops a fragment there, so
//! without this a valid subscription would end at once, or start nothing, on every door.
//!
//! Included fragments of the `Subscription` type are expanded in place, each named one
//! once (a visited set, so fragments spreading fragments never expand exponentially), and
//! a root field selected more than once becomes one field, as the spec merges them (the
//! executor would otherwise run a stream per occurrence and send every event twice).
//! A fragment skipped by `@skip`/`@include`, of another type or unknown, stays where it
//! is: the executor drops it, and the validator reports what is wrong with it. Fragment
//! and variable definitions only the expanded fragments used are dropped with them, so
//! the validator does not call them unused.

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, OperationDefinition, OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, Request, Variables};
use async_graphql_value::{ConstValue, Value};
use std::collections::{HashMap, HashSet};

/// The root type whose fragments are expanded.
const SUBSCRIPTION: &str = "Subscription";

/// Rewrites `request`'s document so that its subscription's root fields are selected
/// directly. Leaves anything else (queries, mutations, documents that do not parse) alone.
pub fn hoist_root_fields(request: &mut Request) {
    let name = request.operation_name.clone();
    let variables = request.variables.clone();
    let Ok(document) = request.parsed_query() else { return };
    let Some(operation) = crate::graphql::selected_operation(document, name.as_deref()) else { return };
    if operation.node.ty != OperationType::Subscription || !needs_hoisting(&operation.node.selection_set.node) {
        return;
    }
    let mut document = document.clone();
    let before = Uses::of(&document, name.as_deref());
    let fragments = document.fragments.clone();
    let Some(operation) = selected_mut(&mut document.operations, name.as_deref()) else { return };
    let operation = &mut operation.node;
    let defaults: HashMap<Name, ConstValue> = operation
        .variable_definitions
        .iter()
        .filter_map(|d| Some((d.node.name.node.clone(), d.node.default_value.as_ref()?.node.clone())))
        .collect();
    let conditions = Conditions { variables: &variables, defaults: &defaults };
    let items = std::mem::take(&mut operation.selection_set.node.items);
    let mut expanded = Vec::new();
    expand(items, &fragments, &conditions, &mut HashSet::new(), &mut expanded);
    operation.selection_set.node.items = merge(expanded);
    let after = Uses::of(&document, name.as_deref());
    document.fragments.retain(|name, _| !before.fragments.contains(name) || after.fragments.contains(name));
    if let Some(operation) = selected_mut(&mut document.operations, name.as_deref()) {
        let used = |name: &Name| !before.variables.contains(name) || after.variables.contains(name);
        operation.node.variable_definitions.retain(|d| used(&d.node.name.node));
    }
    request.set_parsed_query(document);
}

/// Whether the root holds a fragment or selects a response key twice.
fn needs_hoisting(set: &SelectionSet) -> bool {
    let mut keys = HashSet::new();
    set.items.iter().any(|item| match &item.node {
        Selection::Field(field) => !keys.insert(field.node.response_key().node.clone()),
        _ => true,
    })
}

fn selected_mut<'a>(
    operations: &'a mut DocumentOperations,
    name: Option<&str>,
) -> Option<&'a mut Positioned<OperationDefinition>> {
    match (operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get_mut(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values_mut().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// What `@skip(if:)`/`@include(if:)` read: the request's variables, else their defaults.
struct Conditions<'a> {
    variables: &'a Variables,
    defaults: &'a HashMap<Name, ConstValue>,
}

impl Conditions<'_> {
    /// Some(true) when the directives keep the selection, Some(false) when they skip it,
    /// None when a condition is not a Boolean (the validator says so).
    fn included(&self, directives: &[Positioned<async_graphql::parser::types::Directive>]) -> Option<bool> {
        let mut included = true;
        for directive in directives {
            let include = match directive.node.name.node.as_str() {
                "include" => true,
                "skip" => false,
                _ => continue,
            };
            let condition = match &directive.node.get_argument("if")?.node {
                Value::Boolean(value) => *value,
                Value::Variable(name) => match self.variables.get(name).or_else(|| self.defaults.get(name)) {
                    Some(ConstValue::Boolean(value)) => *value,
                    _ => return None,
                },
                _ => return None,
            };
            included &= condition == include;
        }
        Some(included)
    }
}

/// Appends `items` to `out`, expanding included `Subscription` fragments.
fn expand(
    items: Vec<Positioned<Selection>>,
    fragments: &HashMap<Name, Positioned<async_graphql::parser::types::FragmentDefinition>>,
    conditions: &Conditions<'_>,
    visited: &mut HashSet<Name>,
    out: &mut Vec<Positioned<Selection>>,
) {
    for item in items {
        match &item.node {
            Selection::Field(_) => out.push(item),
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                let fragment = fragments.get(name).filter(|f| f.node.type_condition.node.on.node == SUBSCRIPTION);
                match (fragment, conditions.included(&spread.node.directives)) {
                    (Some(fragment), Some(true)) => {
                        if visited.insert(name.clone()) {
                            let inner = fragment.node.selection_set.node.items.clone();
                            expand(inner, fragments, conditions, visited, out);
                        }
                    }
                    _ => out.push(item),
                }
            }
            Selection::InlineFragment(inline) => {
                let on_root = inline.node.type_condition.as_ref().is_none_or(|c| c.node.on.node == SUBSCRIPTION);
                if on_root && conditions.included(&inline.node.directives) == Some(true) {
                    let Selection::InlineFragment(inline) = item.node else { continue };
                    expand(inline.node.selection_set.node.items, fragments, conditions, visited, out);
                } else {
                    out.push(item);
                }
            }
        }
    }
}

/// One field per response key where the occurrences are the same field (same name and
/// arguments, no directives): their selections are joined. Others stay apart, for the
/// validator to report.
fn merge(items: Vec<Positioned<Selection>>) -> Vec<Positioned<Selection>> {
    let mut out: Vec<Positioned<Selection>> = Vec::new();
    for item in items {
        if let Selection::Field(field) = &item.node
            && let Some(Selection::Field(first)) = out.iter_mut().map(|o| &mut o.node).find(|o| same_field(o, field))
        {
            let more = field.node.selection_set.node.items.clone();
            first.node.selection_set.node.items.extend(more);
            continue;
        }
        out.push(item);
    }
    out
}

fn same_field(candidate: &Selection, field: &Positioned<Field>) -> bool {
    let Selection::Field(other) = candidate else { return false };
    let (a, b) = (&other.node, &field.node);
    a.response_key().node == b.response_key().node
        && a.name.node == b.name.node
        && a.arguments == b.arguments
        && a.directives.is_empty()
        && b.directives.is_empty()
}

/// The fragments reachable from any operation, and the variables the selected one uses.
struct Uses {
    fragments: HashSet<Name>,
    variables: HashSet<Name>,
}

impl Uses {
    fn of(document: &ExecutableDocument, name: Option<&str>) -> Self {
        let (mut fragments, mut ignored) = (HashSet::new(), HashSet::new());
        for (_, operation) in document.operations.iter() {
            walk(document, &operation.node.selection_set.node, &mut fragments, &mut ignored);
        }
        let mut variables = HashSet::new();
        if let Some(operation) = crate::graphql::selected_operation(document, name) {
            walk(document, &operation.node.selection_set.node, &mut HashSet::new(), &mut variables);
        }
        Uses { fragments, variables }
    }
}

/// Collects the fragments spread and the variables used under `set`; each fragment is
/// walked once.
fn walk(document: &ExecutableDocument, set: &SelectionSet, visited: &mut HashSet<Name>, variables: &mut HashSet<Name>) {
    for item in &set.items {
        for directive in item.node.directives() {
            for (_, value) in &directive.node.arguments {
                variables_in(&value.node, variables);
            }
        }
        match &item.node {
            Selection::Field(field) => {
                for (_, value) in &field.node.arguments {
                    variables_in(&value.node, variables);
                }
                walk(document, &field.node.selection_set.node, visited, variables);
            }
            Selection::InlineFragment(inline) => walk(document, &inline.node.selection_set.node, visited, variables),
            Selection::FragmentSpread(spread) => {
                let name = &spread.node.fragment_name.node;
                if let Some(fragment) = document.fragments.get(name)
                    && visited.insert(name.clone())
                {
                    walk(document, &fragment.node.selection_set.node, visited, variables);
                }
            }
        }
    }
}

fn variables_in(value: &Value, out: &mut HashSet<Name>) {
    match value {
        Value::Variable(name) => {
            out.insert(name.clone());
        }
        Value::List(items) => items.iter().for_each(|v| variables_in(v, out)),
        Value::Object(fields) => fields.values().for_each(|v| variables_in(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hoisted(query: &str, variables: serde_json::Value) -> ExecutableDocument {
        let mut request = Request::new(query).variables(Variables::from_json(variables));
        hoist_root_fields(&mut request);
        request.parsed_query().expect("parses").clone()
    }

    fn root(document: &ExecutableDocument) -> Vec<String> {
        let operation = crate::graphql::selected_operation(document, None).expect("one operation");
        let items = &operation.node.selection_set.node.items;
        items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    let inner = field.node.selection_set.node.items.len();
                    format!("{}({inner})", field.node.response_key().node)
                }
                Selection::FragmentSpread(spread) => format!("...{}", spread.node.fragment_name.node),
                Selection::InlineFragment(_) => "... {}".to_string(),
            })
            .collect()
    }

    #[test]
    fn fragments_at_the_root_are_expanded_and_their_definitions_dropped() {
        let document = hoisted(
            "subscription($p: ID!, $on: Boolean = true) { ...A ... @include(if: $on) { b: events(practiceId: $p) { seq } } } \
             fragment A on Subscription { ... on Subscription { events(practiceId: $p) { seq } } }",
            serde_json::json!({ "p": "x" }),
        );
        assert_eq!(root(&document), ["events(1)", "b(1)"]);
        assert!(document.fragments.is_empty(), "A is no longer spread");
        let operation = crate::graphql::selected_operation(&document, None).unwrap();
        let variables: Vec<_> =
            operation.node.variable_definitions.iter().map(|d| d.node.name.node.to_string()).collect();
        assert_eq!(variables, ["p"], "$on was used only by the expanded @include");
    }

    #[test]
    fn skipped_foreign_and_unknown_fragments_stay_for_the_executor_and_validator() {
        let document = hoisted(
            "subscription($off: Boolean!) { ...S @include(if: $off) ...Q ...Missing events(practiceId: \"p\") { seq } } \
             fragment S on Subscription { events(practiceId: \"p\") { seq } } fragment Q on Query { __typename }",
            serde_json::json!({ "off": false }),
        );
        assert_eq!(root(&document), ["...S", "...Q", "...Missing", "events(1)"]);
        assert_eq!(document.fragments.len(), 2);
    }

    #[test]
    fn a_root_field_selected_twice_becomes_one() {
        let document = hoisted(
            "subscription { events(practiceId: \"p\") { seq } ...F ...F } \
             fragment F on Subscription { events(practiceId: \"p\") { type cursor } }",
            serde_json::json!({}),
        );
        assert_eq!(root(&document), ["events(3)"], "F is expanded once, into the same field");
        let different = hoisted(
            "subscription { events(practiceId: \"p\") { seq } events(practiceId: \"q\") { seq } }",
            serde_json::json!({}),
        );
        assert_eq!(root(&different), ["events(1)", "events(1)"], "left for the validator to refuse");
    }

    #[test]
    fn fragments_spreading_each_other_twice_thirty_deep_expand_in_linear_time() {
        let mut query = String::from("subscription { ...F0 }");
        for level in 0..30 {
            query
                .push_str(&format!(" fragment F{level} on Subscription {{ ...F{next} ...F{next} }}", next = level + 1));
        }
        query.push_str(" fragment F30 on Subscription { events(practiceId: \"p\") { seq } }");
        let started = std::time::Instant::now();
        let document = hoisted(&query, serde_json::json!({}));
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
        assert_eq!(root(&document), ["events(1)"]);
        assert!(document.fragments.is_empty());
    }

    #[test]
    fn queries_and_direct_subscriptions_are_left_alone() {
        for query in
            ["{ ...Q } fragment Q on Query { __typename }", "subscription { events(practiceId: \"p\") { seq } }"]
        {
            let mut request = Request::new(query);
            let before = format!("{:?}", request.parsed_query().unwrap());
            hoist_root_fields(&mut request);
            assert_eq!(format!("{:?}", request.parsed_query().unwrap()), before);
        }
    }
}
