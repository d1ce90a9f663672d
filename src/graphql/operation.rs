//! What a request's operation is: whether it streams, and its name (which operation a
//! document runs is `crate::operation`'s, below `live` and this module).

pub use crate::operation::selected_operation;

/// Whether the request streams results: a subscription or a live query.
pub fn streams(request: &mut async_graphql::Request) -> bool {
    let name = request.operation_name.clone();
    let subscription =
        request.parsed_query().ok().and_then(|d| selected_operation(d, name.as_deref())).map(|op| op.node.ty)
            == Some(async_graphql::parser::types::OperationType::Subscription);
    subscription || super::live::asks(request)
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
