//! Which operation of a document a request runs, as GraphQL-over-HTTP and the websocket
//! protocols define it: the one named by `operationName`, or the document's only one.

use async_graphql::Positioned;
use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition};

/// The selected operation; None when the name matches nothing, or when the document has
/// several operations and no name picks one (the executor then says why).
pub fn selected_operation<'a>(
    document: &'a ExecutableDocument,
    name: Option<&str>,
) -> Option<&'a Positioned<OperationDefinition>> {
    match (&document.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// Whether the request streams results: a subscription or a live query.
pub fn streams(request: &mut async_graphql::Request) -> bool {
    let name = request.operation_name.clone();
    let subscription =
        request.parsed_query().ok().and_then(|d| selected_operation(d, name.as_deref())).map(|op| op.node.ty)
            == Some(async_graphql::parser::types::OperationType::Subscription);
    subscription || crate::live::asks(request)
}

/// The operation's name: the request's `operationName`, or the name of the document's
/// only operation.
pub fn operation_name(request: &mut async_graphql::Request) -> Option<String> {
    use async_graphql::parser::types::DocumentOperations;
    if let Some(name) = &request.operation_name {
        return Some(name.clone());
    }
    match &request.parsed_query().ok()?.operations {
        DocumentOperations::Multiple(ops) if ops.len() == 1 => ops.keys().next().map(|name| name.to_string()),
        _ => None,
    }
}
