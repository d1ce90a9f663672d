//! The issuer's public keys, by `kid`: fetched when first needed, kept as long as the
//! issuer's `Cache-Control: max-age` says (bounded), and fetched again when a token names
//! a `kid` the set does not hold — at most every `REFETCH_AFTER`, so tokens with made-up
//! `kid`s cannot make the server hammer the issuer. Key rotation at the issuer therefore
//! needs no restart here.

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

use super::settings::KeySource;

/// How soon an unknown `kid` may fetch the keys again.
pub const REFETCH_AFTER: Duration = Duration::from_secs(2);
/// How long keys are kept when the issuer says nothing (or asks not to cache).
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// The longest the issuer's `max-age` is honoured: a removed key stops working within this.
const LONGEST_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// The shortest: keys are not fetched more often than this for freshness alone.
const SHORTEST_MAX_AGE: Duration = Duration::from_secs(1);
/// The most bytes a discovery document or key set may have.
const MAX_BODY: usize = 512 * 1024;
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// One usable key: the decoding key and the algorithm it is for.
#[derive(Clone)]
pub struct Key {
    pub decoding: Arc<DecodingKey>,
    pub algorithm: Algorithm,
}

struct Fetched {
    keys: HashMap<String, Key>,
    at: Instant,
    max_age: Duration,
}

pub struct Jwks {
    source: KeySource,
    http: reqwest::Client,
    fetched: RwLock<Option<Fetched>>,
    /// Held while fetching, so concurrent misses cause one fetch.
    fetching: Mutex<Option<Instant>>,
}

impl Jwks {
    pub fn new(source: KeySource) -> Self {
        let http = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .unwrap_or_default();
        Self { source, http, fetched: RwLock::new(None), fetching: Mutex::new(None) }
    }

    /// The key a token's header names, fetching the set if it is stale or lacks `kid`. A
    /// fetch is made at most every `REFETCH_AFTER`: a request that needs one sooner waits
    /// for the next (so a token signed by a key published a moment ago is accepted), and
    /// every request waiting is answered by the first fetch made after it arrived.
    pub async fn key(&self, kid: &str) -> Result<Key, String> {
        if let Some(found) = self.cached(kid, false).await {
            return found;
        }
        let unknown = || Err(format!("no key {kid:?} in the issuer's key set"));
        let arrived = Instant::now();
        loop {
            let mut last = self.fetching.lock().await;
            if last.is_some_and(|at| at >= arrived) {
                return self.cached(kid, true).await.unwrap_or_else(unknown);
            }
            if let Some(found) = self.cached(kid, false).await {
                return found;
            }
            let wait = last.map_or(Duration::ZERO, |at| REFETCH_AFTER.saturating_sub(at.elapsed()));
            if !wait.is_zero() {
                // A stale key is good enough until the next fetch is allowed.
                if let Some(found) = self.cached(kid, true).await {
                    return found;
                }
                drop(last);
                tokio::time::sleep(wait).await;
                continue;
            }
            *last = Some(Instant::now());
            match self.fetch().await {
                Ok(fetched) => *self.fetched.write().await = Some(fetched),
                // Stale keys are better than none while the issuer is unreachable.
                Err(err) => tracing::warn!(error = %err, "fetching the issuer's keys failed"),
            }
            return self.cached(kid, true).await.unwrap_or_else(unknown);
        }
    }

    /// From what was fetched: Some when the answer is known (fresh, or `stale_ok`).
    async fn cached(&self, kid: &str, stale_ok: bool) -> Option<Result<Key, String>> {
        let fetched = self.fetched.read().await;
        let fetched = fetched.as_ref()?;
        let key = fetched.keys.get(kid)?;
        (stale_ok || fetched.at.elapsed() < fetched.max_age).then(|| Ok(key.clone()))
    }

    async fn fetch(&self) -> Result<Fetched, String> {
        let url = match &self.source {
            KeySource::Jwks(url) | KeySource::Issuer { jwks_url: Some(url), .. } => url.clone(),
            KeySource::Issuer { issuer, jwks_url: None } => self.discover(issuer).await?,
        };
        let (body, max_age) = self.get(&url).await?;
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| format!("the key set at {url} is not a JWKS: {e}"))?;
        let keys = set.keys.iter().filter_map(usable).collect();
        Ok(Fetched { keys, at: Instant::now(), max_age })
    }

    /// The JWKS URL from the issuer's discovery document, which must name the same issuer.
    async fn discover(&self, issuer: &str) -> Result<String, String> {
        #[derive(serde::Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let url = format!("{issuer}/.well-known/openid-configuration");
        let (body, _) = self.get(&url).await?;
        let found: Discovery =
            serde_json::from_slice(&body).map_err(|e| format!("{url} is not a discovery document: {e}"))?;
        if found.issuer.trim_end_matches('/') != issuer {
            return Err(format!("{url} names the issuer {:?}, not {issuer:?}", found.issuer));
        }
        Ok(found.jwks_uri)
    }

    async fn get(&self, url: &str) -> Result<(Vec<u8>, Duration), String> {
        let mut response = self.http.get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("GET {url}: {}", response.status()));
        }
        let max_age = response
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .map_or(DEFAULT_MAX_AGE, max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("GET {url}: {e}"))? {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("GET {url}: more than {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((body, max_age))
    }
}

/// A key the server verifies with: RS256, ES256 or EdDSA, with a `kid`, for signing.
fn usable(jwk: &Jwk) -> Option<(String, Key)> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, KeyAlgorithm, PublicKeyUse};
    let kid = jwk.common.key_id.clone()?;
    if matches!(jwk.common.public_key_use, Some(ref used) if *used != PublicKeyUse::Signature) {
        return None;
    }
    let algorithm = match (&jwk.algorithm, jwk.common.key_algorithm) {
        (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
        (AlgorithmParameters::EllipticCurve(ec), None | Some(KeyAlgorithm::ES256))
            if ec.curve == EllipticCurve::P256 =>
        {
            Algorithm::ES256
        }
        (AlgorithmParameters::OctetKeyPair(okp), None | Some(KeyAlgorithm::EdDSA))
            if okp.curve == EllipticCurve::Ed25519 =>
        {
            Algorithm::EdDSA
        }
        _ => return None,
    };
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some((kid, Key { decoding: Arc::new(decoding), algorithm }))
}

/// `max-age` of a `Cache-Control` value, bounded; no-store and no-cache keep the default.
fn max_age(value: &str) -> Duration {
    let seconds = value
        .split(',')
        .filter_map(|part| part.trim().strip_prefix("max-age="))
        .find_map(|n| n.trim().parse::<u64>().ok());
    seconds.map_or(DEFAULT_MAX_AGE, |s| Duration::from_secs(s).clamp(SHORTEST_MAX_AGE, LONGEST_MAX_AGE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issuers_max_age_is_honoured_within_bounds() {
        assert_eq!(max_age("public, max-age=60"), Duration::from_secs(60));
        assert_eq!(max_age("max-age=0"), SHORTEST_MAX_AGE);
        assert_eq!(max_age("max-age=99999999"), LONGEST_MAX_AGE);
        assert_eq!(max_age("no-store"), DEFAULT_MAX_AGE);
        assert_eq!(max_age("max-age=soon"), DEFAULT_MAX_AGE);
    }

    #[test]
    fn only_signing_keys_of_the_three_algorithms_are_kept() {
        let rsa = serde_json::json!({"kty": "RSA", "kid": "r", "use": "sig", "alg": "RS256",
            "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
            "e": "AQAB"});
        let enc = serde_json::json!({"kty": "RSA", "kid": "e", "use": "enc", "n": rsa["n"], "e": "AQAB"});
        let hs = serde_json::json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"});
        let set: JwkSet = serde_json::from_value(serde_json::json!({"keys": [rsa, enc, hs]})).unwrap();
        let kept: Vec<String> = set.keys.iter().filter_map(usable).map(|(kid, _)| kid).collect();
        assert_eq!(kept, vec!["r".to_string()]);
    }
}
