//! Limits that hold across replicas: the per-key rate limit, the per-key connection cap,
//! key revocation reaching every replica, and the practices' quotas. With Redis
//! (`REDIS_URL`, or a cluster: `REDIS_CLUSTER_NODES`) the counts live there, each under a key hash-tagged on what it counts;
//! without Redis there is one replica and they live here, in memory.

mod control;
pub mod quota;
mod rate;
mod redis;
mod slots;

pub use control::Control;
pub use rate::Refused;
pub use redis::SharedRedis;
pub use slots::{LEASE, Scope, Slot, Slots};

use sea_orm::DatabaseConnection;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::RateLimiter;
use crate::clock::SharedClock;

/// The settings of the shared limits.
pub struct LimitSettings {
    pub rate_per_sec: u32,
    pub rate_burst: u32,
    /// The Redis (one, or a cluster's connection) and key prefix, when the limits are shared.
    pub redis: Option<(SharedRedis, String)>,
}

pub struct Limits {
    redis: Option<SharedRedis>,
    prefix: String,
    rate_per_sec: u32,
    rate_burst: u32,
    local_rate: RateLimiter,
    /// Connections and subscriptions, counted.
    pub slots: Arc<Slots>,
    db: DatabaseConnection,
    clock: SharedClock,
    quotas: quota::Quotas,
}

impl Limits {
    pub fn new(settings: LimitSettings, db: DatabaseConnection, clock: SharedClock) -> ::redis::RedisResult<Self> {
        let (redis, prefix) = match settings.redis {
            Some((redis, prefix)) => (Some(redis), prefix),
            None => (None, String::new()),
        };
        let replica = uuid::Uuid::now_v7().simple().to_string();
        Ok(Self {
            slots: Slots::new(redis.clone(), &prefix, &replica),
            redis,
            prefix,
            rate_per_sec: settings.rate_per_sec.max(1),
            rate_burst: settings.rate_burst.max(1),
            local_rate: RateLimiter::new(settings.rate_per_sec, settings.rate_burst),
            db,
            clock,
            quotas: quota::Quotas::default(),
        })
    }

    /// In memory only: one replica.
    pub fn local(rate_per_sec: u32, rate_burst: u32, db: DatabaseConnection, clock: SharedClock) -> Self {
        Self::new(LimitSettings { rate_per_sec, rate_burst, redis: None }, db, clock).expect("no Redis to open")
    }

    /// Whether the counts are shared by replicas.
    pub fn shared(&self) -> bool {
        self.redis.is_some()
    }

    pub fn redis(&self) -> Option<&SharedRedis> {
        self.redis.as_ref()
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Tells every replica (this one too) about `control`; false when it could not be
    /// published (the sweep and the cache expiry then cover it within a second).
    pub async fn broadcast(&self, control: Control) -> bool {
        let Some(redis) = &self.redis else { return false };
        let mut cmd = ::redis::cmd("PUBLISH");
        cmd.arg(control::channel(&self.prefix)).arg(control.encode());
        match redis.query::<i64>(&cmd).await {
            Ok(_) => true,
            Err(err) => {
                tracing::warn!(error = %err, "publishing on the control channel failed");
                false
            }
        }
    }

    /// Starts the control listener and the slot leases' refresher (with Redis).
    pub fn start(
        &self,
        handler: impl Fn(Control) + Send + Sync + 'static,
        stop: &CancellationToken,
        tracker: &TaskTracker,
    ) {
        let Some(redis) = self.redis.clone() else { return };
        tracker.spawn(control::listen(redis, self.prefix.clone(), Arc::new(handler), stop.clone()));
        tracker.spawn(self.slots.clone().refresh(stop.clone()));
    }
}
