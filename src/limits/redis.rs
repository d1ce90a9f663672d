//! The handle the shared limits talk to Redis through, and the few scripts they run.
//! Every key is hash-tagged on the one thing it counts (`{prefix}:rl:{<key id>}`), so each
//! command and script touches one slot and runs unchanged on a Redis Cluster, where the
//! cluster connection routes each by its key (classic pub/sub is cluster-wide there).

use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, RedisResult};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A connection to the shared Redis. After a failed command it answers "unavailable" at
/// once for `BACKOFF`, so a Redis that hangs costs the limits one timeout, not one per
/// request (the limits then count on this replica).
#[derive(Clone)]
pub struct SharedRedis {
    link: Link,
    down_until: Arc<Mutex<Option<Instant>>>,
}

/// How the handle reaches Redis: one server, or a cluster.
#[derive(Clone)]
pub enum Link {
    Single {
        client: redis::Client,
        connection: ConnectionManager,
    },
    /// The bus's cluster connection, which routes each command by its key, and a client
    /// per seed node for the control channel (any node will do; the listener moves on
    /// when one is down).
    Cluster {
        clients: Vec<redis::Client>,
        connection: ClusterConnection,
    },
}

const BACKOFF: Duration = Duration::from_secs(1);

impl SharedRedis {
    /// A lazily connecting handle: nothing waits for Redis until the first command.
    pub fn open(url: &str) -> RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_millis(500)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        Ok(Self { link: Link::Single { client, connection }, down_until: Arc::default() })
    }

    /// Over a cluster's command connection, with its seed `nodes` (`host:port`) to
    /// subscribe the control channel on.
    pub fn cluster(connection: ClusterConnection, nodes: &[String]) -> RedisResult<Self> {
        let clients = nodes.iter().map(|n| redis::Client::open(format!("redis://{n}"))).collect::<RedisResult<_>>()?;
        Ok(Self { link: Link::Cluster { clients, connection }, down_until: Arc::default() })
    }

    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        if self.down_until.lock().unwrap_or_else(|e| e.into_inner()).is_some_and(|until| Instant::now() < until) {
            return Err(redis::RedisError::from((redis::ErrorKind::Io, "redis unavailable (backing off)")));
        }
        let answer = match &self.link {
            Link::Single { connection, .. } => cmd.query_async(&mut connection.clone()).await,
            Link::Cluster { connection, .. } => cmd.query_async(&mut connection.clone()).await,
        };
        if let Err(err) = &answer
            && (err.is_io_error() || err.is_timeout() || err.is_connection_dropped() || err.is_connection_refusal())
        {
            *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + BACKOFF);
        }
        answer
    }

    /// Runs a script over keys of one slot.
    pub async fn eval<T: FromRedisValue>(&self, script: &str, keys: &[&str], args: &[String]) -> RedisResult<T> {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(script).arg(keys.len()).arg(keys).arg(args);
        self.query(&cmd).await
    }

    /// The clients the control channel may subscribe with, tried in turn.
    pub fn clients(&self) -> &[redis::Client] {
        match &self.link {
            Link::Single { client, .. } => std::slice::from_ref(client),
            Link::Cluster { clients, .. } => clients,
        }
    }
}

/// A token bucket: ARGV = rate per second, burst. Returns 1 when a token was taken, else
/// minus the milliseconds until the next one. Redis's own clock, so replicas agree.
pub const TOKEN_BUCKET: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(s[1]) or burst
local ts = tonumber(s[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local answer
if tokens >= 1 then
  tokens = tokens - 1
  answer = 1
else
  answer = -math.ceil((1 - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return answer
";

/// Takes a slot of a sorted set of holders (score: when the holder lapses unless its
/// replica refreshes it). ARGV = member, max (-1: unlimited), lease ms. Returns the count
/// after taking it, or -(count) when full. Lapsed holders (a crashed replica's) go first.
pub const TAKE_SLOT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local count = redis.call('ZCARD', KEYS[1])
local max = tonumber(ARGV[2])
if max >= 0 and count >= max then
  return -count
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
return count + 1
";

/// Extends the lease of this replica's holders. ARGV = lease ms, members...
pub const REFRESH_SLOTS: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], lease * 2)
return 1
";

/// Counts live holders. Returns the count.
pub const COUNT_SLOTS: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
";

/// A fixed-window counter: ARGV = amount, limit (-1: unlimited), window ms. Adds `amount`
/// unless that passes the limit. Returns the count after adding, or -(count + 1) when
/// refused, so a refusal at count 0 is told apart.
pub const WINDOW_ADD: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
if limit >= 0 and count + amount > limit then
  return -(count + 1)
end
count = redis.call('INCRBY', KEYS[1], amount)
if count == amount then
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
end
return count
";
