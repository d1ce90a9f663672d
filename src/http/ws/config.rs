//! Connection tunables and the authentication hook, kept apart from the loop so the
//! embedding application only needs these two items to wire the handler up.

use std::{sync::Arc, time::Duration};

use async_graphql::{Data, Executor, Request, Response};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;

use prometheus_client::metrics::counter::Counter;

use crate::hub::{Outbound, Tag};

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
    /// Bytes of results queued for one connection before its subscriptions stop taking
    /// live events and catch up from the log as it drains.
    pub max_outbound_bytes: usize,
    /// A write to the client that makes no progress for this long closes the connection
    /// (1013, with the cursor to resume from).
    pub slow_consumer_timeout: Duration,
    /// Counts the connections closed for that.
    pub slow_consumers: Counter,
}

impl Default for WsConfig {
    /// graphql-ws's default `connectionInitWaitTimeout` is 3 s.
    fn default() -> Self {
        WsConfig {
            init_timeout: Duration::from_secs(3),
            keepalive: Duration::from_secs(15),
            max_message_bytes: 64 * 1024,
            max_operations: 100,
            max_outbound_bytes: 256 * 1024,
            slow_consumer_timeout: Duration::from_secs(30),
            slow_consumers: Counter::default(),
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

/// A rejected connection: its close code (4403 Forbidden unless said otherwise) and why.
pub(crate) struct Rejected {
    pub code: u16,
    pub reason: String,
}

impl From<String> for Rejected {
    fn from(reason: String) -> Self {
        Self { code: super::protocol::close_code::FORBIDDEN, reason }
    }
}

impl From<&str> for Rejected {
    fn from(reason: &str) -> Self {
        reason.to_string().into()
    }
}

/// Authenticates a connection from its `connection_init` payload (may be `null`) and the
/// upgrade request's `Authorization` header (if any). `Ok(..)` is attached to every
/// operation of the connection as session data; `Err(rejected)` rejects the connection
/// (close 4403 or its own code; the legacy protocol first gets a `connection_error` carrying `reason`).
pub(crate) trait ConnectionAuth: Send + Sync + 'static {
    fn authenticate(
        &self,
        init_payload: serde_json::Value,
        header_authorization: Option<String>,
    ) -> BoxFuture<'static, Result<Authenticated, Rejected>>;
}

/// One result of an operation: a response still to be serialised, or an execution
/// result that is JSON already (the same text may go to many subscribers).
// Boxed: results pass through every connection task's state (as a stream item, an
// output, a turn), so an inline 224-byte response would be room every idle socket keeps.
pub(crate) enum Reply {
    Response(Box<Response>),
    Json(Arc<str>),
}

impl From<Response> for Reply {
    fn from(response: Response) -> Self {
        Reply::Response(Box::new(response))
    }
}

/// What an operation's stream yields: a result for the client, or the handle of a
/// registration that delivers its results through the connection's outbound queue
/// (dropping the handle ends that delivery).
pub(crate) enum OpItem {
    Reply(Reply),
    Registered(Box<dyn Send>),
}

/// Where an operation's results may be queued instead of streamed, and its name there.
#[derive(Clone)]
pub(crate) struct OpLink {
    pub outbound: Arc<Outbound>,
    pub tag: Arc<Tag>,
}

/// Runs a connection's operations. Every async-graphql `Executor` does; an embedding may
/// instead hand out results it serialised once for many connections, or register the
/// operation with a hub that queues them on `link`.
pub(crate) trait Execute: Send + Sync + 'static {
    fn stream(&self, request: Request, session: Option<Arc<Data>>, link: &OpLink) -> BoxStream<'static, OpItem>;
}

impl<E: Executor> Execute for E {
    fn stream(&self, request: Request, session: Option<Arc<Data>>, _link: &OpLink) -> BoxStream<'static, OpItem> {
        self.execute_stream(request, session).map(|response| OpItem::Reply(response.into())).boxed()
    }
}
