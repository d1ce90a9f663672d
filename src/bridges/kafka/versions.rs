//! Whether the broker can commit a transaction, asked once before the first producer
//! starts (`Kafka::transactional`): the broker's ApiVersions answer lists EndTxn (API key
//! 26) or not; tansu 0.6.0's does not (BENCHMARKS.md, "Kafka bridge"). A no, or a commit
//! refused as unsupported, holds for the life of the process. The request is hand-written
//! because librdkafka keeps the versions it negotiates to itself, and ApiVersions v0 is
//! one fixed-layout request, allowed before SASL.

use std::fmt::Display;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::producer::Kafka;

/// What the bridge knows of the broker's transactions (`Kafka::transactions`).
pub(super) const NOT_KNOWN: u8 = 0;
const COMMITS: u8 = 1;
const CANNOT_COMMIT: u8 = 2;

const API_VERSIONS: i16 = 18;
const END_TXN: i16 = 26;
/// An answer larger than this is not an ApiVersions answer.
const MAX_ANSWER: usize = 64 * 1024;

/// Whether the first of `brokers` (comma-separated `host:port`) that answers lists EndTxn.
pub async fn commits_transactions(brokers: &str, client_id: &str, within: Duration) -> Result<bool, String> {
    let mut last = format!("no Kafka broker in {brokers:?}");
    for broker in brokers.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        match tokio::time::timeout(within, api_keys(broker, client_id)).await {
            Ok(Ok(keys)) => return Ok(keys.contains(&END_TXN)),
            Ok(Err(err)) => last = format!("cannot ask Kafka at {broker} for its API versions: {err}"),
            Err(_) => last = format!("Kafka at {broker} did not tell its API versions within {within:?}"),
        }
    }
    Err(last)
}

/// The API keys the broker supports.
async fn api_keys(broker: &str, client_id: &str) -> Result<Vec<i16>, String> {
    let mut stream = TcpStream::connect(broker).await.map_err(|err| err.to_string())?;
    stream.write_all(&request(client_id)).await.map_err(|err| err.to_string())?;
    let size = stream.read_i32().await.map_err(|err| err.to_string())?;
    let size = usize::try_from(size).ok().filter(|s| *s <= MAX_ANSWER).ok_or("an answer of an impossible size")?;
    let mut answer = vec![0; size];
    stream.read_exact(&mut answer).await.map_err(|err| err.to_string())?;
    parse(&answer)
}

/// ApiVersions v0, correlation id 1: size, key, version, correlation id, client id.
fn request(client_id: &str) -> Vec<u8> {
    let id = &client_id.as_bytes()[..client_id.len().min(i16::MAX as usize)];
    let mut body = Vec::with_capacity(10 + id.len());
    body.extend_from_slice(&API_VERSIONS.to_be_bytes());
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&(id.len() as i16).to_be_bytes());
    body.extend_from_slice(id);
    let mut framed = (body.len() as i32).to_be_bytes().to_vec();
    framed.extend_from_slice(&body);
    framed
}

/// The answer v0: correlation id, error code, then (key, min, max) per API.
fn parse(answer: &[u8]) -> Result<Vec<i16>, String> {
    let i16_at = |at: usize| answer.get(at..at + 2).map(|b| i16::from_be_bytes([b[0], b[1]]));
    let error = i16_at(4).ok_or("a truncated ApiVersions answer")?;
    if error != 0 {
        return Err(format!("the broker answered ApiVersions with error code {error}"));
    }
    let count = answer.get(6..10).map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]])).ok_or("a truncated answer")?;
    let count = usize::try_from(count).map_err(|_| "a negative API count")?;
    if count.checked_mul(6).and_then(|bytes| bytes.checked_add(10)).is_none_or(|end| end > answer.len()) {
        return Err("a truncated API list".to_string());
    }
    Ok((0..count).map(|n| i16::from_be_bytes([answer[10 + n * 6], answer[11 + n * 6]])).collect())
}

impl Kafka {
    /// The broker cannot commit (its ApiVersions answer lists no EndTxn, or it refused a
    /// commit as unsupported): from now on the bridge publishes with the shared idempotent
    /// producer, each record acknowledged alone (at least once; the CloudEvent `id` is the
    /// dedup key). Said once, loudly.
    pub(super) fn no_transactions(&self, why: &dyn Display) {
        if self.transactions.swap(CANNOT_COMMIT, Ordering::Relaxed) != CANNOT_COMMIT {
            tracing::warn!(
                brokers = %self.brokers,
                why = %why,
                "the Kafka broker cannot commit transactions: the Kafka bridge goes on with one shared \
                 idempotent producer, at least once, the CloudEvent id as the dedup key"
            );
        }
    }

    /// Whether the broker commits transactions, asking it the first time.
    pub(super) async fn transactional(&self) -> Result<bool, String> {
        let known = || match self.transactions.load(Ordering::Relaxed) {
            NOT_KNOWN => None,
            state => Some(state == COMMITS),
        };
        if let Some(known) = known() {
            return Ok(known);
        }
        let _asking = self.asking.lock().await;
        if let Some(known) = known() {
            return Ok(known);
        }
        if commits_transactions(&self.brokers, &self.settings.client_id, self.timeout).await? {
            let _ = self.transactions.compare_exchange(NOT_KNOWN, COMMITS, Ordering::Relaxed, Ordering::Relaxed);
        } else {
            self.no_transactions(&"its ApiVersions answer lists no EndTxn");
        }
        Ok(known().unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(error: i16, keys: &[i16]) -> Vec<u8> {
        let mut out = 1i32.to_be_bytes().to_vec();
        out.extend_from_slice(&error.to_be_bytes());
        out.extend_from_slice(&(keys.len() as i32).to_be_bytes());
        for key in keys {
            out.extend_from_slice(&key.to_be_bytes());
            out.extend_from_slice(&0i16.to_be_bytes());
            out.extend_from_slice(&3i16.to_be_bytes());
        }
        out
    }

    #[test]
    fn reads_the_api_keys_and_refuses_what_is_not_an_answer() {
        assert_eq!(parse(&answer(0, &[0, 18, 26])), Ok(vec![0, 18, 26]));
        assert_eq!(parse(&answer(0, &[])), Ok(vec![]));
        assert!(parse(&answer(35, &[0])).unwrap_err().contains("error code 35"));
        let whole = answer(0, &[0, 26]);
        assert!(parse(&whole[..whole.len() - 3]).is_err(), "truncated");
        assert!(parse(&[0, 0]).is_err());
        let mut negative = answer(0, &[]);
        negative[6..10].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(parse(&negative).is_err());
    }

    #[test]
    fn the_request_is_api_versions_v0() {
        let framed = request("clinicstream");
        assert_eq!(i32::from_be_bytes(framed[..4].try_into().unwrap()) as usize, framed.len() - 4);
        assert_eq!(&framed[4..8], &[0, 18, 0, 0]);
        assert_eq!(&framed[framed.len() - 12..], b"clinicstream");
    }
}
