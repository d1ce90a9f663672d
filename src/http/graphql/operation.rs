//! One operation of a request, admitted and run on its own: it spends a token of its
//! key's rate, its persisted query is applied (or refuses it), a mutation by GET is
//! refused, and its duration is recorded under its type.

use async_graphql::parser::types::OperationType as GqlOperation;
use async_graphql::{Request, Response};

use crate::auth::Auth;
use crate::graphql::selected_operation;
use crate::metrics::{OperationLabel, OperationType};
use crate::persisted::Refused;
use crate::state::AppState;
use crate::vocab::Transport;

/// Why an operation did not run.
pub(super) enum Stopped {
    RateLimited,
    Persisted(Refused),
    MutationByGet,
    /// The document expands past `MAX_QUERY_SELECTIONS`, `MAX_QUERY_ALIASES` or the nesting limit.
    Unbounded(Box<Response>),
}

impl Stopped {
    /// The refusal as a GraphQL response (a batch answers it in the operation's place).
    pub(super) fn response(self) -> Response {
        match self {
            Stopped::RateLimited => crate::http::subscriptions::rate_limited(),
            Stopped::Persisted(refused) => refused.response(),
            Stopped::Unbounded(response) => *response,
            Stopped::MutationByGet => {
                let mut error = async_graphql::ServerError::new("mutations must be sent with POST", None);
                let mut extensions = async_graphql::ErrorExtensionValues::default();
                extensions.set("code", "BAD_USER_INPUT");
                error.extensions = Some(extensions);
                Response::from_errors(vec![error])
            }
        }
    }
}

/// Admits `request` (and fills in its persisted document). Nothing has run when it fails.
pub(super) async fn admit(state: &AppState, auth: &Auth, request: &mut Request, by_get: bool) -> Result<(), Stopped> {
    if let Some(principal) = &auth.0
        && state.services.domain.limits.allow(&principal.limit_key()).await.is_err()
    {
        return Err(Stopped::RateLimited);
    }
    state.persisted.apply(request, auth.0.is_some()).await.map_err(Stopped::Persisted)?;
    crate::graphql::bounds::admit(request, &state.bounds).map_err(Stopped::Unbounded)?;
    if by_get && kind(request) == Some(GqlOperation::Mutation) {
        return Err(Stopped::MutationByGet);
    }
    Ok(())
}

/// Runs an admitted query or mutation as `auth`'s caller.
pub(super) async fn run(state: &AppState, auth: &Auth, request: Request) -> Response {
    run_through(state, auth, request, crate::vocab::Transport::Http).await
}

/// Runs an admitted operation that came through `transport` (the audit trail names it).
pub(super) async fn run_through(state: &AppState, auth: &Auth, mut request: Request, transport: Transport) -> Response {
    let started = std::time::Instant::now();
    let operation = match kind(&mut request) {
        Some(GqlOperation::Query) => OperationType::query,
        Some(GqlOperation::Mutation) => OperationType::mutation,
        Some(GqlOperation::Subscription) => OperationType::subscription,
        None => OperationType::invalid,
    };
    let span = crate::telemetry::if_on(|| {
        // The name the client sent (never the variables), at most 100 characters of it.
        let name = request.operation_name.as_deref().unwrap_or("");
        let name = name.char_indices().nth(100).map_or(name, |(at, _)| &name[..at]);
        tracing::info_span!("graphql_operation", graphql.operation.name = name, graphql.operation.type = ?operation)
    });
    let execute = state.schema.execute(request.data(auth.clone()).data(transport));
    let response = tracing::Instrument::instrument(execute, span).await;
    state
        .http_metrics
        .request_duration
        .get_or_create(&OperationLabel { operation })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// The type of the operation the request runs; None when the document does not parse or
/// names no such operation (the executor then says why). The parse is kept for execution.
pub(super) fn kind(request: &mut Request) -> Option<GqlOperation> {
    let name = request.operation_name.clone();
    let document = request.parsed_query().ok()?;
    selected_operation(document, name.as_deref()).map(|op| op.node.ty)
}
