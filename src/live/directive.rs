//! `directive @live(if: Boolean = true, throttle: Int) on QUERY` (n1ru4l's signature), and
//! what a request asks of it: whether it is live, how often it may be pushed, in which
//! format, and from which revision it resumes.

use async_graphql::parser::types::{OperationType, Selection};
use async_graphql::registry::{__DirectiveLocation, Deprecation, MetaDirective, MetaInputValue, Registry};
use async_graphql::{ContextDirective, CustomDirective, CustomDirectiveFactory, Request, ServerResult, Value};
use async_graphql_value::ConstValue;
use indexmap::IndexMap;
use std::borrow::Cow;
use std::time::Duration;

use crate::operation::selected_operation;

/// Root fields whose every change is an event in the practice's log. The others
/// (`practices`, `providers`, API keys, webhooks) change without one, so a live result
/// of them would go stale without saying so.
const LIVE_ROOTS: [&str; 8] =
    ["practice", "provider", "patient", "patients", "payments", "appointment", "appointments", "events"];

/// Registers `@live` for validation and the SDL; it changes nothing in execution (the
/// hub re-executes the query), so it never wraps a field.
pub struct LiveDirective;

impl CustomDirectiveFactory for LiveDirective {
    fn name(&self) -> Cow<'static, str> {
        "live".into()
    }

    fn register(&self, registry: &mut Registry) {
        let arg = |name: &str, ty: &str, default: Option<&str>, description: &str| MetaInputValue {
            name: name.to_string(),
            description: Some(description.to_string()),
            ty: ty.to_string(),
            deprecation: Deprecation::NoDeprecated,
            default_value: default.map(str::to_string),
            visible: None,
            inaccessible: false,
            tags: Vec::new(),
            is_secret: false,
            directive_invocations: Vec::new(),
        };
        let mut args = IndexMap::new();
        args.insert("if".to_string(), arg("if", "Boolean", Some("true"), "Live only when true."));
        let throttle = "At most one result per this many milliseconds (the server clamps it to its maximum; \
                        its default applies when omitted). The last state is always sent.";
        args.insert("throttle".to_string(), arg("throttle", "Int", None, throttle));
        registry.add_directive(MetaDirective {
            name: "live".to_string(),
            description: Some(
                "A query that stays open: its full result at once, then a new one whenever an event of its \
                 practice changes it, each with `extensions.revision` (the practice seq it reflects)."
                    .to_string(),
            ),
            locations: vec![__DirectiveLocation::QUERY],
            args,
            is_repeatable: false,
            visible: None,
            composable: None,
        });
    }

    fn create(
        &self,
        _ctx: &ContextDirective<'_>,
        _directive: &async_graphql::parser::types::Directive,
    ) -> ServerResult<Box<dyn CustomDirective>> {
        Ok(Box::new(Inert))
    }
}

struct Inert;

impl CustomDirective for Inert {}

/// How results go out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Every result whole: `{"data": …, "extensions": {"revision": n}}`.
    Full,
    /// n1ru4l's jsondiffpatch deltas: `{data, revision: 1}`, then `{patch, revision: k}`.
    JsonDiffPatch,
}

/// What a live query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Live {
    /// As asked; None: the server's default.
    pub throttle: Option<Duration>,
    pub format: Format,
    /// The revision the client already has (it reconnects).
    pub after: Option<i64>,
}

impl Live {
    /// Ok(None) when the request is not a live query (or `@live(if: false)`), Err with
    /// the reason when it asks for one the server cannot serve. A document that does not
    /// parse or validate is not live: it runs, and its errors are the executor's.
    pub fn of(request: &mut Request) -> Result<Option<Live>, String> {
        let variables = request.variables.clone();
        let extensions = request.extensions.clone();
        let name = request.operation_name.clone();
        let Ok(document) = request.parsed_query() else { return Ok(None) };
        let Some(operation) = selected_operation(document, name.as_deref()) else { return Ok(None) };
        let operation = &operation.node;
        let Some(live) = operation.directives.iter().find(|d| d.node.name.node == "live") else { return Ok(None) };
        if operation.ty != OperationType::Query {
            return Ok(None); // validation says `@live` is for queries only
        }
        let argument = |name: &str| {
            live.node
                .get_argument(name)
                .map(|value| {
                    value.node.clone().into_const_with(|v| Ok::<_, ()>(variables.get(&v).cloned().unwrap_or_default()))
                })
                .and_then(Result::ok)
        };
        match argument("if") {
            None | Some(ConstValue::Null) | Some(ConstValue::Boolean(true)) => {}
            Some(ConstValue::Boolean(false)) => return Ok(None),
            Some(other) => return Err(format!("@live(if:) takes a Boolean, not {other}")),
        }
        let throttle = match argument("throttle") {
            None | Some(ConstValue::Null) => None,
            Some(ConstValue::Number(n)) if n.as_u64().is_some() => n.as_u64().map(Duration::from_millis),
            Some(other) => return Err(format!("@live(throttle:) takes milliseconds, an Int ≥ 0, not {other}")),
        };
        for item in &operation.selection_set.node.items {
            let Selection::Field(field) = &item.node else {
                return Err("a live query selects its root fields directly, without fragments".to_string());
            };
            let field = field.node.name.node.as_str();
            if field != "__typename" && !LIVE_ROOTS.contains(&field) {
                return Err(format!(
                    "`{field}` changes without an event in the practice's log, so it cannot be live; \
                     live root fields: {}",
                    LIVE_ROOTS.join(", ")
                ));
            }
        }
        let format = match extensions.get("livePatch") {
            None | Some(Value::Null) => Format::Full,
            Some(Value::String(format)) if format == "jsondiffpatch" => Format::JsonDiffPatch,
            Some(other) => {
                return Err(format!("extensions.livePatch: only \"jsondiffpatch\" is supported, not {other}"));
            }
        };
        let after = match extensions.get("after") {
            None | Some(Value::Null) => None,
            Some(value) => Some(revision(value).ok_or_else(|| {
                format!("extensions.after is the revision a result carried (a seq ≥ 0), not {value}")
            })?),
        };
        Ok(Some(Live { throttle, format, after }))
    }
}

/// Whether the request is (or asks to be) a live query: the transports that hold
/// streams open send it to the hub, which serves it or says why not.
pub fn asks(request: &mut Request) -> bool {
    !matches!(Live::of(request), Ok(None))
}

/// A revision as a client sends it back: the number, or its decimal string (as SSE's
/// `Last-Event-ID` carries it).
pub fn revision(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => parse_revision(s),
        _ => None,
    }
    .filter(|seq| *seq >= 0)
}

pub fn parse_revision(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok().filter(|seq| *seq >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::Variables;

    fn live(query: &str, variables: serde_json::Value, extensions: serde_json::Value) -> Result<Option<Live>, String> {
        let mut request = Request::new(query).variables(Variables::from_json(variables));
        request.extensions = serde_json::from_value(extensions).unwrap();
        Live::of(&mut request)
    }

    #[test]
    fn only_live_queries_are_live() {
        let none = serde_json::json!({});
        assert_eq!(live("{ patient(id: \"p\") { id } }", none.clone(), none.clone()), Ok(None));
        assert_eq!(live("query @live(if: false) { patient(id: \"p\") { id } }", none.clone(), none.clone()), Ok(None));
        let asked = live(
            "query Q($t: Int) @live(throttle: $t) { patient(id: \"p\") { id } }",
            serde_json::json!({"t": 250}),
            none.clone(),
        );
        assert_eq!(
            asked,
            Ok(Some(Live { throttle: Some(Duration::from_millis(250)), format: Format::Full, after: None }))
        );
        let patched = live(
            "query @live { patient(id: \"p\") { id } }",
            none.clone(),
            serde_json::json!({"livePatch": "jsondiffpatch", "after": "17"}),
        );
        assert_eq!(patched, Ok(Some(Live { throttle: None, format: Format::JsonDiffPatch, after: Some(17) })));
    }

    #[test]
    fn what_cannot_be_live_says_why() {
        let none = serde_json::json!({});
        let refused = live("query @live { apiKeys(practiceId: \"p\") { id } }", none.clone(), none.clone());
        assert!(refused.unwrap_err().contains("`apiKeys` changes without an event"));
        assert!(live("query @live(throttle: -1) { patient(id: \"p\") { id } }", none.clone(), none.clone()).is_err());
        assert!(
            live(
                "query @live { patient(id: \"p\") { id } }",
                none.clone(),
                serde_json::json!({"livePatch": "rfc6902"})
            )
            .is_err()
        );
        assert!(live("query @live { patient(id: \"p\") { id } }", none, serde_json::json!({"after": "x"})).is_err());
    }
}
