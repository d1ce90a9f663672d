//! Wiring the websocket protocol handler to the app: its settings, and authentication
//! from the `connection_init` payload (`{"authorization": "Bearer <key>"}`) or, for
//! clients that can set headers, the upgrade request's `Authorization` header.

use async_graphql::Data;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

use super::auth::resolve;
use super::ws::{self, ConnectionAuth, WsConfig};
use crate::app::AppState;
use crate::domain::Services;
use crate::events::{GaugeGuard, Transport, TransportLabel};

pub fn upgrade(state: &AppState, upgrade: WebSocketUpgrade, headers: &HeaderMap) -> Response {
    let config = WsConfig {
        init_timeout: Duration::from_millis(state.config.ws_init_timeout_ms),
        keepalive: Duration::from_secs(state.config.ws_keepalive_secs),
        max_message_bytes: state.config.ws_max_message_bytes,
    };
    let auth = Arc::new(KeyAuth { services: state.services.clone() });
    let connection = state.http_metrics.connections.get_or_create(&TransportLabel::of(Transport::Websocket)).clone();
    ws::upgrade(
        upgrade,
        headers,
        state.schema.clone(),
        auth,
        config,
        state.shutdown.clone(),
        state.tracker.clone(),
        GaugeGuard::hold(connection),
    )
}

struct KeyAuth {
    services: Services,
}

/// The credentials a `connection_init` payload carries, under either spelling.
fn payload_authorization(payload: &serde_json::Value) -> Option<String> {
    ["authorization", "Authorization"].iter().find_map(|k| payload.get(*k)).and_then(|v| v.as_str()).map(str::to_string)
}

impl ConnectionAuth for KeyAuth {
    fn authenticate(
        &self,
        init_payload: serde_json::Value,
        header_authorization: Option<String>,
    ) -> BoxFuture<'static, Result<Data, String>> {
        let services = self.services.clone();
        async move {
            let presented = payload_authorization(&init_payload).or(header_authorization);
            let auth = resolve(&services, presented.as_deref()).await;
            if auth.0.is_none() {
                return Err("a valid API key is required".to_string());
            }
            let mut data = Data::default();
            data.insert(auth);
            data.insert(Transport::Websocket);
            Ok(data)
        }
        .boxed()
    }
}
