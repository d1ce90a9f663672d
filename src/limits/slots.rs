//! Counted slots held while something is open (a connection, a subscription), counted
//! across replicas. With Redis, a slot is a member of a sorted set whose score is when
//! it lapses; its replica extends the lease of the slots it holds every few seconds, so a
//! crashed replica's slots lapse within `LEASE` and are taken back by the next taker.
//! Without Redis (one replica), they are counted here.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use super::redis::{COUNT_SLOTS, REFRESH_SLOTS, SharedRedis, TAKE_SLOT};

/// How long a replica's slot outlives its last refresh.
pub const LEASE: Duration = Duration::from_secs(9);

/// What is counted: per API key or per practice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Open websocket connections of an API key (`MAX_CONNECTIONS_PER_KEY`).
    KeyConnections(String),
    /// Open connections (websocket, SSE, multipart) of a practice (its quota).
    PracticeConnections(String),
    /// Active subscriptions of a practice (its quota).
    PracticeSubscriptions(String),
}

impl Scope {
    fn key(&self, prefix: &str) -> String {
        match self {
            Self::KeyConnections(id) => format!("{prefix}:conn:{{{id}}}"),
            Self::PracticeConnections(id) => format!("{prefix}:quota:{{{id}}}:connections"),
            Self::PracticeSubscriptions(id) => format!("{prefix}:quota:{{{id}}}:subscriptions"),
        }
    }
}

pub struct Slots {
    redis: Option<SharedRedis>,
    prefix: String,
    replica: String,
    lease: Duration,
    next: AtomicU64,
    /// This replica's slots: by set key (one allocation its slots share), the numbers of
    /// the members it holds. Every connection and subscription holds a slot or two, so a
    /// slot is a number here, named (`replica:n`) only when Redis is told.
    held: Mutex<HashMap<Arc<str>, HashSet<u64>>>,
}

/// One slot, given back when dropped.
pub struct Slot {
    slots: Arc<Slots>,
    key: Arc<str>,
    member: u64,
}

impl Drop for Slot {
    fn drop(&mut self) {
        {
            let mut held = self.slots.held.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(members) = held.get_mut(&*self.key) {
                members.remove(&self.member);
                if members.is_empty() {
                    held.remove(&*self.key);
                }
            }
        }
        if let (Some(redis), Ok(runtime)) = (self.slots.redis.clone(), tokio::runtime::Handle::try_current()) {
            let (key, member) = (self.key.clone(), self.slots.member(self.member));
            runtime.spawn(async move {
                let _: redis::RedisResult<i64> = redis.query(redis::cmd("ZREM").arg(&*key).arg(&member)).await;
            });
        }
    }
}

impl Slots {
    pub fn new(redis: Option<SharedRedis>, prefix: &str, replica: &str) -> Arc<Self> {
        Self::leased(redis, prefix, replica, LEASE)
    }

    /// With another lease (tests shorten it to see a crashed replica's slots lapse).
    pub fn leased(redis: Option<SharedRedis>, prefix: &str, replica: &str, lease: Duration) -> Arc<Self> {
        Arc::new(Self {
            redis,
            prefix: prefix.to_string(),
            replica: replica.to_string(),
            lease,
            next: AtomicU64::new(0),
            held: Mutex::default(),
        })
    }

    /// A member's name in Redis: unique across replicas.
    fn member(&self, n: u64) -> String {
        format!("{}:{n}", self.replica)
    }

    fn local_count(&self, key: &str) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).get(key).map_or(0, HashSet::len)
    }

    /// Takes a slot of `scope` unless `max` are taken (None: unlimited, only counted).
    /// Err carries how many are taken. When Redis does not answer, this replica's count
    /// decides (the limit then holds per replica until it is back).
    pub async fn take(self: &Arc<Self>, scope: &Scope, max: Option<usize>) -> Result<Slot, usize> {
        let key = scope.key(&self.prefix);
        let member = self.next.fetch_add(1, Ordering::Relaxed);
        let shared = match &self.redis {
            Some(redis) => {
                let max = max.map_or(-1, |m| m as i64);
                let args = [self.member(member), max.to_string(), (self.lease.as_millis() as u64).to_string()];
                match redis.eval::<i64>(TAKE_SLOT, &[&key], &args).await {
                    Ok(taken) if taken < 0 => return Err((-taken) as usize),
                    Ok(_) => true,
                    Err(err) => {
                        tracing::warn!(error = %err, "redis slot count failed; counting on this replica");
                        false
                    }
                }
            }
            None => false,
        };
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let key: Arc<str> = match held.get_key_value(key.as_str()) {
            Some((shared_key, _)) => shared_key.clone(),
            None => key.into(),
        };
        let members = held.entry(key.clone()).or_default();
        if !shared
            && let Some(max) = max
            && members.len() >= max
        {
            let taken = members.len();
            if taken == 0 {
                held.remove(&key);
            }
            return Err(taken);
        }
        members.insert(member);
        Ok(Slot { slots: self.clone(), key, member })
    }

    /// How many slots of `scope` are taken (on every replica, with Redis).
    pub async fn count(&self, scope: &Scope) -> usize {
        let key = scope.key(&self.prefix);
        if let Some(redis) = &self.redis
            && let Ok(count) = redis.eval::<i64>(COUNT_SLOTS, &[&key], &[]).await
        {
            return count.max(0) as usize;
        }
        self.local_count(&key)
    }

    /// Extends the lease of this replica's slots until `stop`.
    pub async fn refresh(self: Arc<Self>, stop: CancellationToken) {
        let Some(redis) = self.redis.clone() else { return };
        let mut tick = tokio::time::interval(self.lease / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let held: Vec<(Arc<str>, Vec<u64>)> = {
                let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
                held.iter().map(|(k, m)| (k.clone(), m.iter().copied().collect())).collect()
            };
            for (key, members) in held {
                let mut args = vec![(self.lease.as_millis() as u64).to_string()];
                args.extend(members.into_iter().map(|n| self.member(n)));
                if let Err(err) = redis.eval::<i64>(REFRESH_SLOTS, &[&*key], &args).await {
                    tracing::warn!(error = %err, "refreshing slot leases failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(slots: &Slots) -> usize {
        slots.held.lock().unwrap().len()
    }

    #[tokio::test]
    async fn slots_of_one_scope_share_their_key_and_are_counted_until_dropped() {
        let slots = Slots::new(None, "t", "replica-a");
        let scope = Scope::PracticeSubscriptions("prc_1".into());
        let first = slots.take(&scope, Some(2)).await.unwrap();
        let second = slots.take(&scope, Some(2)).await.unwrap();
        assert!(Arc::ptr_eq(&first.key, &second.key), "one allocation of the key per scope");
        assert_ne!(first.member, second.member);
        assert_eq!(slots.take(&scope, Some(2)).await.err(), Some(2), "the third is refused");
        assert_eq!(slots.count(&scope).await, 2);
        drop(first);
        assert_eq!(slots.count(&scope).await, 1);
        let third = slots.take(&scope, Some(2)).await.unwrap();
        drop((second, third));
        assert_eq!(slots.count(&scope).await, 0);
        assert_eq!(keys(&slots), 0, "a scope nobody holds is forgotten");
    }

    #[tokio::test]
    async fn a_refusal_at_zero_leaves_nothing_behind() {
        let slots = Slots::new(None, "t", "replica-a");
        let scope = Scope::KeyConnections("key_1".into());
        assert_eq!(slots.take(&scope, Some(0)).await.err(), Some(0));
        assert_eq!(keys(&slots), 0);
        let other = Scope::PracticeConnections("prc_1".into());
        let held = slots.take(&other, None).await.unwrap();
        assert_eq!(slots.member(held.member), format!("replica-a:{}", held.member));
        assert_eq!(slots.count(&scope).await, 0);
        assert_eq!(slots.count(&other).await, 1);
    }
}
