//! GraphQL-over-HTTP GET parameters: `query`, `operationName`, and `variables` and
//! `extensions` as JSON text. Our own rather than async-graphql's `parse_query_string`
//! (which async-graphql-axum's extractors use for GET): in 7.2.1 that reads the operation
//! name from a parameter called `operation_name`, so a GET naming one of several
//! operations ran the wrong one or none.

use async_graphql::{Request, Variables};
use axum::extract::Query;
use axum::http::Uri;
use serde::Deserialize;

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    query: String,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

/// Whether the query string carries an operation (a document or a persisted query's hash).
pub(crate) fn has_operation(query_string: &str) -> bool {
    query_string.split('&').any(|pair| pair.starts_with("query=") || pair.starts_with("extensions="))
}

/// The request the parameters describe; the error says what is wrong with them.
pub(crate) fn from_uri(uri: &Uri) -> Result<Request, &'static str> {
    let Query(params) = Query::<Params>::try_from_uri(uri).map_err(|_| "malformed GraphQL query string parameters")?;
    let mut request = Request::new(params.query);
    if let Some(name) = params.operation_name.filter(|n| !n.is_empty()) {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.variables.filter(|v| !v.is_empty()) {
        let json: serde_json::Value = serde_json::from_str(&variables).map_err(|_| "`variables` is not JSON")?;
        if !json.is_object() && !json.is_null() {
            return Err("`variables` must be a JSON object");
        }
        request = request.variables(Variables::from_json(json));
    }
    if let Some(extensions) = params.extensions.filter(|e| !e.is_empty()) {
        let json: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&extensions).map_err(|_| "`extensions` must be a JSON object")?;
        for (key, value) in json {
            let value = async_graphql::Value::from_json(value).map_err(|_| "`extensions` must be a JSON object")?;
            request.extensions.0.insert(key, value);
        }
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(query: &str) -> Uri {
        format!("/graphql?{query}").parse().unwrap()
    }

    #[test]
    fn the_operation_name_variables_and_extensions_are_read() {
        let request = from_uri(&uri(
            "query=query%20A%7Ba%7D%20query%20B%7Bb%7D&operationName=B&variables=%7B%22x%22%3A1%7D&extensions=%7B%22persistedQuery%22%3A%7B%22version%22%3A1%7D%7D",
        ))
        .unwrap();
        assert_eq!(request.operation_name.as_deref(), Some("B"));
        assert_eq!(request.variables.get("x").map(|v| v.to_string()).as_deref(), Some("1"));
        assert!(request.extensions.get("persistedQuery").is_some());
    }

    #[test]
    fn async_graphqls_own_parser_drops_the_operation_name() {
        // Why this module exists; when this fails, async-graphql reads it and can take over.
        let theirs = async_graphql::http::parse_query_string("query=%7Ba%7D&operationName=B").unwrap();
        assert_eq!(theirs.operation_name, None);
    }

    #[test]
    fn bad_parameters_are_refused() {
        assert!(from_uri(&uri("query=%7Ba%7D&variables=nope")).is_err());
        assert!(from_uri(&uri("query=%7Ba%7D&variables=%5B1%5D")).is_err());
        assert!(from_uri(&uri("query=%7Ba%7D&extensions=1")).is_err());
        assert!(has_operation("extensions=%7B%7D") && has_operation("a=1&query=x") && !has_operation("a=1"));
    }
}
