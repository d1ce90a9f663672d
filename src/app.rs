//! Building and running the application: `App::build` connects, migrates and binds (port 0
//! works), and returns before serving, so tests boot exactly what production runs.

use anyhow::Context;
use sea_orm::DatabaseConnection;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::hash_key;
use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::domain::Services;
use crate::events::{Counters, MemoryBus, RedisBus, RedisSettings, RelaySettings, SharedBus};
use crate::graphql::{self, AppSchema};

/// How long long-lived tasks (sockets) get to finish after the listener stops.
const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// What every handler gets.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub schema: AppSchema,
    pub config: Arc<Config>,
    /// Cancelled when the server stops; every socket and worker watches it.
    pub shutdown: CancellationToken,
    /// Every long-lived task (each socket) is spawned here, so stopping can wait for them.
    pub tracker: TaskTracker,
}

pub struct App {
    listener: TcpListener,
    state: AppState,
}

/// What exists before the app: the stop signal, the task tracker and the counters that
/// background tasks (the Redis bus) are started with.
struct Parts {
    shutdown: CancellationToken,
    tracker: TaskTracker,
    counters: Arc<Counters>,
}

impl Parts {
    fn new() -> Self {
        Self { shutdown: CancellationToken::new(), tracker: TaskTracker::new(), counters: Arc::default() }
    }
}

impl App {
    /// Connects to the configured database (migrating it) and bus: Redis when `REDIS_URL`
    /// is set, in-process otherwise.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = crate::db::connect(&config.db).await.context("connecting to the database")?;
        Self::build_on(config, db, Arc::new(SystemClock)).await
    }

    /// Like `build`, over an open database and a given clock: what tests use to share a
    /// database between replicas or move time.
    pub async fn build_on(config: Config, db: DatabaseConnection, clock: SharedClock) -> anyhow::Result<Self> {
        let parts = Parts::new();
        let (bus, outbox): (SharedBus, bool) = match &config.redis_url {
            Some(url) => {
                let settings = RedisSettings {
                    url: url.clone(),
                    prefix: config.redis_prefix.clone(),
                    capacity: config.bus_capacity,
                    relay: RelaySettings {
                        interval: Duration::from_millis(config.relay_interval_ms.max(10)),
                        grace: Duration::from_millis(config.relay_grace_ms),
                    },
                };
                let bus = RedisBus::start(
                    settings,
                    db.clone(),
                    parts.counters.clone(),
                    parts.shutdown.clone(),
                    &parts.tracker,
                )
                .context("opening the Redis bus")?;
                (Arc::new(bus), true)
            }
            None => (Arc::new(MemoryBus::new(config.bus_capacity)), false),
        };
        Self::assemble(config, db, bus, clock, outbox, parts).await
    }

    /// Builds over given parts with an in-process `bus`: tests use it to share a bus.
    pub async fn build_with(
        config: Config,
        db: DatabaseConnection,
        bus: SharedBus,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        Self::assemble(config, db, bus, clock, false, Parts::new()).await
    }

    async fn assemble(
        config: Config,
        db: DatabaseConnection,
        bus: SharedBus,
        clock: SharedClock,
        outbox: bool,
        parts: Parts,
    ) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(&config.listen_addr).await.with_context(|| format!("binding {}", config.listen_addr))?;
        let services = Services {
            db,
            bus,
            clock,
            admin_key_hash: config.admin_key.as_deref().map(hash_key),
            outbox,
            counters: parts.counters,
            faults: Default::default(),
        };
        let schema = graphql::build(services.clone(), &config);
        crate::webhooks::start(&config.webhooks, &services, &parts.shutdown, &parts.tracker);
        let state =
            AppState { services, schema, config: Arc::new(config), shutdown: parts.shutdown, tracker: parts.tracker };
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `stop` completes, then closes sockets and waits for them (bounded).
    pub async fn run_until(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self { listener, state } = self;
        let token = state.shutdown.clone();
        let tracker = state.tracker.clone();
        tracing::info!(addr = %listener.local_addr()?, "clinicstream listening");
        let router = crate::http::router(state);
        let shutdown = {
            let token = token.clone();
            async move {
                tokio::select! {
                    _ = stop => token.cancel(),
                    _ = token.cancelled() => {},
                }
            }
        };
        axum::serve(listener, router).with_graceful_shutdown(shutdown).await?;
        tracker.close();
        if tokio::time::timeout(DRAIN_DEADLINE, tracker.wait()).await.is_err() {
            tracing::warn!("some connections did not close within the drain deadline");
        }
        Ok(())
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(crate::shutdown::signal()).await
    }
}
