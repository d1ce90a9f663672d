//! What makes two subscriptions the same operation, so that one execution serves both:
//! the document, the operation name, the variables (but for the cursor each subscriber
//! starts from) and the caller's scope — everything a resolver or guard of an event may
//! read. Two callers whose answers could differ never share a key.

use async_graphql::parser::types::{OperationType, Selection};
use async_graphql::{Request, Variables};
use async_graphql_value::Value;
use std::collections::BTreeMap;

use crate::auth::{Grant, Principal};
use crate::graphql::selected_operation;
use crate::vocab::Role;

/// The part of a caller that results may depend on: what it is granted, never who it is
/// (two keys of one practice and role see the same events the same way; a patient's
/// subscriptions share with that patient's other subscriptions only).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope(pub Grant);

/// The key id the shared execution acts under; no stored key has it.
const SHARED_KEY_ID: &str = "shared-execution";

impl Scope {
    pub const ADMIN: Scope = Scope(Grant::Admin);

    pub fn of(principal: &Principal) -> Self {
        Scope(principal.grant.clone())
    }

    /// The principal a shared execution runs as: this scope and nothing else, so a
    /// resolver cannot see anything of one subscriber that another would not share.
    pub fn principal(&self) -> Principal {
        match self.0 {
            Grant::Admin => Principal::bootstrap(),
            _ => Principal::key(SHARED_KEY_ID, self.0.clone()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OperationKey {
    pub query: String,
    pub operation_name: Option<String>,
    /// The variables that shape results, as canonical JSON.
    variables: String,
    pub scope: Scope,
}

impl OperationKey {
    /// The key of a subscription the hub can serve: one root field, selected directly.
    /// None for anything else (a query, several root fields, a document that does not
    /// parse): those run on their own.
    pub fn of(request: &mut Request, scope: Scope) -> Option<Self> {
        let query = request.query.clone();
        let operation_name = request.operation_name.clone();
        let document = request.parsed_query().ok()?;
        let operation = selected_operation(document, operation_name.as_deref())?;
        if operation.node.ty != OperationType::Subscription {
            return None;
        }
        let [root] = operation.node.selection_set.node.items.as_slice() else { return None };
        let Selection::Field(field) = &root.node else { return None };
        if field.node.name.node.starts_with("__") || !field.node.directives.is_empty() {
            return None;
        }
        // A cursor passed as a variable used nowhere else does not change what an event
        // renders to: subscribers resuming from different points still share.
        let cursor_variable = field.node.get_argument("after").and_then(|value| match &value.node {
            Value::Variable(name) if query.matches(&format!("${name}")).count() == 2 => Some(name.to_string()),
            _ => None,
        });
        let variables = canonical(&request.variables, cursor_variable.as_deref());
        Some(Self { query, operation_name, variables, scope })
    }
}

impl OperationKey {
    /// The key of a live query: every variable counts.
    pub fn live(request: &Request, scope: Scope) -> Self {
        let variables = canonical(&request.variables, None);
        Self { query: request.query.clone(), operation_name: request.operation_name.clone(), variables, scope }
    }
}

impl OperationKey {
    /// The execution that renders this operation's results. An event renders from its
    /// snapshot alone, the same for whoever may see it, so a practice's patients share one
    /// execution of an operation, run in the practice's SUBSCRIBER scope; which events each
    /// patient gets is their own operation's filter (the one their own start bound), never
    /// this execution's.
    pub fn rendering(&self) -> OperationKey {
        let scope = match &self.scope.0 {
            Grant::Patient { practice_id, .. } => {
                Scope(Grant::Practice { practice_id: practice_id.clone(), role: Role::Subscriber })
            }
            _ => return self.clone(),
        };
        OperationKey { scope, ..self.clone() }
    }
}

/// Variables as JSON with sorted names, leaving out `skip`.
fn canonical(variables: &Variables, skip: Option<&str>) -> String {
    let sorted: BTreeMap<&str, String> = variables
        .iter()
        .filter(|(name, _)| Some(name.as_str()) != skip)
        .map(|(name, value)| (name.as_str(), value.to_string()))
        .collect();
    serde_json::to_string(&sorted).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(query: &str, variables: serde_json::Value) -> Option<OperationKey> {
        let mut request = Request::new(query).variables(Variables::from_json(variables));
        OperationKey::of(&mut request, Scope::ADMIN)
    }

    #[test]
    fn a_cursor_variable_does_not_split_subscribers() {
        let q = "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq } }";
        let one = key(q, serde_json::json!({ "p": "x", "a": "c1" }));
        let two = key(q, serde_json::json!({ "a": "c2", "p": "x" }));
        assert!(one.is_some());
        assert_eq!(one, two);
        assert_ne!(one, key(q, serde_json::json!({ "p": "y", "a": "c1" })));
    }

    #[test]
    fn a_variable_used_twice_stays_in_the_key() {
        let q = "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq x: cursor(f: $a) } }";
        assert_ne!(
            key(q, serde_json::json!({ "p": "x", "a": "1" })),
            key(q, serde_json::json!({ "p": "x", "a": "2" }))
        );
    }

    #[test]
    fn only_single_root_field_subscriptions_are_shared() {
        assert!(key("{ practices { edges { cursor } } }", serde_json::json!({})).is_none());
        assert!(
            key(
                "subscription { a: events(practiceId: \"p\") { seq } b: events(practiceId: \"p\") { seq } }",
                serde_json::json!({})
            )
            .is_none()
        );
        assert!(key("subscription { __typename }", serde_json::json!({})).is_none());
        assert!(key("subscription {", serde_json::json!({})).is_none());
    }

    #[test]
    fn scopes_never_share() {
        let q = "subscription { events(practiceId: \"p\") { seq } }";
        let mut request = Request::new(q);
        let admin = OperationKey::of(&mut request, Scope::ADMIN);
        let mut request = Request::new(q);
        let scoped = Scope(Grant::Practice { practice_id: "p".into(), role: Role::Subscriber });
        let subscriber = OperationKey::of(&mut request, scoped.clone());
        let mut request = Request::new(q);
        let backoffice = Scope(Grant::Practice { practice_id: "p".into(), role: Role::Backoffice });
        assert_ne!(admin, subscriber);
        assert_ne!(subscriber, OperationKey::of(&mut request, backoffice));
        assert_eq!(Scope::of(&scoped.principal()), scoped);
        let patient = |id: &str| Scope(Grant::Patient { practice_id: "p".into(), patient_id: id.into() });
        let mut request = Request::new(q);
        let one = OperationKey::of(&mut request, patient("pat_1"));
        let mut request = Request::new(q);
        assert_ne!(one, OperationKey::of(&mut request, patient("pat_2")));
        let mut request = Request::new(q);
        assert_eq!(one, OperationKey::of(&mut request, patient("pat_1")));
        assert_ne!(one, subscriber);
        // …while their results render in one execution, in the practice's SUBSCRIBER scope.
        let mut request = Request::new(q);
        let two = OperationKey::of(&mut request, patient("pat_2")).unwrap();
        let one = one.unwrap();
        assert_eq!(one.rendering(), two.rendering());
        assert_eq!(one.rendering().scope, scoped);
        let mut request = Request::new(q);
        let staff = Scope(Grant::Practice { practice_id: "p".into(), role: Role::Backoffice });
        let staff = OperationKey::of(&mut request, staff).unwrap();
        assert_eq!(staff.rendering(), staff, "only patients' operations share a rendering");
    }
}
