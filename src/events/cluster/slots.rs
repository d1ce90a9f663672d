//! Slots and the topology: which master serves a channel's slot, read from CLUSTER SLOTS.

use redis::Value;
use std::time::Duration;

/// Slots in a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// The slot of a key (or channel) the way Redis computes it: CRC16 (XMODEM) of the hash
/// tag — the part between the first `{` and the next `}` when not empty — or of the whole
/// key, modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|b| *b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        let close = rest.iter().position(|b| *b == b'}')?;
        (close > 0).then(|| &rest[..close])
    });
    crc16_xmodem(tagged.unwrap_or(key)) % SLOTS
}

fn crc16_xmodem(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for byte in bytes {
        crc ^= u16::from(*byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc
}

/// One contiguous range of slots and the address (`host:port`) of its master.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Range {
    start: u16,
    end: u16,
    master: String,
}

/// The topology the listener last read, shared with the publisher, which sends one
/// pipeline per shard. One copy: the listener keeps the same `Arc` it put here.
pub type SharedTopology = std::sync::Arc<std::sync::RwLock<std::sync::Arc<Topology>>>;

/// The cluster's slot ranges, as one node last saw them.
#[derive(Clone, Debug, Default)]
pub struct Topology {
    ranges: Vec<Range>,
}

impl Topology {
    /// The master serving `slot`, if any does.
    pub fn owner(&self, slot: u16) -> Option<&str> {
        self.ranges.iter().find(|r| r.start <= slot && slot <= r.end).map(|r| r.master.as_str())
    }

    /// A master's name for metrics and readiness: its first slot range, like `0-5460`.
    pub fn label(&self, master: &str) -> String {
        self.ranges
            .iter()
            .filter(|r| r.master == master)
            .min_by_key(|r| r.start)
            .map_or_else(|| master.to_string(), |r| format!("{}-{}", r.start, r.end))
    }

    /// The masters' addresses.
    pub fn masters(&self) -> Vec<String> {
        let mut masters: Vec<String> = self.ranges.iter().map(|r| r.master.clone()).collect();
        masters.sort();
        masters.dedup();
        masters
    }

    /// Parses a CLUSTER SLOTS reply: `[[start, end, [host, port, id, …], replicas…], …]`.
    pub fn parse(reply: &Value) -> Result<Self, String> {
        let Value::Array(entries) = reply else { return Err(format!("CLUSTER SLOTS answered {reply:?}")) };
        let mut ranges = Vec::with_capacity(entries.len());
        for entry in entries {
            let Value::Array(fields) = entry else { return Err(format!("a CLUSTER SLOTS entry is {entry:?}")) };
            let (Some(Value::Int(start)), Some(Value::Int(end)), Some(Value::Array(master))) =
                (fields.first(), fields.get(1), fields.get(2))
            else {
                return Err(format!("a CLUSTER SLOTS entry is {fields:?}"));
            };
            let host = match master.first() {
                Some(Value::BulkString(host)) => String::from_utf8_lossy(host).to_string(),
                Some(Value::SimpleString(host)) => host.clone(),
                other => return Err(format!("a CLUSTER SLOTS master host is {other:?}")),
            };
            let Some(Value::Int(port)) = master.get(1) else { return Err(format!("a master is {master:?}")) };
            let in_range = |n: i64| u16::try_from(n).ok().filter(|n| *n < SLOTS);
            let (Some(start), Some(end)) = (in_range(*start), in_range(*end)) else {
                return Err(format!("slot range {start}-{end} is out of bounds"));
            };
            ranges.push(Range { start, end, master: format!("{host}:{port}") });
        }
        ranges.sort_by_key(|r| r.start);
        Ok(Self { ranges })
    }

    /// Asks the nodes at `addresses`, in turn, for the topology; the first answer wins.
    pub async fn fetch(addresses: &[String]) -> Result<Self, String> {
        let mut last = "no node to ask".to_string();
        for address in addresses {
            match Self::fetch_from(address).await {
                Ok(topology) if !topology.ranges.is_empty() => return Ok(topology),
                Ok(_) => last = format!("{address}: no slots are served"),
                Err(err) => last = format!("{address}: {err}"),
            }
        }
        Err(last)
    }

    async fn fetch_from(address: &str) -> Result<Self, String> {
        let client = redis::Client::open(format!("redis://{address}")).map_err(|e| e.to_string())?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)));
        let mut connection =
            client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| e.to_string())?;
        let reply: Value =
            redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut connection).await.map_err(|e| e.to_string())?;
        Self::parse(&reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_computed_as_redis_does() {
        // Values from CLUSTER KEYSLOT.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"123456789"), 12739);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"cs:practice:{prc_1}"), key_slot(b"prc_1"));
        // An empty tag is no tag: the whole key counts.
        assert_eq!(key_slot(b"foo{}{bar}"), crc16_xmodem(b"foo{}{bar}") % SLOTS);
    }

    fn int(n: i64) -> Value {
        Value::Int(n)
    }

    fn node(host: &str, port: i64) -> Value {
        Value::Array(vec![Value::BulkString(host.as_bytes().to_vec()), int(port), Value::BulkString(b"id".to_vec())])
    }

    #[test]
    fn a_slots_reply_maps_slots_to_masters() {
        let reply = Value::Array(vec![
            Value::Array(vec![int(5461), int(10922), node("127.0.0.1", 7001), node("127.0.0.1", 7004)]),
            Value::Array(vec![int(0), int(5460), node("127.0.0.1", 7000)]),
            Value::Array(vec![int(10923), int(16383), node("127.0.0.1", 7002)]),
        ]);
        let topology = Topology::parse(&reply).unwrap();
        assert_eq!(topology.owner(0), Some("127.0.0.1:7000"));
        assert_eq!(topology.owner(5461), Some("127.0.0.1:7001"));
        assert_eq!(topology.owner(16383), Some("127.0.0.1:7002"));
        assert_eq!(topology.label("127.0.0.1:7001"), "5461-10922");
        assert_eq!(topology.masters().len(), 3);
    }

    #[test]
    fn a_malformed_slots_reply_is_refused() {
        for bad in [
            Value::Nil,
            Value::Array(vec![Value::Nil]),
            Value::Array(vec![Value::Array(vec![int(0), int(99999), node("h", 1)])]),
            Value::Array(vec![Value::Array(vec![int(-1), int(5), node("h", 1)])]),
            Value::Array(vec![Value::Array(vec![int(0), int(5)])]),
            Value::Array(vec![Value::Array(vec![int(0), int(5), Value::Array(vec![int(1)])])]),
        ] {
            assert!(Topology::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
