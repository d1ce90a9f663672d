//! A shared prepared operation: one async-graphql execution of a subscription, fed the
//! practice's events by the hub, whose serialised results every registration of the same
//! [`OperationKey`](super::key::OperationKey) shares.

use async_graphql::{Executor, Request, Response};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::timeout;

use super::key::OperationKey;
use crate::auth::Auth;
use crate::events::{GaugeGuard, StoredEvent};
use crate::graphql::AppSchema;
use crate::graphql::shared_feed::Source;
use prometheus_client::metrics::gauge::Gauge;

/// Resolving an event reads nothing but its snapshot; one that takes longer than this is
/// broken, and its subscribers are told the operation ended.
const RENDER_TIMEOUT: Duration = Duration::from_secs(5);
/// Results kept per operation, so subscribers catching up near the head reuse them.
const RECENT: usize = 64;

/// What the hub needs to start an operation's shared execution.
#[derive(Clone)]
pub struct Prepared {
    pub key: OperationKey,
    pub variables: async_graphql::Variables,
}

pub struct Producer {
    _running: GaugeGuard,
    source: Source,
    results: BoxStream<'static, Response>,
    recent: VecDeque<(i64, Arc<str>)>,
}

impl Producer {
    /// Starts the execution and waits for its field to say what it reads. Err when it
    /// does not (the field refused the shared scope, or is not one the hub can feed):
    /// its subscribers then run on their own.
    pub async fn start(
        schema: &AppSchema,
        prepared: &Prepared,
        practice_id: &str,
        running: &Gauge,
    ) -> Result<Self, String> {
        let (source, bound) = Source::new();
        let key = &prepared.key;
        let mut request = Request::new(key.query.clone())
            .variables(prepared.variables.clone())
            .data(Auth(Some(key.scope.principal())))
            .data(source.clone());
        if let Some(name) = &key.operation_name {
            request = request.operation_name(name.clone());
        }
        let mut results = Executor::execute_stream(schema, request, None);
        let started = tokio::select! {
            bound = bound => bound.map_err(|_| "the operation did not start".to_string()),
            first = results.next() => Err(match first {
                Some(response) => format!("the shared execution failed: {:?}", response.errors),
                None => "the shared execution ended at once".to_string(),
            }),
        };
        let (bound_practice, _) = started?;
        if bound_practice != practice_id {
            return Err("the shared execution reads another practice".to_string());
        }
        Ok(Self { _running: GaugeGuard::hold(running.clone()), source, results, recent: VecDeque::with_capacity(4) })
    }

    /// The operation's result for `event`, serialised; None if the execution broke.
    pub async fn render(&mut self, event: &Arc<StoredEvent>) -> Option<Arc<str>> {
        if let Some((_, json)) = self.recent.iter().rev().find(|(seq, _)| *seq == event.seq) {
            return Some(json.clone());
        }
        self.source.push(event.clone());
        let response = timeout(RENDER_TIMEOUT, self.results.next()).await.ok()??;
        let json: Arc<str> = match serde_json::to_string(&response) {
            Ok(json) => json.into(),
            Err(err) => {
                tracing::warn!(error = %err, "a shared result could not be serialised");
                return None;
            }
        };
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((event.seq, json.clone()));
        Some(json)
    }
}
