//! The per-connection loop. One task owns the socket and polls, in priority order:
//! shutdown, the init deadline, a pending authentication, client frames, operation
//! results and the keep-alive timer. Owning everything in one task means a dropped
//! connection drops (cancels) all of its operations, and writes need no locking.

use std::{sync::Arc, time::Duration};

use async_graphql::{Data, Request};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt;
use futures_util::future::{BoxFuture, OptionFuture};
use tokio::time::{Interval, sleep, timeout};
use tokio_util::sync::CancellationToken;

use super::config::{Authenticated, ConnectionAuth, Execute, Rejected, WsConfig};
use super::encode;
use super::gate::Gate;
use super::operations::{Operations, Output};
use super::protocol::{self, Subprotocol, close_code};
use crate::hub::{Frame, Outbound};
use prometheus_client::metrics::counter::Counter;

/// Time allowed for the close handshake to finish once either side started it.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// RFC 6455 limits a close reason to 123 bytes.
const MAX_CLOSE_REASON: usize = 123;
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
pub(crate) async fn serve<E: Execute>(
    mut socket: WebSocket,
    protocol: Subprotocol,
    executor: E,
    auth: Arc<dyn ConnectionAuth>,
    config: WsConfig,
    header_authorization: Option<String>,
    shutdown: CancellationToken,
) {
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
    let end = session.run(&mut socket, &config, &shutdown).await;
    session.outbound.close();
    drop(session); // cancels every operation before the (possibly slow) close handshake
    Box::pin(finish(socket, end, &config)).await;
}

/// Ends the connection as `end` says (boxed: its timers would otherwise take room in every
/// live connection's task).
async fn finish(mut socket: WebSocket, end: End, config: &WsConfig) {
    match end {
        End::Close(code, reason) => {
            tracing::debug!(code, reason, "closing graphql websocket");
            let reason = protocol::truncate(&reason, MAX_CLOSE_REASON).into();
            let frame = CloseFrame { code, reason };
            // A client that reads nothing cannot take the close frame either; one closed
            // for that gets as long to take it as it had to take its events.
            let grace = match code {
                close_code::TRY_AGAIN_LATER => config.slow_consumer_timeout.max(CLOSE_GRACE),
                _ => CLOSE_GRACE,
            };
            if let Ok(Ok(())) = timeout(grace, socket.send(Message::Close(Some(frame)))).await {
                drain(&mut socket).await;
            }
        }
        End::ClientClosed => drain(&mut socket).await,
        End::Gone => tracing::debug!("graphql websocket transport gone"),
    }
}

/// Reads until the peer's close reply (or the grace period ends); reading is also what
/// makes tungstenite flush its automatic reply to a client-initiated close.
async fn drain(socket: &mut WebSocket) {
    let _ = timeout(CLOSE_GRACE, async { while let Some(Ok(_)) = socket.recv().await {} }).await;
}

async fn emit(socket: &mut WebSocket, protocol: Subprotocol, output: Output) -> Step {
    let text = match output {
        Output::Next(id, response) => encode::next(protocol, &id, &response),
        Output::Error(id, errors) => encode::error(protocol, &id, &errors),
        Output::Complete(id) => encode::complete(&id),
    };
    send(socket, text).await
}

pub(super) async fn send(socket: &mut WebSocket, text: String) -> Step {
    socket.send(Message::Text(text.into())).await.map_err(|_| End::Gone)
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
    tracing::debug!(error = %text, "websocket read failed");
    End::Gone
}

impl<E: Execute> Session<E> {
    /// Writes queued frames in one go. A write that makes no progress within
    /// `slow` closes the connection, telling the client where to resume.
    async fn write_frames(&mut self, socket: &mut WebSocket, frames: Vec<Frame>, config: &WsConfig) -> Step {
        let (slow, slow_consumers) = (config.slow_consumer_timeout, &config.slow_consumers);
        let mut texts = Vec::with_capacity(frames.len());
        for frame in &frames {
            let tag = frame.tag();
            if tag.is_stopped() {
                continue;
            }
            texts.push(match frame {
                Frame::Next { tag, payload, event } => {
                    (encode::shared_next(self.protocol, &tag.id_json, payload), Some((tag, event.seq)))
                }
                Frame::Live { tag, payload, revision } => {
                    (encode::shared_next(self.protocol, &tag.id_json, payload), Some((tag, *revision)))
                }
                Frame::Complete { tag } if self.operations.finish(tag) => (encode::complete(&tag.id), None),
                Frame::Complete { .. } => continue,
            });
        }
        if texts.is_empty() {
            return Ok(());
        }
        // A frame fed to the socket is as good as written: should the flush stall, the
        // close that follows goes out behind it, so the resume cursor counts it.
        let write = async {
            for (text, next) in texts {
                socket.feed(Message::Text(text.into())).await?;
                if let Some((tag, seq)) = next {
                    tag.written(seq);
                }
            }
            socket.flush().await
        };
        tokio::pin!(write);
        // Most writes finish at once; only a blocked one pays for a timer.
        let written = match futures_util::poll!(&mut write) {
            std::task::Poll::Ready(result) => Some(result),
            std::task::Poll::Pending => timeout(slow, write).await.ok(),
        };
        match written {
            Some(Ok(())) => {}
            Some(Err(_)) => return Err(End::Gone),
            None => return Err(self.slow_consumer(slow_consumers)),
        }
        Ok(())
    }

    /// The close of a client that stopped reading: 1013 (try again later, which clients
    /// retry), with the cursor each subscription can resume after.
    fn slow_consumer(&self, slow_consumers: &Counter) -> End {
        slow_consumers.inc();
        let mut reason = String::from("Slow consumer; resume");
        for tag in self.operations.tags() {
            let Some(cursor) = tag.resume_cursor() else { continue };
            let part = format!(" {}={cursor}", tag.id);
            if reason.len() + part.len() > MAX_CLOSE_REASON {
                break;
            }
            reason.push_str(&part);
        }
        End::Close(close_code::TRY_AGAIN_LATER, reason)
    }

    async fn run(&mut self, socket: &mut WebSocket, config: &WsConfig, shutdown: &CancellationToken) -> End {
        let init_deadline = sleep(config.init_timeout);
        tokio::pin!(init_deadline);
        // Kept across turns: a fresh one per turn would register and unregister each time.
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let outbound = self.outbound.clone();
        let (gate, gate_waker) = Gate::new();
        loop {
            let mut frames = Vec::new();
            let ready = matches!(self.state, AuthState::Ready(_));
            let authenticating = matches!(self.state, AuthState::Pending(_));
            // Every branch is cancel-safe: a turn only learns what happened, and the
            // handlers below run with no branch future left borrowing the session.
            let turn = {
                let others = async {
                    tokio::select! {
                        biased;
                        () = &mut cancelled => Turn::Shutdown,
                        Some((code, reason)) = OptionFuture::from(self.closed.as_mut()) => Turn::Closed(code, reason),
                        () = &mut init_deadline, if !ready => Turn::InitTimeout,
                        Some(result) = OptionFuture::from(pending_auth(&mut self.state)), if authenticating => {
                            Turn::Authenticated(result)
                        }
                        incoming = socket.recv() => Turn::Incoming(incoming),
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
            if !matches!(turn, Turn::Frames) {
                gate.open();
            }
            let step = match turn {
                Turn::Shutdown => Err(close(close_code::GOING_AWAY, "Server shutting down")),
                Turn::Closed(code, reason) => Err(End::Close(code, reason)),
                Turn::InitTimeout => Err(close(close_code::INIT_TIMEOUT, "Connection initialisation timeout")),
                // The rarer handlers are boxed: a connection's task is as big as its largest
                // state, and every idle socket would hold their space.
                Turn::Authenticated(result) => Box::pin(self.authenticated(socket, result, config.keepalive)).await,
                Turn::Incoming(incoming) => Box::pin(self.incoming(socket, incoming)).await,
                Turn::Output(output) => Box::pin(emit(socket, self.protocol, output)).await,
                // Boxed too: a write is in progress on few sockets at any moment.
                Turn::Frames => Box::pin(self.write_frames(socket, frames, config)).await,
                Turn::Tick => {
                    let text = match self.protocol {
                        Subprotocol::TransportWs => encode::ping(),
                        Subprotocol::Legacy => encode::keep_alive(),
                    };
                    Box::pin(send(socket, text)).await
                }
            };
            if let Err(end) = step {
                return end;
            }
        }
    }
}
