//! What a live query asks for: whether a document's operation is `@live`, how often it
//! may be pushed, in which format, and from which revision it resumes. Read off the
//! document, its variables and two request extensions; the directive itself (its
//! registration in the schema) and the request are `graphql::live`'s.

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection};
use async_graphql_value::{ConstValue, Variables};
use std::time::Duration;

use crate::operation::selected_operation;

/// Root fields whose every change is an event in the practice's log. The others
/// (`practices`, `providers`, API keys, webhooks) change without one, so a live result
/// of them would go stale without saying so.
const LIVE_ROOTS: [&str; 8] =
    ["practice", "provider", "patient", "patients", "payments", "appointment", "appointments", "events"];

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
    /// Ok(None) when the operation `name` selects in `document` is not a live query (or
    /// `@live(if: false)`), Err with the reason when it asks for one the server cannot
    /// serve. `extension` gives the request's extensions by name.
    pub fn in_document(
        document: &ExecutableDocument,
        name: Option<&str>,
        variables: &Variables,
        extension: impl Fn(&str) -> Option<ConstValue>,
    ) -> Result<Option<Live>, String> {
        let Some(operation) = selected_operation(document, name) else { return Ok(None) };
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
        let format = match extension("livePatch") {
            None | Some(ConstValue::Null) => Format::Full,
            Some(ConstValue::String(format)) if format == "jsondiffpatch" => Format::JsonDiffPatch,
            Some(other) => {
                return Err(format!("extensions.livePatch: only \"jsondiffpatch\" is supported, not {other}"));
            }
        };
        let after = match extension("after") {
            None | Some(ConstValue::Null) => None,
            Some(value) => Some(revision(&value).ok_or_else(|| {
                format!("extensions.after is the revision a result carried (a seq ≥ 0), not {value}")
            })?),
        };
        Ok(Some(Live { throttle, format, after }))
    }
}

/// A revision as a client sends it back: the number, or its decimal string (as SSE's
/// `Last-Event-ID` carries it).
pub fn revision(value: &ConstValue) -> Option<i64> {
    match value {
        ConstValue::Number(n) => n.as_i64(),
        ConstValue::String(s) => parse_revision(s),
        _ => None,
    }
    .filter(|seq| *seq >= 0)
}

pub fn parse_revision(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok().filter(|seq| *seq >= 0)
}
