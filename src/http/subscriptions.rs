//! Wiring the websocket protocol handler to the app: its settings, and authentication
//! from the `connection_init` payload (`{"authorization": "Bearer <key>"}`) or, for
//! clients that can set headers, the upgrade request's `Authorization` header.

use async_graphql::{Data, ErrorExtensionValues, Executor, Request, Response as GqlResponse, ServerError};
use axum::extract::ws::WebSocketUpgrade;
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::future::BoxFuture;
use futures_util::stream::{self, BoxStream};
use futures_util::{FutureExt, StreamExt};
use std::sync::Arc;
use std::time::Duration;

use super::auth::resolve;
use super::ws::{self, Authenticated, ConnectionAuth, Execute, OpItem, OpLink, Rejected, Reply, WsConfig};
use crate::auth::{Auth, Credentials, Principal};
use crate::events::{GaugeGuard, StreamTransport, TransportLabel};
use crate::graphql::{AppSchema, RenderCache, RenderSlot};
use crate::hub::{Hubs, Subscribe, Subscribed, Turn};
use crate::persisted::PersistedQueries;
use crate::services::AppServices;
use crate::state::AppState;

pub fn upgrade(state: &AppState, upgrade: WebSocketUpgrade, headers: &HeaderMap) -> Response {
    let config = WsConfig {
        init_timeout: Duration::from_millis(state.config.ws_init_timeout_ms),
        keepalive: Duration::from_secs(state.config.ws_keepalive_secs),
        max_message_bytes: state.config.ws_max_message_bytes,
        max_operations: state.config.ws_max_operations,
        max_outbound_bytes: state.config.outbound_max_bytes,
        slow_consumer_timeout: Duration::from_secs(state.config.slow_consumer_timeout_secs),
        slow_consumers: state.services.domain.counters.slow_consumers.clone(),
    };
    let auth =
        Arc::new(KeyAuth { services: state.services.clone(), max_connections: state.config.max_connections_per_key });
    let connection =
        state.http_metrics.connections.get_or_create(&TransportLabel::of(StreamTransport::Websocket)).clone();
    ws::upgrade(
        upgrade,
        headers,
        Limited {
            schema: state.schema.clone(),
            limits: state.services.domain.limits.clone(),
            renders: state.renders.clone(),
            hubs: state.hubs.clone(),
            persisted: state.persisted.clone(),
            bounds: state.bounds,
        },
        auth,
        config,
        state.shutdown.clone(),
        state.tracker.clone(),
        GaugeGuard::hold(connection),
    )
}

struct KeyAuth {
    services: AppServices,
    max_connections: usize,
}

/// The schema, with every operation a socket starts spending a token of its key's rate.
/// Subscriptions go to the practice's hub (one execution per distinct operation, results
/// queued on the connection); anything else runs here, its events rendered once per
/// distinct operation (see `graphql::RenderSlot`).
#[derive(Clone)]
struct Limited {
    schema: AppSchema,
    limits: Arc<crate::limits::Limits>,
    renders: Arc<RenderCache>,
    hubs: Hubs,
    persisted: PersistedQueries,
    bounds: crate::graphql::Bounds,
}

impl Limited {
    fn run(
        &self,
        request: Request,
        principal: Option<Principal>,
        session: Option<Arc<Data>>,
    ) -> BoxStream<'static, OpItem> {
        let slot = RenderSlot::new(&self.renders, &request);
        let request = request.data(Auth(principal)).data(slot.clone());
        let responses = Executor::execute_stream(&self.schema, request, session);
        responses
            .map(move |response| {
                OpItem::Reply(match slot.json(&response) {
                    Some(json) => Reply::Json(json),
                    None => response.into(),
                })
            })
            .boxed()
    }

    /// The checks an operation passes before it starts: its key's rate, its persisted
    /// query, the document's bounds. A refusal is a request error (an `error` message).
    async fn admit(&self, request: &mut Request, principal: Option<&Principal>) -> Result<(), Reply> {
        if let Some(principal) = principal
            && self.limits.allow(&principal.limit_key()).await.is_err()
        {
            return Err(rate_limited().into());
        }
        self.persisted.apply(request, principal.is_some()).await.map_err(|refused| Reply::from(refused.response()))?;
        crate::graphql::bounds::admit(request, &self.bounds).map_err(|refused| (*refused).into())
    }

    /// An admitted operation: a subscription (or live query) with its turn, which holds
    /// one of its practice's slots and goes to the hub; anything else runs here.
    fn start(
        self,
        request: Request,
        principal: Option<Principal>,
        session: Option<Arc<Data>>,
        link: OpLink,
        turn: Option<Turn>,
    ) -> BoxStream<'static, OpItem> {
        async_stream::stream! {
            let Some(principal) = principal else {
                let mut items = self.run(request, None, session);
                while let Some(item) = items.next().await {
                    yield item;
                }
                return;
            };
            let slot = match principal.practice_id().filter(|_| turn.is_some()) {
                Some(practice_id) => match self.limits.subscribe(practice_id).await {
                    Ok(slot) => Some(slot),
                    Err(err) => {
                        yield OpItem::Reply(refused(&err).into());
                        return;
                    }
                },
                None => None,
            };
            let transport = StreamTransport::Websocket;
            let subscribe =
                Subscribe { request, principal: principal.clone(), session: session.clone(), after: None, transport, turn };
            match self.hubs.subscribe(subscribe, &link.outbound, &link.tag).await {
                Subscribed::Registered(registration) => yield OpItem::Registered(Box::new((registration, slot))),
                Subscribed::Running(mut responses) => {
                    while let Some(response) = responses.next().await {
                        yield OpItem::Reply(response.into());
                    }
                }
                Subscribed::Unshared(request) => {
                    let mut items = self.run(request, Some(principal), session);
                    while let Some(item) = items.next().await {
                        yield item;
                    }
                }
            }
        }
        .boxed()
    }
}

impl Execute for Limited {
    /// Each operation acts as the connection's credentials at its start (they may have
    /// been replaced since the connection opened) and spends a token of that key's rate.
    ///
    /// A storm of reconnecting clients starts subscriptions faster than the database can
    /// probe them, so they wait for their turns (`Hubs::turn`). What waits is this small
    /// future, the checks boxed for their moment, holding the request without its parsed
    /// document; the start proper, several KB, is made once the turn came.
    fn stream(&self, mut request: Request, session: Option<Arc<Data>>, link: &OpLink) -> BoxStream<'static, OpItem> {
        let credentials = session.as_ref().and_then(|d| d.get(&std::any::TypeId::of::<Arc<Credentials>>()));
        let principal = credentials.and_then(|c| c.downcast_ref::<Arc<Credentials>>()).map(|c| c.principal());
        let (this, link) = (self.clone(), link.clone());
        async move {
            if let Err(refused) = Box::pin(this.admit(&mut request, principal.as_ref())).await {
                return stream::once(std::future::ready(OpItem::Reply(refused))).boxed();
            }
            let turn = match &principal {
                Some(_) if crate::graphql::streams(&mut request) => {
                    request = crate::graphql::unparsed(request);
                    Some(this.hubs.turn().await)
                }
                _ => None,
            };
            this.start(request, principal, session, link, turn)
        }
        .flatten_stream()
        .boxed()
    }
}

/// A request refused by the rate limit, as a request error (an `error` message on sockets).
pub fn rate_limited() -> GqlResponse {
    let mut error = ServerError::new("too many requests for this API key; slow down", None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "RATE_LIMITED");
    error.extensions = Some(extensions);
    GqlResponse::from_errors(vec![error])
}

/// The close code of a connection refused by its practice's `maxConnections` quota.
pub const QUOTA_CLOSE: u16 = 4029;

/// What a connection holds while it is open, let go of with its data: its key's and its
/// practice's connection slots, and its place in the practice's usage peak. One entry of
/// the data, not three: every entry is a table slot and a box an idle socket keeps.
struct Holds {
    _key: crate::limits::Slot,
    _practice: Option<crate::limits::Slot>,
    _usage: Option<crate::usage::Held>,
}

fn over_quota(err: crate::error::AppError) -> Rejected {
    Rejected { code: QUOTA_CLOSE, reason: format!("QUOTA_EXCEEDED: {err}") }
}

/// A refusal as a request error (an `error` message on sockets), with its code.
pub fn refused(err: &crate::error::AppError) -> GqlResponse {
    use async_graphql::ErrorExtensions;
    GqlResponse::from_errors(vec![err.extend().into_server_error(async_graphql::Pos::default())])
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
    ) -> BoxFuture<'static, Result<Authenticated, Rejected>> {
        let (services, max_connections) = (self.services.clone(), self.max_connections);
        async move {
            let presented = payload_authorization(&init_payload).or(header_authorization);
            let auth = resolve(&services.domain, presented.as_deref())
                .await
                .map_err(|denied| format!("{}: {}", denied.code(), denied.message()))?;
            let Some(principal) = &auth.0 else {
                return Err("a valid API key is required".into());
            };
            // Counted on every replica when there is Redis; the slot goes with the socket.
            let scope = crate::limits::Scope::KeyConnections(principal.limit_key().into_owned());
            let Ok(slot) = services.domain.limits.slots.take(&scope, Some(max_connections)).await else {
                return Err(format!("this API key already holds {max_connections} connections").into());
            };
            let practice_slot = match principal.practice_id() {
                Some(practice_id) => Some(services.domain.limits.connect(practice_id).await.map_err(over_quota)?),
                None => None,
            };
            let mut data = Data::default();
            let credentials = services.domain.sessions.open(principal.clone());
            // A stored key's connections close when it is revoked or expires; the
            // bootstrap ADMIN_KEY lives as long as the process's configuration.
            let closed = Some(credentials.closed());
            data.insert(credentials);
            data.insert(StreamTransport::Websocket);
            // The door operations are metered and audited under, and the connection's
            // place in its practice's peak.
            data.insert(crate::vocab::Transport::Websocket);
            let usage = principal.practice_id().map(|practice| {
                let usage = &services.usage;
                usage.connection(usage.key(practice, principal.usage_key().as_deref()))
            });
            data.insert(Holds { _key: slot, _practice: practice_slot, _usage: usage });
            Ok(Authenticated { data, closed })
        }
        .boxed()
    }
}
