//! The axum side of the handshake: negotiate the subprotocol before upgrading, because a
//! connection we cannot speak to should fail as a plain HTTP error the client can see,
//! not as an accepted socket that is closed straight away.

use std::sync::Arc;

use axum::{
    extract::ws::WebSocketUpgrade,
    http::{HeaderMap, StatusCode, header::AUTHORIZATION},
    response::{IntoResponse, Response},
};
use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::{ConnectionAuth, Execute, WsConfig};
use super::protocol::Subprotocol;
use super::session::serve;

/// Client messages are small (subscribe, complete, pong): tungstenite allocates and
/// zero-fills its read buffer eagerly, so every byte here is paid by every idle socket;
/// a bigger message grows it. 128 KiB is tungstenite's default.
const READ_BUFFER_BYTES: usize = 1024;
/// Frames are written once this much is buffered (or on flush); the buffer itself only
/// grows to the largest batch written.
const WRITE_BUFFER_BYTES: usize = 4 * 1024;

/// Selects the subprotocol from the request headers; if none is supported, answers
/// HTTP 400 with a plain-text explanation. Otherwise upgrades, echoing the chosen
/// protocol, with small buffers and `config.max_message_bytes` as the message and frame
/// limit, then runs [`serve`] on `tracker` (axum does not wait for upgraded sockets; the
/// app does), holding `guard` for the connection's lifetime (e.g. a gauge).
#[allow(clippy::too_many_arguments)]
pub(crate) fn upgrade<E: Execute, G: Send + 'static>(
    ws: WebSocketUpgrade,
    headers: &HeaderMap,
    executor: E,
    auth: Arc<dyn ConnectionAuth>,
    config: WsConfig,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    guard: G,
) -> Response {
    let Some(protocol) = Subprotocol::select(headers) else {
        tracing::debug!("graphql websocket upgrade rejected: no supported subprotocol");
        return (
            StatusCode::BAD_REQUEST,
            "Unsupported or missing Sec-WebSocket-Protocol: expected graphql-transport-ws or graphql-ws",
        )
            .into_response();
    };
    // A non-UTF-8 Authorization header is treated as absent; auth decides what that means.
    let header_authorization = headers.get(AUTHORIZATION).and_then(|value| value.to_str().ok()).map(str::to_owned);
    // axum's task keeps the callback's captures for the connection's life, beside the
    // future the callback returns: one box (freed as the callback runs), not ~290 B per socket.
    let max_message_bytes = config.max_message_bytes;
    let parts = Box::new((executor, auth, config, header_authorization, shutdown, tracker, guard));
    ws.protocols([protocol.name()])
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_message_size(max_message_bytes)
        .max_frame_size(max_message_bytes)
        .on_failed_upgrade(|err| tracing::warn!(error = %err, "graphql websocket upgrade failed"))
        .on_upgrade(move |socket| {
            let (executor, auth, config, header_authorization, shutdown, tracker, guard) = *parts;
            let serving = serve(socket, protocol, executor, auth, config, header_authorization, shutdown);
            tracker.track_future(serving.map(move |()| drop(guard)))
        })
}
