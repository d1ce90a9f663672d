//! Starting the dispatcher and the worker on the app's task tracker.

use std::sync::Arc;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::dispatcher::Dispatcher;
use super::settings::WebhookArgs;
use super::worker::Worker;
use crate::audit::Recorder;
use crate::domain::Services;
use crate::usage::Meter;

/// Spawns both tasks unless `WEBHOOK_WORKER=false`; they stop when `shutdown` is cancelled.
/// The worker meters and audits what endpoints accepted in `usage` and `audit`.
pub fn start(
    settings: &WebhookArgs,
    services: &Services,
    usage: &Arc<Meter>,
    audit: &Arc<Recorder>,
    shutdown: &CancellationToken,
    tracker: &TaskTracker,
) {
    if !settings.worker {
        return;
    }
    let settings = Arc::new(settings.clone());
    let queued = Arc::new(Notify::new());
    tracker.spawn(
        Dispatcher {
            db: services.db.clone(),
            clock: services.clock.clone(),
            settings: settings.clone(),
            queued: queued.clone(),
            shutdown: shutdown.clone(),
        }
        .run(),
    );
    tracker.spawn(
        Worker {
            db: services.db.clone(),
            clock: services.clock.clone(),
            settings,
            queued,
            shutdown: shutdown.clone(),
            counters: services.counters.clone(),
            usage: usage.clone(),
            audit: audit.clone(),
            limits: services.limits.clone(),
        }
        .run(),
    );
}
