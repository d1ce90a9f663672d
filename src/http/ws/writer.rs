//! Everything a connection writes to its client, and how long it may wait to: every write
//! (results, pongs, keep-alives, errors, `complete`s, websocket Pong frames) goes through
//! one bounded path, so a client that stops reading is closed as a slow consumer (1013)
//! whatever it keeps sending, and the server never holds more than a write buffer's
//! worth for it beyond the byte-bounded outbound queue.

use std::future::Future;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::SinkExt;
use tokio::time::timeout;

use super::config::{Execute, WsConfig};
use super::encode;
use super::operations::Output;
use super::protocol::{self, close_code};
use super::session::{End, Session, Step};
use crate::hub::Frame;

/// Time allowed for the close handshake to finish once either side started it.
const CLOSE_GRACE: Duration = Duration::from_secs(1);
/// RFC 6455 limits a close reason to 123 bytes.
pub(super) const MAX_CLOSE_REASON: usize = 123;

impl<E: Execute> Session<E> {
    /// Writes one text message and flushes it.
    pub(super) async fn send(&mut self, socket: &mut WebSocket, text: String, config: &WsConfig) -> Step {
        self.within_slow(socket.send(Message::Text(text.into())), config).await
    }

    /// Flushes what the websocket layer queued by itself: the Pong answering a client's
    /// Ping frame. The socket is not read again until it is out, so a client flooding
    /// Ping frames without reading holds one Pong, not one per Ping.
    pub(super) async fn flush(&mut self, socket: &mut WebSocket, config: &WsConfig) -> Step {
        self.within_slow(socket.flush(), config).await
    }

    /// An operation's result (or its end), in the connection's protocol.
    pub(super) async fn emit(&mut self, socket: &mut WebSocket, output: Output, config: &WsConfig) -> Step {
        let text = match output {
            Output::Next(id, response) => encode::next(self.protocol, &id, &response),
            Output::Error(id, errors) => encode::error(self.protocol, &id, &errors),
            Output::Complete(id) => encode::complete(&id),
            Output::Reaped => return Ok(()),
        };
        self.send(socket, text, config).await
    }

    /// Awaits a write. A write that makes no progress within the slow-consumer timeout
    /// closes the connection, telling the client where to resume. The socket is not read
    /// meanwhile, which is what bounds the replies a client that never reads can cause.
    async fn within_slow<F>(&mut self, write: F, config: &WsConfig) -> Step
    where
        F: Future<Output = Result<(), axum::Error>>,
    {
        tokio::pin!(write);
        // Most writes finish at once; only a blocked one pays for a timer.
        let written = match futures_util::poll!(&mut write) {
            std::task::Poll::Ready(result) => Some(result),
            std::task::Poll::Pending => timeout(config.slow_consumer_timeout, write).await.ok(),
        };
        match written {
            Some(Ok(())) => Ok(()),
            Some(Err(_)) => Err(End::Gone),
            None => Err(self.slow_consumer(config)),
        }
    }

    /// Writes frames taken from the outbound queue in one go.
    pub(super) async fn write_frames(&mut self, socket: &mut WebSocket, frames: Vec<Frame>, config: &WsConfig) -> Step {
        let mut texts = Vec::with_capacity(frames.len());
        // One span per delivered event, held until the write is done (none when untraced).
        let mut spans = Vec::new();
        for frame in &frames {
            let tag = frame.tag();
            if tag.is_stopped() {
                continue;
            }
            texts.push(match frame {
                Frame::Next { tag, payload, event } => {
                    if crate::telemetry::on() {
                        spans.push(crate::telemetry::delivery(
                            "websocket",
                            &event.practice_id,
                            event.seq,
                            event.trace.as_ref(),
                        ));
                    }
                    (encode::shared_next(self.protocol, tag.id_json(), payload), Some((tag, event.seq)))
                }
                Frame::Live { tag, payload, revision } => {
                    (encode::shared_next(self.protocol, tag.id_json(), payload), Some((tag, *revision)))
                }
                Frame::Complete { tag } if self.operations.finish(tag) => (encode::complete(tag.id()), None),
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
        let written = self.within_slow(write, config).await;
        drop(spans);
        written
    }

    /// The close of a client that stopped reading: 1013 (try again later, which clients
    /// retry), with the cursor each subscription can resume after.
    fn slow_consumer(&self, config: &WsConfig) -> End {
        config.slow_consumers.inc();
        let mut reason = String::from("Slow consumer; resume");
        for tag in self.operations.tags() {
            let Some(cursor) = tag.resume_cursor() else { continue };
            let part = format!(" {}={cursor}", tag.id());
            if reason.len() + part.len() > MAX_CLOSE_REASON {
                break;
            }
            reason.push_str(&part);
        }
        End::Close(close_code::TRY_AGAIN_LATER, reason)
    }
}

/// Ends the connection as `end` says (boxed: its timers would otherwise take room in every
/// live connection's task).
pub(super) async fn finish(mut socket: WebSocket, end: End, config: &WsConfig) {
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
