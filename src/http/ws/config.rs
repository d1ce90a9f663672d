//! Connection tunables and the authentication hook, kept apart from the loop so the
//! embedding application only needs these two items to wire the handler up.

use std::{sync::Arc, time::Duration};

use async_graphql::{Data, Executor, Request, Response};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

/// Per-connection limits and timers.
#[derive(Debug, Clone)]
pub(crate) struct WsConfig {
    /// `connection_init` must arrive — and authentication must finish — within this time
    /// of the upgrade, else the socket is closed with 4408. Counting the authentication
    /// too means a hung auth backend cannot pin a half-open connection forever.
    pub init_timeout: Duration,
    /// Legacy protocol: `{"type":"ka"}` right after the ack and then at this interval.
    /// transport-ws: a `{"type":"ping"}` at this interval after the ack (clients answer
    /// `pong`, keeping proxies from idling the socket out). `Duration::ZERO` (or a period
    /// too large to schedule) disables both; websocket-level ping frames from the client
    /// are answered by the websocket layer regardless.
    pub keepalive: Duration,
    /// Largest accepted message (and frame). Bigger ones are refused by the websocket
    /// layer before being buffered, and the server closes with RFC 6455's
    /// 1009 "Message too big": the limit is a transport matter, not a GraphQL 4400.
    pub max_message_bytes: usize,
    /// Operations one connection may run at once; one more is refused with an `error`.
    pub max_operations: usize,
}

impl Default for WsConfig {
    /// graphql-ws's default `connectionInitWaitTimeout` is 3 s.
    fn default() -> Self {
        WsConfig {
            init_timeout: Duration::from_secs(3),
            keepalive: Duration::from_secs(15),
            max_message_bytes: 64 * 1024,
            max_operations: 100,
        }
    }
}

/// An accepted connection: the session data every operation gets, and optionally a
/// future that resolves when the server must close the connection (its credentials
/// were revoked or expired) with that close code and reason.
pub(crate) struct Authenticated {
    pub data: Data,
    pub closed: Option<BoxFuture<'static, (u16, String)>>,
}

impl From<Data> for Authenticated {
    fn from(data: Data) -> Self {
        Self { data, closed: None }
    }
}

/// Authenticates a connection from its `connection_init` payload (may be `null`) and the
/// upgrade request's `Authorization` header (if any). `Ok(..)` is attached to every
/// operation of the connection as session data; `Err(reason)` rejects the connection
/// (close 4403; the legacy protocol first gets a `connection_error` carrying `reason`).
pub(crate) trait ConnectionAuth: Send + Sync + 'static {
    fn authenticate(
        &self,
        init_payload: serde_json::Value,
        header_authorization: Option<String>,
    ) -> BoxFuture<'static, Result<Authenticated, String>>;
}

/// One result of an operation: a response still to be serialised, or an execution
/// result that is JSON already (the same text may go to many subscribers).
// A reply is moved a few times and then written; boxing the response would cost an
// allocation per result to save copying 200 bytes.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Reply {
    Response(Response),
    Json(Arc<str>),
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply::Response(response)
    }
}

/// Runs a connection's operations. Every async-graphql `Executor` does; an embedding may
/// instead hand out results it serialised once for many connections.
pub(crate) trait Execute: Send + Sync + 'static {
    fn stream(&self, request: Request, session: Option<Arc<Data>>) -> BoxStream<'static, Reply>;
}

impl<E: Executor> Execute for E {
    fn stream(&self, request: Request, session: Option<Arc<Data>>) -> BoxStream<'static, Reply> {
        self.execute_stream(request, session).map(Reply::from).boxed()
    }
}
