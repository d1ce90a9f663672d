//! The per-connection loop. One task owns the socket and polls, in priority order:
//! shutdown, the init deadline, a pending authentication, client frames, operation
//! results and the keep-alive timer. Owning everything in one task means a dropped
//! connection drops (cancels) all of its operations, and writes need no locking.

use std::sync::Arc;

use async_graphql::{Data, Request};
use axum::extract::ws::{Message, WebSocket};
use futures_util::future::{BoxFuture, OptionFuture};
use tokio::time::{Interval, sleep};
use tokio_util::sync::CancellationToken;

use super::config::{Authenticated, ConnectionAuth, Execute, Rejected, WsConfig};
use super::encode;
use super::gate::Gate;
use super::operations::{Operations, Output};
use super::protocol::{Subprotocol, close_code};
use super::writer;
use crate::hub::Outbound;

/// Frames taken from the outbound queue and written in one go.
const MAX_BATCH: usize = 64;

pub(super) enum AuthState {
    AwaitingInit,
    Pending(BoxFuture<'static, Result<Authenticated, Rejected>>),
    Ready(Arc<Data>),
}

/// Why a connection ends.
pub(super) enum End {
    /// The server closes with this code and reason.
    Close(u16, String),
    /// The client sent a close frame; its reply is queued and only needs flushing.
    ClientClosed,
    /// The transport is gone; nothing can be sent any more.
    Gone,
}

pub(super) type Step = Result<(), End>;

/// What woke the connection.
enum Turn {
    Shutdown,
    Closed(u16, String),
    InitTimeout,
    Authenticated(Result<Authenticated, Rejected>),
    Incoming(Option<Result<Message, axum::Error>>),
    Output(Output),
    Tick,
    Frames,
}

pub(super) fn close(code: u16, reason: &str) -> End {
    End::Close(code, reason.to_owned())
}

pub(super) struct Session<E> {
    pub(super) protocol: Subprotocol,
    pub(super) executor: E,
    pub(super) auth: Arc<dyn ConnectionAuth>,
    pub(super) header_authorization: Option<String>,
    pub(super) state: AuthState,
    pub(super) operations: Operations,
    pub(super) queued: Vec<(String, Request)>,
    pub(super) keepalive: Option<Interval>,
    /// Resolves when the server must close the connection (credentials revoked).
    pub(super) closed: Option<BoxFuture<'static, (u16, String)>>,
    pub(super) max_operations: usize,
    /// Where hubs queue this connection's subscription results.
    pub(super) outbound: Arc<Outbound>,
}

/// Runs one connection until it ends or `shutdown` fires (then close 1001).
///
/// Not an `async fn`: one keeps its arguments and the locals they move into side by side
/// for the connection's life (~0.5 KB of an idle socket's task). The session is built
/// first, and the future uses what it captured in place.
pub(crate) fn serve<E: Execute>(
    mut socket: WebSocket,
    protocol: Subprotocol,
    executor: E,
    auth: Arc<dyn ConnectionAuth>,
    config: WsConfig,
    header_authorization: Option<String>,
    shutdown: CancellationToken,
) -> impl Future<Output = ()> + Send + 'static {
    tracing::debug!(protocol = protocol.name(), "graphql websocket connected");
    let mut session = Session {
        protocol,
        executor,
        auth,
        header_authorization,
        state: AuthState::AwaitingInit,
        operations: Operations::default(),
        queued: Vec::new(),
        keepalive: None,
        closed: None,
        max_operations: config.max_operations,
        outbound: Outbound::new(config.max_outbound_bytes),
    };
    async move {
        let end = session.run(&mut socket, &config, &shutdown).await;
        session.outbound.close();
        drop(session); // cancels every operation before the (possibly slow) close handshake
        Box::pin(writer::finish(socket, end, &config)).await;
    }
}

fn pending_auth(state: &mut AuthState) -> Option<&mut BoxFuture<'static, Result<Authenticated, Rejected>>> {
    match state {
        AuthState::Pending(future) => Some(future),
        _ => None,
    }
}

async fn tick(keepalive: &mut Option<Interval>) {
    match keepalive {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// axum hides tungstenite's error type, so its message is the only handle on an
/// oversized message (`CapacityError::MessageTooLong`); anything else is a dead transport.
pub(super) fn read_error(err: axum::Error) -> End {
    let text = err.to_string();
    if text.contains("Message too long") {
        tracing::debug!(error = %text, "websocket message over the size limit");
        return close(close_code::MESSAGE_TOO_BIG, "Message too big");
    }
    // RFC 6455 §8.1: a text message that is not UTF-8 fails the connection with 1007.
    if text.contains("UTF-8") {
        tracing::debug!(error = %text, "websocket text message not UTF-8");
        return close(close_code::INVALID_PAYLOAD, "Invalid frame payload data: text is not UTF-8");
    }
    tracing::debug!(error = %text, "websocket read failed");
    End::Gone
}

impl<E: Execute> Session<E> {
    async fn run(&mut self, socket: &mut WebSocket, config: &WsConfig, shutdown: &CancellationToken) -> End {
        // Boxed, and let go of once authenticated: a timer entry is ~110 B an idle socket
        // would otherwise keep.
        let mut init_deadline = Some(Box::pin(sleep(config.init_timeout)));
        // Kept across turns: a fresh one per turn would register and unregister each time.
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let outbound = self.outbound.clone();
        let (gate, gate_waker) = Gate::new();
        loop {
            let mut frames = Vec::new();
            let ready = matches!(self.state, AuthState::Ready(_));
            if ready {
                init_deadline = None;
            }
            let authenticating = matches!(self.state, AuthState::Pending(_));
            let saturated = self.operations.saturated(self.max_operations);
            // Every branch is cancel-safe: a turn only learns what happened, and the
            // handlers below run with no branch future left borrowing the session.
            let turn = {
                let others = async {
                    tokio::select! {
                        biased;
                        () = &mut cancelled => Turn::Shutdown,
                        Some((code, reason)) = OptionFuture::from(self.closed.as_mut()) => Turn::Closed(code, reason),
                        Some(()) = OptionFuture::from(init_deadline.as_mut()), if !ready => Turn::InitTimeout,
                        Some(result) = OptionFuture::from(pending_auth(&mut self.state)), if authenticating => {
                            Turn::Authenticated(result)
                        }
                        // A connection holding all the operations it may reads nothing more
                        // until some finish: a client flooding requests without reading
                        // their answers is bounded, then closed as a slow consumer.
                        incoming = socket.recv(), if !saturated => {
                            Turn::Incoming(incoming)
                        }
                        output = self.operations.next() => Turn::Output(output),
                        () = tick(&mut self.keepalive) => Turn::Tick,
                    }
                };
                tokio::pin!(others);
                tokio::select! {
                    biased;
                    turn = std::future::poll_fn(|cx| gate.poll(&gate_waker, others.as_mut(), cx)) => turn,
                    () = outbound.take(MAX_BATCH, &mut frames) => Turn::Frames,
                }
            };
            // A saturated connection did not poll its socket: whatever turn ends that
            // (a hub's `complete` too) must poll it again.
            if !matches!(turn, Turn::Frames) || saturated {
                gate.open();
            }
            let step = match turn {
                Turn::Shutdown => Err(close(close_code::GOING_AWAY, "Server shutting down")),
                Turn::Closed(code, reason) => Err(End::Close(code, reason)),
                Turn::InitTimeout => Err(close(close_code::INIT_TIMEOUT, "Connection initialisation timeout")),
                // The rarer handlers are boxed: a connection's task is as big as its largest
                // state, and every idle socket would hold their space.
                Turn::Authenticated(result) => Box::pin(self.authenticated(socket, result, config)).await,
                Turn::Incoming(incoming) => Box::pin(self.incoming(socket, incoming, config)).await,
                Turn::Output(output) => Box::pin(self.emit(socket, output, config)).await,
                // Boxed too: a write is in progress on few sockets at any moment.
                Turn::Frames => Box::pin(self.write_frames(socket, frames, config)).await,
                Turn::Tick => {
                    let text = match self.protocol {
                        Subprotocol::TransportWs => encode::ping(),
                        Subprotocol::Legacy => encode::keep_alive(),
                    };
                    Box::pin(self.send(socket, text, config)).await
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }
}
