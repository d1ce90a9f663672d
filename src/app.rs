//! Building and running the application: `App::build` connects, migrates and binds (port 0
//! works), and returns before serving, so tests boot exactly what production runs.

use anyhow::Context;
use axum::serve::ListenerExt;
use sea_orm::DatabaseConnection;
use std::future::Future;
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::{SharedClock, SystemClock};
use crate::config::Config;
use crate::events::{BusChoice, ClusterBus, Counters, MemoryBus, RedisBus, SharedBus};
use crate::graphql;
use crate::hub::LiveThrottle;
use crate::metrics::HttpMetrics;
use crate::services::{AppServices, Parts};
use crate::state::AppState;

pub struct App {
    listener: TcpListener,
    /// The gRPC door's listener, when `GRPC_LISTEN_ADDR` is set.
    grpc: Option<TcpListener>,
    state: AppState,
    /// The configured bridges, started with the other workers by `run_until`.
    bridges: crate::bridges::Configured,
    /// The configured command consumers (`inbox`), started by `run_until`.
    commands: crate::inbox::Consumers,
    /// The Redis Cluster command connection, when the bus runs on a cluster.
    cluster: Option<redis::cluster_async::ClusterConnection>,
}

/// What exists before the app: the stop signals, the task tracker and the counters that
/// background tasks (the Redis bus) are started with.
struct Startup {
    shutdown: CancellationToken,
    workers: CancellationToken,
    tracker: TaskTracker,
    counters: Arc<Counters>,
    /// Where the shared limits keep their counts: the bus's Redis or cluster.
    shared_redis: Option<crate::limits::SharedRedis>,
}

impl Startup {
    fn new() -> Self {
        Self {
            shutdown: CancellationToken::new(),
            workers: CancellationToken::new(),
            tracker: TaskTracker::new(),
            counters: Arc::default(),
            shared_redis: None,
        }
    }
}

impl App {
    /// Connects to the configured database (migrating it) and bus: Redis when `REDIS_URL`
    /// is set, a Redis Cluster when `REDIS_CLUSTER_NODES` is, in-process otherwise.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = crate::db::connect(&config.db).await.context("connecting to the database")?;
        Self::build_on(config, db, Arc::new(SystemClock)).await
    }

    /// Like `build`, over an open database and a given clock: what tests use to share a
    /// database between replicas or move time.
    pub async fn build_on(config: Config, db: DatabaseConnection, clock: SharedClock) -> anyhow::Result<Self> {
        let mut startup = Startup::new();
        let mut cluster = None;
        let choice = config.bus.choice().map_err(|both| anyhow::anyhow!(both))?;
        let (bus, outbox): (SharedBus, bool) = match choice {
            BusChoice::Cluster(settings) => {
                let nodes = settings.nodes.clone();
                let bus = ClusterBus::start(
                    settings,
                    db.clone(),
                    startup.counters.clone(),
                    startup.workers.clone(),
                    &startup.tracker,
                )
                .await
                .context("opening the Redis Cluster bus (REDIS_CLUSTER_NODES)")?;
                cluster = Some(bus.connection());
                startup.shared_redis = Some(
                    crate::limits::SharedRedis::cluster(bus.connection(), &nodes)
                        .context("opening the shared limits on the cluster")?,
                );
                (Arc::new(bus), true)
            }
            BusChoice::Redis(settings) => {
                let url = settings.url.clone();
                let bus = RedisBus::start(
                    settings,
                    db.clone(),
                    startup.counters.clone(),
                    startup.workers.clone(),
                    &startup.tracker,
                )
                .context("opening the Redis bus")?;
                startup.shared_redis =
                    Some(crate::limits::SharedRedis::open(&url).context("opening the shared limits on Redis")?);
                (Arc::new(bus), true)
            }
            BusChoice::Memory => {
                (Arc::new(MemoryBus::counted(config.bus.bus_capacity, startup.counters.clone())), false)
            }
        };
        let mut app = Self::assemble(config, db, bus, clock, outbox, startup).await?;
        app.cluster = cluster;
        Ok(app)
    }

    /// Builds over given parts with an in-process `bus`: tests use it to share a bus.
    pub async fn build_with(
        config: Config,
        db: DatabaseConnection,
        bus: SharedBus,
        clock: SharedClock,
    ) -> anyhow::Result<Self> {
        Self::assemble(config, db, bus, clock, false, Startup::new()).await
    }

    async fn assemble(
        config: Config,
        db: DatabaseConnection,
        bus: SharedBus,
        clock: SharedClock,
        outbox: bool,
        startup: Startup,
    ) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(&config.listen_addr).await.with_context(|| format!("binding {}", config.listen_addr))?;
        let grpc = match &config.grpc_listen_addr {
            Some(addr) => {
                Some(TcpListener::bind(addr).await.with_context(|| format!("binding GRPC_LISTEN_ADDR {addr}"))?)
            }
            None => None,
        };
        let services = AppServices::build(Parts {
            db,
            bus,
            clock,
            counters: startup.counters,
            identity: config.identity.settings().map_err(|bad| anyhow::anyhow!("bad identity setting: {bad}"))?,
            outbox,
            limits: crate::limits::LimitSettings {
                rate_per_sec: config.rate_limit_per_sec,
                rate_burst: config.rate_limit_burst,
                redis: startup.shared_redis.map(|redis| (redis, config.bus.redis_prefix.clone())),
            },
            reminder_lead: config.reminder_lead,
            admin_key: config.admin_key.clone(),
            metering: (*config.metering).clone(),
        })?;
        // Malformed bridge settings stop the start here, naming the setting; a broker that
        // cannot be reached is the bridge's own business later (logged, retried).
        let bridges =
            crate::bridges::Configured::build(&config.bridges, &services.domain, &services.usage, &services.audit)
                .map_err(|bad| anyhow::anyhow!("bad bridge setting {bad}"))?;
        let commands = crate::inbox::Consumers::plan(
            &config.commands,
            config.bridges.nats_url.as_deref(),
            config.bridges.amqp_url.as_deref(),
            &config.bridges.kafka,
        )
        .map_err(|bad| anyhow::anyhow!("bad command setting {bad}"))?;
        let schema = graphql::build(
            &services.domain,
            &services.usage,
            &services.audit,
            &config,
            bridges.bridges.clone(),
            commands.statuses(),
        );
        let http_metrics = Arc::new(HttpMetrics::default());
        let mut registry = crate::metrics::registry(&services.domain.counters, &http_metrics, &bridges.bridges.metrics);
        commands.metrics.register(&mut registry);
        if let Some(series) = services.usage.per_practice() {
            series.register(&mut registry);
        }
        let registry = Arc::new(registry);
        let hubs = crate::hub::Hubs::new(
            schema.clone(),
            services.domain.clone(),
            services.usage.clone(),
            services.audit.clone(),
            startup.workers.clone(),
            startup.tracker.clone(),
            LiveThrottle {
                default: Duration::from_millis(config.live_throttle_ms),
                max: Duration::from_millis(config.live_throttle_max_ms),
            },
        );
        let persisted = crate::persisted::PersistedQueries::new(
            crate::persisted::DocumentStore::new(services.domain.db.clone(), config.clients.persisted_queries_max),
            services.domain.clock.clone(),
            config.clients.persisted_queries_only,
        );
        let bounds = crate::graphql::Bounds::of(&config);
        let state = AppState {
            services,
            schema,
            config: Arc::new(config),
            shutdown: startup.shutdown,
            workers: startup.workers,
            tracker: startup.tracker,
            http_metrics,
            registry,
            renders: Arc::default(),
            hubs,
            persisted,
            bounds,
        };
        Ok(Self { listener, grpc, state, bridges, commands, cluster: None })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// Where the gRPC door listens, when `GRPC_LISTEN_ADDR` is set.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc.as_ref().and_then(|listener| listener.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The Redis Cluster command connection (cloneable; routes by key, follows MOVED) when
    /// `REDIS_CLUSTER_NODES` is set: for cluster-wide state beside the bus.
    pub fn redis_cluster(&self) -> Option<redis::cluster_async::ClusterConnection> {
        self.cluster.clone()
    }

    /// Serves until `stop` completes, then drains within `SHUTDOWN_DEADLINE_SECS`:
    /// readiness fails and the listener closes; in-flight requests (mutations) finish;
    /// websockets close with 1001 and streams end, so clients resume on another replica;
    /// then workers stop (the publisher sends what it holds first) and the process is done.
    pub async fn run_until(self, stop: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let Self { listener, grpc, state, bridges, commands, .. } = self;
        let (drain, workers, tracker) = (state.shutdown.clone(), state.workers.clone(), state.tracker.clone());
        let deadline = Duration::from_secs(state.config.shutdown_deadline_secs);
        tracing::info!(addr = %listener.local_addr()?, "clinicstream listening");
        crate::domain::spawn_scheduler(state.services.domain.clone(), workers.clone(), &tracker);
        let services = &state.services.domain;
        tracker.spawn(services.sessions.clone().sweep(services.db.clone(), services.clock.clone(), workers.clone()));
        let (sessions, keys, limits) = (services.sessions.clone(), services.keys.clone(), services.limits.clone());
        let identity = services.identity.clone();
        services.limits.start(
            move |control| match control {
                crate::limits::Control::Revoked(key_id) => {
                    keys.forget(&key_id);
                    sessions.close_key(&key_id, "API key revoked");
                }
                crate::limits::Control::QuotaChanged(practice_id) => limits.forget_quota(&practice_id),
                crate::limits::Control::LoggedOut { session_id, subject, at } => {
                    let logout = crate::identity::LoggedOut { session_id, subject, at };
                    if let Some(identity) = &identity {
                        identity.logouts.record(&logout);
                    }
                    sessions.close_person(logout.subject.as_deref(), logout.session_id.as_deref());
                }
            },
            &workers,
            &tracker,
        );
        tracker.spawn(crate::retention::run(services.clone(), (*state.config.retention).clone(), workers.clone()));
        let (usage, audit) = (&state.services.usage, &state.services.audit);
        crate::webhooks::start(&state.config.webhooks, services, usage, audit, &workers, &tracker);
        // Usage counts and audit rows: flushed every USAGE_FLUSH_MS and once more on the way out.
        let every = Duration::from_millis(state.config.metering.usage_flush_ms);
        let usage = crate::usage::UsageStore::new(services.db.clone(), usage.clone());
        crate::flusher::spawn(Arc::new(usage), every, workers.clone(), &tracker);
        let audit = crate::audit::AuditStore::new(services.db.clone(), audit.clone());
        crate::flusher::spawn(Arc::new(audit), every, workers.clone(), &tracker);
        bridges.start(&state.config.bridges, &workers, &tracker);
        if commands.any() {
            let door = Arc::new(crate::http::CommandDoor::new(state.clone()));
            let inbox = crate::inbox::Inbox::new(
                state.services.domain.clone(),
                door,
                state.config.max_body_bytes,
                commands.metrics.clone(),
            );
            commands.start(Arc::new(inbox), &workers, &tracker);
        }
        // The gRPC door stops taking streams when the app drains; its open streams end then.
        if let Some(grpc) = grpc {
            let served = crate::grpc::serve(grpc, state.clone());
            tracker.spawn(async move {
                if let Err(err) = served.await {
                    tracing::error!(error = %err, "the gRPC listener failed");
                }
            });
        }
        let router = crate::http::router(state);
        let graceful = {
            let drain = drain.clone();
            async move {
                tokio::select! {
                    _ = stop => {},
                    _ = drain.cancelled() => {},
                }
                tracing::info!("draining");
                drain.cancel();
            }
        };
        // Events are small frames written one at a time: Nagle's algorithm would hold each
        // one back until the previous one is acknowledged (tens of ms with delayed ACKs).
        let listener = listener.tap_io(|tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::warn!(error = %err, "could not set TCP_NODELAY");
            }
        });
        let serve = axum::serve(listener, router).with_graceful_shutdown(graceful).into_future();
        tokio::pin!(serve);
        let started = tokio::select! {
            result = &mut serve => {
                result?;
                Instant::now()
            }
            _ = drain.cancelled() => {
                let started = Instant::now();
                match tokio::time::timeout(deadline, &mut serve).await {
                    Ok(result) => result?,
                    Err(_) => tracing::warn!("in-flight requests did not finish within the shutdown deadline"),
                }
                started
            }
        };
        workers.cancel();
        tracker.close();
        let left = deadline.saturating_sub(started.elapsed()).max(Duration::from_millis(100));
        if tokio::time::timeout(left, tracker.wait()).await.is_err() {
            tracing::warn!("some connections or workers did not stop within the shutdown deadline");
        }
        tracing::info!("stopped");
        Ok(())
    }

    /// Serves until Ctrl-C or SIGTERM.
    pub async fn run(self) -> anyhow::Result<()> {
        self.run_until(crate::shutdown::signal()).await
    }
}
