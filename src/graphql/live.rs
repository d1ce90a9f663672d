//! The `@live` directive as the schema knows it — `directive @live(if: Boolean = true,
//! throttle: Int) on QUERY` (n1ru4l's signature) — and what a request asks of it, read
//! by `crate::live` off the request's document, variables and extensions.

use async_graphql::registry::{__DirectiveLocation, Deprecation, MetaDirective, MetaInputValue, Registry};
use async_graphql::{ContextDirective, CustomDirective, CustomDirectiveFactory, Request, ServerResult};
use indexmap::IndexMap;
use std::borrow::Cow;

use crate::live::Live;

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

/// Ok(None) when the request is not a live query (or `@live(if: false)`), Err with the
/// reason when it asks for one the server cannot serve. A document that does not parse
/// or validate is not live: it runs, and its errors are the executor's.
pub fn live_query(request: &mut Request) -> Result<Option<Live>, String> {
    let variables = request.variables.clone();
    let extensions = request.extensions.clone();
    let name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else { return Ok(None) };
    Live::in_document(document, name.as_deref(), &variables, |key| extensions.get(key).cloned())
}

/// Whether the request is (or asks to be) a live query: the transports that hold
/// streams open send it to the hub, which serves it or says why not.
pub fn asks(request: &mut Request) -> bool {
    !matches!(live_query(request), Ok(None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::Format;
    use async_graphql::Variables;
    use std::time::Duration;

    fn live(query: &str, variables: serde_json::Value, extensions: serde_json::Value) -> Result<Option<Live>, String> {
        let mut request = Request::new(query).variables(Variables::from_json(variables));
        request.extensions = serde_json::from_value(extensions).unwrap();
        live_query(&mut request)
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
