//! Quotas per practice, set by a global ADMIN (`setPracticeQuota`), stored in the
//! database and read through a cache that each replica keeps for at most a second (a
//! change reaches every replica at once through the control channel when there is Redis,
//! within a second otherwise). Enforced from shared counts: connections and subscriptions
//! as leased slots, mutations per minute as a per-minute counter, webhook endpoints from
//! the database. A refusal is `QUOTA_EXCEEDED` with `quota`, `limit` and `retryAfter`.

mod store;

use chrono::Timelike;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::redis::WINDOW_ADD;
use super::{Limits, Scope, Slot};
use crate::error::{AppError, AppResult};

/// A practice's quotas; None is unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    pub max_connections: Option<i64>,
    pub max_subscriptions: Option<i64>,
    pub max_mutations_per_minute: Option<i64>,
    pub max_deliveries_per_day: Option<i64>,
    pub max_webhook_endpoints: Option<i64>,
}

/// What a practice uses now, across replicas.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaUse {
    pub connections: i64,
    pub subscriptions: i64,
    pub mutations_last_minute: i64,
    pub deliveries_today: i64,
    pub webhook_endpoints: i64,
}

/// Gives ARGV[1] back, if the counter is still there (it expires with its day).
const REFUND: &str =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECRBY', KEYS[1], ARGV[1]) end return 0";

/// How long a replica trusts the quota it read.
const CACHE_FOR: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct Quotas {
    /// Each practice's quota and when it was read (None: changed since, read it again).
    cache: Mutex<HashMap<String, (Option<Instant>, Quota)>>,
    /// One database read of a practice's quota at a time, and when the last one ended.
    reads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<Instant>>>>>,
    /// Mutations per (practice, minute), without Redis.
    minutes: Mutex<HashMap<String, (i64, i64)>>,
    /// Deliveries per (practice, UTC day), without Redis.
    days: Mutex<HashMap<String, (i64, i64)>>,
}

impl Quotas {
    /// The cached quota and whether it is still to be trusted.
    fn cached(&self, practice_id: &str) -> Option<(bool, Quota)> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(practice_id).map(|(at, quota)| (at.is_some_and(|at| at.elapsed() < CACHE_FOR), *quota))
    }

    fn reads(&self, practice_id: &str) -> Arc<tokio::sync::Mutex<Option<Instant>>> {
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        reads.entry(practice_id.to_string()).or_default().clone()
    }

    /// Marks a practice's quota as changed: the next read goes to the database, and
    /// `quota_now` answers the old one until that read is back.
    pub(super) fn forget(&self, practice_id: &str) {
        if let Some(entry) = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get_mut(practice_id) {
            entry.0 = None;
        }
    }
}

fn exceeded(quota: &'static str, limit: i64, retry_after: u64) -> AppError {
    AppError::QuotaExceeded { quota, limit, retry_after }
}

fn limit(max: Option<i64>) -> Option<usize> {
    max.map(|m| m.max(0) as usize)
}

impl Limits {
    /// `practice_id`'s quota, as this replica last read it (at most a second ago).
    ///
    /// One caller at a time reads it from the database; the others wait for that read. A
    /// storm of 27,000 subscriptions that found the cache stale sent 19,636 reads of one
    /// quota, each holding a pooled connection's query in memory, and starved the pool.
    pub async fn quota(&self, practice_id: &str) -> Quota {
        if let Some((true, quota)) = self.quotas.cached(practice_id) {
            return quota;
        }
        let asked = Instant::now();
        let reads = self.quotas.reads(practice_id);
        let mut last_read = reads.lock().await;
        let cached = self.quotas.cached(practice_id);
        match cached {
            Some((true, quota)) => return quota,
            // A read ended while this caller waited, and failed: no second try for it
            // (thousands waiting would each wait out a database that does not answer).
            _ if last_read.is_some_and(|ended| ended >= asked) => return cached.map(|(_, q)| q).unwrap_or_default(),
            _ => {}
        }
        let read = self.reread(practice_id).await;
        *last_read = Some(Instant::now());
        read.unwrap_or_else(|| cached.map(|(_, q)| q).unwrap_or_default())
    }

    /// `practice_id`'s quota without waiting for the database: what this replica last
    /// read, reread in the background when it is older than a second. For the
    /// subscription hubs, which ask on every event and must not hold their task on the
    /// connection pool (their own log reads may hold its connections). None: never read.
    pub fn quota_now(self: &Arc<Self>, practice_id: &str) -> Option<Quota> {
        let mut cache = self.quotas.cache.lock().unwrap_or_else(|e| e.into_inner());
        let (at, quota) = cache.get_mut(practice_id)?;
        if at.is_none_or(|at| at.elapsed() >= CACHE_FOR) {
            // Only one reread at a time: the next is due a second from now.
            *at = Some(Instant::now());
            let (limits, practice_id) = (self.clone(), practice_id.to_string());
            tokio::spawn(async move { limits.reread(&practice_id).await });
        }
        Some(*quota)
    }

    /// Reads the quota from the database into the cache; None (and a warning) when the
    /// database does not answer: a hiccup refuses nobody.
    async fn reread(&self, practice_id: &str) -> Option<Quota> {
        let quota = match store::read(&self.db, practice_id).await {
            Ok(quota) => quota,
            Err(err) => {
                tracing::warn!(error = %err, "reading a practice's quota failed");
                return None;
            }
        };
        self.quotas
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(practice_id.to_string(), (Some(Instant::now()), quota));
        Some(quota)
    }

    /// Forgets the cached quota of a practice (it changed).
    pub fn forget_quota(&self, practice_id: &str) {
        self.quotas.forget(practice_id);
    }

    /// The minute of the clock, and the seconds left in it.
    fn minute(&self) -> (i64, u64) {
        let now = self.clock.now();
        (now.timestamp() / 60, u64::from(60 - now.second()))
    }

    fn minute_key(&self, practice_id: &str, minute: i64) -> String {
        format!("{}:quota:{{{practice_id}}}:mutations:{minute}", self.prefix)
    }

    /// Spends one of the practice's mutations of this minute (`maxMutationsPerMinute`).
    pub async fn spend_mutation(&self, practice_id: &str) -> AppResult<()> {
        let max = self.quota(practice_id).await.max_mutations_per_minute;
        let (minute, left) = self.minute();
        if let Some(redis) = &self.redis {
            let key = self.minute_key(practice_id, minute);
            let args = ["1".to_string(), max.unwrap_or(-1).to_string(), "120000".to_string()];
            match redis.eval::<i64>(WINDOW_ADD, &[&key], &args).await {
                Ok(count) if count < 0 => return Err(exceeded("maxMutationsPerMinute", max.unwrap_or(0), left)),
                Ok(_) => return Ok(()),
                Err(err) => tracing::warn!(error = %err, "redis mutation quota failed; counting on this replica"),
            }
        }
        let mut minutes = self.quotas.minutes.lock().unwrap_or_else(|e| e.into_inner());
        let entry = minutes.entry(practice_id.to_string()).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        if let Some(max) = max
            && entry.1 >= max
        {
            return Err(exceeded("maxMutationsPerMinute", max, left));
        }
        entry.1 += 1;
        Ok(())
    }

    /// The UTC day of the clock, and the seconds left in it.
    fn day(&self) -> (i64, u64) {
        let now = self.clock.now().timestamp();
        (now.div_euclid(86_400), (86_400 - now.rem_euclid(86_400)) as u64)
    }

    fn day_key(&self, practice_id: &str, day: i64) -> String {
        format!("{}:quota:{{{practice_id}}}:deliveries:{day}", self.prefix)
    }

    /// Reserves one of the practice's deliveries of today (`maxDeliveriesPerDay`); a
    /// delivery that then fails gives it back (`refund_delivery`). Err: hold it back.
    pub async fn reserve_delivery(&self, practice_id: &str) -> AppResult<()> {
        self.reserve_deliveries(practice_id, 1).await
    }

    /// The UTC day deliveries are counted in now (a reservation is good for its day only).
    pub fn delivery_day(&self) -> i64 {
        self.day().0
    }

    /// Reserves `amount` of the practice's deliveries of today at once, or none if that
    /// would pass `maxDeliveriesPerDay` (the subscription hubs reserve in chunks).
    pub async fn reserve_deliveries(&self, practice_id: &str, amount: i64) -> AppResult<()> {
        let max = self.quota(practice_id).await.max_deliveries_per_day;
        self.reserve_deliveries_under(practice_id, amount, max).await
    }

    /// `reserve_deliveries` against a limit the caller already knows (`quota_now`).
    pub async fn reserve_deliveries_under(&self, practice_id: &str, amount: i64, max: Option<i64>) -> AppResult<()> {
        let (day, left) = self.day();
        if let Some(redis) = &self.redis {
            let key = self.day_key(practice_id, day);
            let args = [amount.to_string(), max.unwrap_or(-1).to_string(), (2 * 86_400_000_i64).to_string()];
            match redis.eval::<i64>(WINDOW_ADD, &[&key], &args).await {
                Ok(count) if count < 0 => return Err(exceeded("maxDeliveriesPerDay", max.unwrap_or(0), left)),
                Ok(_) => return Ok(()),
                Err(err) => tracing::warn!(error = %err, "redis delivery quota failed; counting on this replica"),
            }
        }
        let mut days = self.quotas.days.lock().unwrap_or_else(|e| e.into_inner());
        let entry = days.entry(practice_id.to_string()).or_insert((day, 0));
        if entry.0 != day {
            *entry = (day, 0);
        }
        if let Some(max) = max
            && entry.1 + amount > max
        {
            return Err(exceeded("maxDeliveriesPerDay", max, left));
        }
        entry.1 += amount;
        Ok(())
    }

    /// Gives back a reserved delivery that did not happen.
    pub async fn refund_delivery(&self, practice_id: &str) {
        self.refund_deliveries(practice_id, 1).await;
    }

    /// Gives back `amount` reserved deliveries of today that will not happen.
    pub async fn refund_deliveries(&self, practice_id: &str, amount: i64) {
        if amount <= 0 {
            return;
        }
        let (day, _) = self.day();
        if let Some(redis) = &self.redis
            && redis.eval::<i64>(REFUND, &[&self.day_key(practice_id, day)], &[amount.to_string()]).await.is_ok()
        {
            return;
        }
        let mut days = self.quotas.days.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = days.get_mut(practice_id).filter(|(d, _)| *d == day) {
            entry.1 = (entry.1 - amount).max(0);
        }
    }

    async fn deliveries_today(&self, practice_id: &str) -> i64 {
        let (day, _) = self.day();
        if let Some(redis) = &self.redis
            && let Ok(count) = redis.query::<Option<i64>>(redis::cmd("GET").arg(self.day_key(practice_id, day))).await
        {
            return count.unwrap_or(0).max(0);
        }
        let days = self.quotas.days.lock().unwrap_or_else(|e| e.into_inner());
        days.get(practice_id).filter(|(d, _)| *d == day).map_or(0, |(_, n)| *n)
    }

    async fn mutations_this_minute(&self, practice_id: &str) -> i64 {
        let (minute, _) = self.minute();
        if let Some(redis) = &self.redis
            && let Ok(count) =
                redis.query::<Option<i64>>(redis::cmd("GET").arg(self.minute_key(practice_id, minute))).await
        {
            return count.unwrap_or(0);
        }
        let minutes = self.quotas.minutes.lock().unwrap_or_else(|e| e.into_inner());
        minutes.get(practice_id).filter(|(m, _)| *m == minute).map_or(0, |(_, n)| *n)
    }

    /// A connection of the practice (`maxConnections`), held until the slot is dropped.
    pub async fn connect(&self, practice_id: &str) -> AppResult<Slot> {
        let max = self.quota(practice_id).await.max_connections;
        let scope = Scope::PracticeConnections(practice_id.to_string());
        self.slots.take(&scope, limit(max)).await.map_err(|_| exceeded("maxConnections", max.unwrap_or(0), 1))
    }

    /// A subscription of the practice (`maxSubscriptions`), held until the slot is dropped.
    pub async fn subscribe(&self, practice_id: &str) -> AppResult<Slot> {
        let max = self.quota(practice_id).await.max_subscriptions;
        let scope = Scope::PracticeSubscriptions(practice_id.to_string());
        self.slots.take(&scope, limit(max)).await.map_err(|_| exceeded("maxSubscriptions", max.unwrap_or(0), 1))
    }

    /// Whether one more webhook endpoint fits next to the practice's `existing` ones, under
    /// `quota` (read by the caller before it opened its transaction: reading it here,
    /// through the pool, would wait on SQLite's one connection that the caller holds).
    pub fn check_webhook_endpoints(quota: &Quota, existing: u64) -> AppResult<()> {
        match quota.max_webhook_endpoints {
            Some(max) if existing as i64 >= max => Err(exceeded("maxWebhookEndpoints", max, 0)),
            _ => Ok(()),
        }
    }

    /// What the practice uses now (deliveries: reserved today, UTC, by every door).
    pub async fn quota_use(&self, practice_id: &str) -> AppResult<QuotaUse> {
        let p = practice_id.to_string();
        Ok(QuotaUse {
            connections: self.slots.count(&Scope::PracticeConnections(p.clone())).await as i64,
            subscriptions: self.slots.count(&Scope::PracticeSubscriptions(p)).await as i64,
            mutations_last_minute: self.mutations_this_minute(practice_id).await,
            deliveries_today: self.deliveries_today(practice_id).await,
            webhook_endpoints: store::webhook_endpoints(&self.db, practice_id).await? as i64,
        })
    }

    /// Stores a practice's quota (validated by `domain::quotas`) and tells every replica.
    pub async fn set_quota(&self, practice_id: &str, quota: Quota, now_ms: i64) -> AppResult<Quota> {
        let quota = store::write(&self.db, practice_id, quota, now_ms).await?;
        self.forget_quota(practice_id);
        self.broadcast(super::Control::QuotaChanged(practice_id.to_string())).await;
        Ok(quota)
    }
}
