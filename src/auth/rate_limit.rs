//! Per-key rate limiting: a token bucket per API key (`RATE_LIMIT_PER_SEC` refill,
//! `RATE_LIMIT_BURST` capacity), spent by every HTTP GraphQL request and every operation
//! started on a websocket. Per replica: behind a load balancer a key gets at most the
//! limit times the number of replicas.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

pub struct RateLimiter {
    per_sec: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_sec: u32, burst: u32) -> Self {
        Self { per_sec: f64::from(per_sec.max(1)), burst: f64::from(burst.max(1)), buckets: Mutex::default() }
    }

    /// Takes a token for `key`; false when its bucket is empty (the request is refused).
    pub fn allow(&self, key: &str) -> bool {
        self.allow_at(key, Instant::now())
    }

    /// `allow`, as of `now`.
    fn allow_at(&self, key: &str, now: Instant) -> bool {
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, last) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.per_sec).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_allowed_then_refused_then_refilled() {
        // Explicit instants: a test thread descheduled for a millisecond would otherwise
        // see a token come back before it asks for the fourth.
        let limiter = RateLimiter::new(1000, 3);
        let start = Instant::now();
        assert!((0..3).all(|_| limiter.allow_at("k", start)));
        assert!(!limiter.allow_at("k", start), "the bucket is empty");
        assert!(limiter.allow_at("other", start), "buckets are per key");
        assert!(!limiter.allow_at("k", start + Duration::from_micros(500)), "half a token is not one");
        assert!(limiter.allow_at("k", start + Duration::from_millis(5)), "tokens come back at the refill rate");
    }
}
