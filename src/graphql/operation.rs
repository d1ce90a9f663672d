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

/// The request without its parsed document, to be parsed again when it runs: what a
/// request waiting its turn holds is its text, not the (several times larger) document.
pub fn unparsed(mut request: async_graphql::Request) -> async_graphql::Request {
    let mut fresh = async_graphql::Request::new(std::mem::take(&mut request.query));
    fresh.operation_name = request.operation_name.take();
    fresh.variables = std::mem::take(&mut request.variables);
    fresh.uploads = std::mem::take(&mut request.uploads);
    fresh.data = std::mem::take(&mut request.data);
    fresh.extensions = std::mem::take(&mut request.extensions);
    fresh.introspection_mode = request.introspection_mode;
    fresh
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
