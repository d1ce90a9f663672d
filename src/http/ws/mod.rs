//! Strict GraphQL over WebSocket: `graphql-transport-ws` (graphql-ws PROTOCOL.md) and the
//! legacy `graphql-ws` (subscriptions-transport-ws) protocol, over
//! `async_graphql::Executor::execute_stream` (or any `Execute`, which may hand out
//! results already serialised).
//!
//! Layout: `protocol` parses client messages, `encode` writes server messages,
//! `operations` multiplexes running operations, `session` is the connection loop,
//! `dispatch` its protocol state machine, `writer` every write (and the slow-consumer
//! close), `upgrade` the axum handshake helper.
//!
//! Wiring it into a router (the handler extracts the upgrade and the headers):
//!
//! ```text
//! async fn graphql_ws(State(app): State<App>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
//!     ws::upgrade(ws, &headers, app.schema.clone(), app.ws_auth.clone(), app.ws_config.clone(), app.shutdown.clone())
//! }
//! ```

mod config;
mod dispatch;
mod encode;
mod gate;
mod operations;
mod protocol;
mod session;
mod upgrade;
mod writer;

#[cfg(test)]
mod tests;

pub(crate) use config::{Authenticated, ConnectionAuth, Execute, OpItem, OpLink, Rejected, Reply, WsConfig};
// `serve` and `Subprotocol` are for embedding without `upgrade` (and for the tests).
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use protocol::Subprotocol;
#[cfg_attr(not(test), allow(unused_imports))]
pub(crate) use session::serve;
pub(crate) use upgrade::upgrade;
