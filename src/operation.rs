//! Which operation of a document a request runs, as GraphQL-over-HTTP and the websocket
//! protocols define it: the one named by `operationName`, or the document's only one.
//! Below both `graphql` and `live`, which each need to know it.

use async_graphql::parser::Positioned;
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
