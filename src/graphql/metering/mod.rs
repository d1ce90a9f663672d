//! The extension that meters queries and mutations and writes their audit rows: every
//! operation a transport marked with its door (a `vocab::Transport` in the request or
//! connection data) is counted under its caller's practice and key, and the patients its
//! resolvers touched (`audit::Touched`) are recorded once per operation — READ for a
//! query, CHANGE for a mutation. Subscriptions are metered by the hub that serves them,
//! or, when they run on their own, by `streams`; the hub's own executions (and its
//! probes) are not counted.

mod streams;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextPrepareRequest, NextSubscribe,
};
use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response, ServerResult};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::any::TypeId;
use std::sync::{Arc, Mutex};

use crate::audit::{Actor, Recorder, Touched};
use crate::auth::Auth;
use crate::domain::Services;
use crate::usage::{Meter, OpKind, UsageKey};
use crate::vocab::{AuditAction, Transport};

pub struct Metering;

impl ExtensionFactory for Metering {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(PerRequest::default())
    }
}

#[derive(Default)]
struct PerRequest {
    /// The operation's type, when it is a query or a mutation from a marked door.
    kind: Mutex<Option<OpKind>>,
    /// A subscription from a marked door that runs on its own (not through the hub).
    stream: Arc<Mutex<Option<streams::Watched>>>,
}

/// `T` from the request's data, or else the connection's.
fn data_of<'a, T: std::any::Any>(request: &'a Request, ctx: &'a ExtensionContext<'_>) -> Option<&'a T> {
    let id = TypeId::of::<T>();
    request.data.get(&id).or_else(|| ctx.session_data.get(&id)).and_then(|d| d.downcast_ref::<T>())
}

#[async_trait::async_trait]
impl Extension for PerRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let marked = request.data.contains_key(&TypeId::of::<Transport>())
            || ctx.session_data.contains_key(&TypeId::of::<Transport>());
        if marked {
            let name = request.operation_name.clone();
            let kind =
                request.parsed_query().ok().and_then(|doc| super::selected_operation(doc, name.as_deref())).map(|op| {
                    match op.node.ty {
                        OperationType::Query => Some(OpKind::Query),
                        OperationType::Mutation => Some(OpKind::Mutation),
                        OperationType::Subscription => None,
                    }
                });
            match kind {
                Some(Some(kind)) => {
                    *self.kind.lock().unwrap_or_else(|e| e.into_inner()) = Some(kind);
                    request = request.data(Touched::default());
                }
                Some(None) => request = self.watch_stream(ctx, request),
                None => {}
            }
        }
        next.run(ctx, request).await
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let watched = self.stream.clone();
        next.run(ctx, stream)
            .then(move |response| {
                let watched = watched.clone();
                async move {
                    let result = watched.lock().unwrap_or_else(|e| e.into_inner()).as_mut().map(|w| w.result());
                    if let Some(result) = result {
                        result.allowed().await;
                        if let Some(watched) = watched.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                            watched.delivered(result);
                        }
                    }
                    response
                }
            })
            .boxed()
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let response = next.run(ctx, operation_name).await;
        let Some(kind) = *self.kind.lock().unwrap_or_else(|e| e.into_inner()) else { return response };
        let (Some(usage), Some(audit), Some(door), Some(Auth(Some(principal)))) = (
            ctx.data_opt::<Arc<Meter>>(),
            ctx.data_opt::<Arc<Recorder>>(),
            ctx.data_opt::<Transport>(),
            ctx.data_opt::<Auth>(),
        ) else {
            return response;
        };
        let touched = ctx.data_opt::<Touched>().map(Touched::take).unwrap_or_default();
        // A practice's key is metered under its practice; a global ADMIN key under each
        // practice whose patients the operation touched.
        let key = principal.usage_key();
        let key = key.as_deref();
        match principal.practice_id() {
            Some(practice) => usage.operation(&UsageKey::new(practice, key), kind),
            None => {
                for (practice, _) in &touched {
                    usage.operation(&UsageKey::new(practice, key), kind);
                }
            }
        }
        let action = if kind == OpKind::Mutation { AuditAction::Change } else { AuditAction::Read };
        for (practice, patients) in touched {
            audit.record(&practice, Actor::of(principal, *door, operation_name), action, patients, None);
        }
        response
    }
}

impl PerRequest {
    /// A subscription about to run on its own: metered and audited from here (a hub's
    /// probe is not: the hub meters what it serves).
    fn watch_stream(&self, ctx: &ExtensionContext<'_>, mut request: Request) -> Request {
        if request.data.contains_key(&TypeId::of::<crate::graphql::shared_feed::Probe>()) {
            return request;
        }
        let name = super::operation_name(&mut request);
        let (Some(services), Some(usage), Some(audit), Some(door), Some(Auth(Some(principal)))) = (
            ctx.data_opt::<Services>(),
            ctx.data_opt::<Arc<Meter>>(),
            ctx.data_opt::<Arc<Recorder>>(),
            data_of::<Transport>(&request, ctx),
            data_of::<Auth>(&request, ctx),
        ) else {
            return request;
        };
        let touched = Touched::default();
        let filter = crate::audit::filter(&request.query, &request.variables);
        let meters = streams::Meters { usage: usage.clone(), audit: audit.clone(), limits: services.limits.clone() };
        let watched = streams::Watched::start(meters, principal, *door, name, filter, touched.clone());
        *self.stream.lock().unwrap_or_else(|e| e.into_inner()) = Some(watched);
        request.data(touched)
    }
}
