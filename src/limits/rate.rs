//! The per-key rate limit: a token bucket per API key (`RATE_LIMIT_PER_SEC` refill,
//! `RATE_LIMIT_BURST` capacity). With Redis, one bucket per key for all replicas (a Lua
//! script on Redis's clock); without, or while Redis does not answer, per replica.

use std::time::Duration;

use super::Limits;
use super::redis::TOKEN_BUCKET;

/// A refused request: when to try again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
}

impl Limits {
    /// Takes a token of `key`'s rate.
    pub async fn allow(&self, key: &str) -> Result<(), Refused> {
        if let Some(redis) = &self.redis {
            let bucket = format!("{}:rl:{{{key}}}", self.prefix);
            let args = [self.rate_per_sec.to_string(), self.rate_burst.to_string()];
            match redis.eval::<i64>(TOKEN_BUCKET, &[&bucket], &args).await {
                Ok(1) => return Ok(()),
                Ok(wait) => return Err(Refused { retry_after: Duration::from_millis(wait.unsigned_abs()) }),
                Err(err) => tracing::warn!(error = %err, "redis rate limit failed; limiting on this replica"),
            }
        }
        if self.local_rate.allow(key) { Ok(()) } else { Err(Refused { retry_after: Duration::from_secs(1) }) }
    }
}
