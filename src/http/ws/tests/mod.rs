//! Real-websocket tests: an axum server on 127.0.0.1:0 with a tiny schema, driven by a
//! tokio-tungstenite client. This file holds the fixture; the protocol files the cases.

mod client;
mod legacy;
mod transport_ws;
mod transport_ws_close;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicI32, Ordering},
    },
    time::Duration,
};

use async_graphql::{Context, Data, Object, Schema, Subscription};
use axum::{
    Router,
    extract::{State, ws::WebSocketUpgrade},
    http::HeaderMap,
    response::Response,
    routing::get,
};
use futures_util::{Stream, StreamExt, future::BoxFuture, stream};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::{ConnectionAuth, Subprotocol, WsConfig, serve, upgrade};

pub(super) const WAIT: Duration = Duration::from_secs(5);

struct User(String);

struct Query;

#[Object]
impl Query {
    async fn hello(&self) -> &'static str {
        "world"
    }
    /// Proves the auth's session data reaches every operation.
    async fn whoami(&self, ctx: &Context<'_>) -> Option<String> {
        ctx.data_opt::<User>().map(|user| user.0.clone())
    }
}

#[derive(Default)]
struct Mutation(AtomicI32);

#[Object]
impl Mutation {
    async fn bump(&self) -> i32 {
        self.0.fetch_add(1, Ordering::SeqCst) + 1
    }
}

struct Subscription;

#[Subscription]
impl Subscription {
    /// `n` numbers, 10 ms apart, then the stream ends.
    async fn ticks(&self, n: i32) -> impl Stream<Item = i32> {
        stream::iter(0..n).then(|i| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            i
        })
    }
    async fn fail(&self) -> async_graphql::Result<stream::Empty<i32>> {
        Err("boom".into())
    }
}

type TestSchema = Schema<Query, Mutation, Subscription>;

/// Accepts `{"authorization":"Bearer good"}` in the payload, or that header value.
struct TestAuth;

impl ConnectionAuth for TestAuth {
    fn authenticate(
        &self,
        payload: Value,
        header: Option<String>,
    ) -> BoxFuture<'static, Result<super::Authenticated, super::Rejected>> {
        Box::pin(async move {
            let token = payload.get("authorization").and_then(Value::as_str).map(str::to_owned).or(header);
            if token.as_deref() != Some("Bearer good") {
                return Err("bad token".into());
            }
            let mut data = Data::default();
            data.insert(User("alice".to_owned()));
            Ok(data.into())
        })
    }
}

#[derive(Clone)]
struct AppState {
    schema: TestSchema,
    auth: Arc<dyn ConnectionAuth>,
    config: WsConfig,
    shutdown: CancellationToken,
}

async fn handler(State(state): State<AppState>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    upgrade(
        ws,
        &headers,
        state.schema,
        state.auth,
        state.config,
        state.shutdown,
        tokio_util::task::TaskTracker::new(),
        (),
    )
}

/// `serve` used directly, as an embedder with its own negotiation would.
async fn raw_handler(State(state): State<AppState>, ws: WebSocketUpgrade) -> Response {
    ws.protocols([Subprotocol::TransportWs.name()]).on_upgrade(move |socket| {
        serve(socket, Subprotocol::TransportWs, state.schema, state.auth, state.config, None, state.shutdown)
    })
}

pub(super) struct Server {
    url: String,
    raw_url: String,
    shutdown: CancellationToken,
}

pub(super) fn config() -> WsConfig {
    WsConfig {
        init_timeout: WAIT,
        keepalive: Duration::from_secs(60),
        max_message_bytes: 16 * 1024,
        max_operations: 100,
        ..WsConfig::default()
    }
}

pub(super) async fn start(config: WsConfig) -> Server {
    let schema = Schema::build(Query, Mutation::default(), Subscription).finish();
    let shutdown = CancellationToken::new();
    let state = AppState { schema, auth: Arc::new(TestAuth), config, shutdown: shutdown.clone() };
    let app = Router::new().route("/ws", get(handler)).route("/raw", get(raw_handler)).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("local addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    Server { url: format!("ws://{addr}/ws"), raw_url: format!("ws://{addr}/raw"), shutdown }
}

#[test]
fn subprotocol_selection_follows_client_order() {
    let select = |values: &[&str]| {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("sec-websocket-protocol", value.parse().expect("header"));
        }
        Subprotocol::select(&headers)
    };
    assert_eq!(select(&[]), None);
    assert_eq!(select(&["foo", "bar,baz"]), None);
    assert_eq!(select(&["foo", " graphql-ws , graphql-transport-ws"]), Some(Subprotocol::Legacy));
    assert_eq!(select(&["graphql-transport-ws", "graphql-ws"]), Some(Subprotocol::TransportWs));
    assert_eq!(Subprotocol::Legacy.name(), "graphql-ws");
}
