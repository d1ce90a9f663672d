//! `AppState`: what every handler gets. It lives below both `app` (which builds it) and
//! `http` (which serves with it), so neither has to import the other for it.

use prometheus_client::registry::Registry;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::graphql::{AppSchema, RenderCache};
use crate::hub::Hubs;
use crate::metrics::HttpMetrics;
use crate::persisted::PersistedQueries;
use crate::services::AppServices;

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    /// The app-wide container: the domain's services, usage metering and the audit trail.
    pub services: AppServices,
    pub schema: AppSchema,
    pub config: Arc<Config>,
    /// Cancelled when the server starts draining: readiness fails, sockets close with
    /// 1001 so clients resume elsewhere, streams end.
    pub shutdown: CancellationToken,
    /// Cancelled once in-flight requests are done: background workers stop.
    pub workers: CancellationToken,
    /// Every long-lived task (each socket, each worker) runs here, so stopping waits for them.
    pub tracker: TaskTracker,
    pub http_metrics: Arc<HttpMetrics>,
    pub registry: Arc<Registry>,
    /// Events serialised once per distinct operation, for operations outside the hubs.
    pub renders: Arc<RenderCache>,
    /// The practices' delivery hubs: subscriptions as registrations, one execution per
    /// distinct operation per event.
    pub hubs: Hubs,
    /// Apollo's persisted queries and the trusted documents, stored in the database.
    pub persisted: PersistedQueries,
    /// What a document may expand to; every door checks it before anything reads the document.
    pub bounds: crate::graphql::Bounds,
}
