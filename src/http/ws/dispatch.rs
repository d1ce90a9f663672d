//! What the connection loop does with each event: the protocol state machine proper
//! (init/auth, subscribe/complete bookkeeping). Split from the loop in `session.rs`
//! so the select! plumbing and the protocol rules can be read separately.

use std::sync::Arc;

use async_graphql::Request;
use axum::extract::ws::{Message, WebSocket};
use futures_util::StreamExt;
use tokio::time::{Instant, MissedTickBehavior, interval_at};

use super::config::{Authenticated, Execute, OpItem, OpLink, Rejected, WsConfig};
use super::encode;
use super::protocol::{self, ClientMessage, Subprotocol, close_code};
use super::session::{AuthState, End, Session, Step, close, read_error};
use crate::hub::Tag;

/// Legacy clients send `start` right after `connection_init` without awaiting the ack
/// (subscriptions-transport-ws does); such starts are held until auth ends, this many.
const MAX_QUEUED_STARTS: usize = 32;

impl<E: Execute> Session<E> {
    pub(super) async fn authenticated(
        &mut self,
        socket: &mut WebSocket,
        result: Result<Authenticated, Rejected>,
        config: &WsConfig,
    ) -> Step {
        let keepalive = config.keepalive;
        let data = match result {
            Ok(accepted) => {
                self.closed = accepted.closed;
                Arc::new(accepted.data)
            }
            Err(Rejected { code, reason }) => {
                tracing::debug!(reason, code, "graphql websocket connection rejected");
                self.queued.clear();
                if self.protocol == Subprotocol::Legacy {
                    self.send(socket, encode::connection_error(&reason), config).await?;
                }
                if code != close_code::FORBIDDEN {
                    return Err(End::Close(code, reason));
                }
                let reason = if reason.is_empty() { "Forbidden".to_owned() } else { format!("Forbidden: {reason}") };
                return Err(End::Close(close_code::FORBIDDEN, reason));
            }
        };
        self.state = AuthState::Ready(data.clone());
        self.send(socket, encode::connection_ack(), config).await?;
        // Zero would make tokio's interval panic and an overflowing period would panic
        // computing the first tick: both mean "disabled" here.
        let first_tick = Instant::now().checked_add(keepalive);
        if let Some(first_tick) = first_tick.filter(|_| !keepalive.is_zero()) {
            if self.protocol == Subprotocol::Legacy {
                self.send(socket, encode::keep_alive(), config).await?;
            }
            let mut interval = interval_at(first_tick, keepalive);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            self.keepalive = Some(interval);
        }
        for (id, request) in std::mem::take(&mut self.queued) {
            self.start(id, request, data.clone());
        }
        Ok(())
    }

    pub(super) async fn incoming(
        &mut self,
        socket: &mut WebSocket,
        incoming: Option<Result<Message, axum::Error>>,
        config: &WsConfig,
    ) -> Step {
        let text = match incoming {
            None => return Err(End::Gone),
            Some(Err(err)) => return Err(read_error(err)),
            Some(Ok(Message::Text(text))) => text,
            // Both protocols are text-only; graphql-ws treats anything else as invalid.
            Some(Ok(Message::Binary(_))) => {
                return Err(close(close_code::BAD_REQUEST, "Binary frames are not supported"));
            }
            // Websocket-level pings are answered by tungstenite itself; its Pong goes out
            // before anything more is read.
            Some(Ok(Message::Ping(_))) => return self.flush(socket, config).await,
            Some(Ok(Message::Pong(_))) => return Ok(()),
            Some(Ok(Message::Close(_))) => return Err(End::ClientClosed),
        };
        // The legacy protocol would answer malformed input with an `error` message and
        // carry on; we close with 4400 on both protocols so bad clients fail loudly.
        let message = protocol::parse(self.protocol, text.as_str())
            .map_err(|reason| End::Close(close_code::BAD_REQUEST, reason))?;
        match message {
            ClientMessage::Init { payload } => {
                if !matches!(self.state, AuthState::AwaitingInit) {
                    return Err(close(close_code::TOO_MANY_INITS, "Too many initialisation requests"));
                }
                let pending = self.auth.authenticate(payload, self.header_authorization.clone());
                self.state = AuthState::Pending(pending);
                Ok(())
            }
            ClientMessage::Ping { payload } => self.send(socket, encode::pong(payload), config).await,
            ClientMessage::Pong => Ok(()),
            ClientMessage::Subscribe { id, request } => self.subscribe(id, *request),
            ClientMessage::Complete { id } => {
                let queued = self.queued.len();
                self.queued.retain(|(queued_id, _)| *queued_id != id);
                let stopped = self.operations.stop(&id) || self.queued.len() != queued;
                // transport-ws: the client already knows; legacy: `stop` is acknowledged.
                if stopped && self.protocol == Subprotocol::Legacy {
                    self.send(socket, encode::complete(&id), config).await?;
                }
                Ok(())
            }
            ClientMessage::Terminate => Err(close(close_code::NORMAL, "Connection terminated")),
        }
    }

    fn start(&mut self, id: String, request: Request, data: Arc<async_graphql::Data>) {
        let link = OpLink { outbound: self.outbound.clone(), tag: Tag::new(&id) };
        let responses = self.executor.stream(request, Some(data), &link);
        self.operations.start(id, link.tag, responses);
    }

    fn subscribe(&mut self, id: String, request: Request) -> Step {
        let duplicate = self.operations.contains(&id) || self.queued.iter().any(|(queued, _)| *queued == id);
        let data = match (&self.state, self.protocol) {
            (AuthState::Ready(data), _) => Some(data.clone()),
            (AuthState::Pending(_), Subprotocol::Legacy) => None,
            _ => return Err(close(close_code::UNAUTHORIZED, "Unauthorized")),
        };
        if duplicate {
            return Err(End::Close(close_code::SUBSCRIBER_EXISTS, format!("Subscriber for {id} already exists")));
        }
        match data {
            Some(_) if self.operations.len() >= self.max_operations => {
                // Refused like a request error: an `error` message, the connection stays.
                let mut error = async_graphql::ServerError::new(
                    format!("at most {} operations may run on one connection", self.max_operations),
                    None,
                );
                let mut extensions = async_graphql::ErrorExtensionValues::default();
                extensions.set("code", "RATE_LIMITED");
                error.extensions = Some(extensions);
                let refused = OpItem::Reply(async_graphql::Response::from_errors(vec![error]).into());
                let tag = Tag::new(&id);
                self.operations.start(id, tag, futures_util::stream::once(async move { refused }).boxed());
            }
            Some(data) => self.start(id, request, data),
            None if self.queued.len() >= MAX_QUEUED_STARTS => {
                return Err(close(close_code::BAD_REQUEST, "Too many operations before connection_ack"));
            }
            None => self.queued.push((id, request)),
        }
        Ok(())
    }
}
