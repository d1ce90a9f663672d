//! A hand-made issuer for the hostile cases: discovery and a JWKS served on a free port,
//! and tokens signed with the test keys of this directory — or forged, expired, for
//! another audience, unsigned. Real people's tokens come from `oidc-provider` instead.

use axum::Router;
use axum::http::header;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

use clinicstream::Config;

pub const AUDIENCE: &str = "https://api.clinicstream.test";
pub const NAMESPACE: &str = "https://clinicstream.dev/claims";

const RSA: &[u8] = include_bytes!("rsa_private.pem");
const EC: &[u8] = include_bytes!("ec_private.pem");
const ED: &[u8] = include_bytes!("ed_private.pem");
const JWKS: &str = include_str!("jwks.json");

/// One of the test keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Rsa,
    Ec,
    Ed,
}

impl Key {
    pub fn kid(self) -> &'static str {
        match self {
            Key::Rsa => "test-rsa",
            Key::Ec => "test-ec",
            Key::Ed => "test-ed",
        }
    }

    pub fn algorithm(self) -> Algorithm {
        match self {
            Key::Rsa => Algorithm::RS256,
            Key::Ec => Algorithm::ES256,
            Key::Ed => Algorithm::EdDSA,
        }
    }

    fn encoding(self) -> EncodingKey {
        match self {
            Key::Rsa => EncodingKey::from_rsa_pem(RSA),
            Key::Ec => EncodingKey::from_ec_pem(EC),
            Key::Ed => EncodingKey::from_ed_pem(ED),
        }
        .expect("the test key reads")
    }
}

pub struct TestIssuer {
    pub url: String,
    /// The key set served now (tests remove keys from it).
    jwks: Arc<Mutex<Value>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestIssuer {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let jwks: Arc<Mutex<Value>> = Arc::new(Mutex::new(serde_json::from_str(JWKS).unwrap()));
        let discovery = json!({ "issuer": url, "jwks_uri": format!("{url}/jwks") });
        let served = jwks.clone();
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(move || async move { axum::Json(discovery) }))
            .route(
                "/jwks",
                get(move || {
                    let set = served.lock().unwrap().clone();
                    async move { ([(header::CACHE_CONTROL, "max-age=1")], axum::Json(set)) }
                }),
            );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, jwks, task }
    }

    /// Points a server's settings at this issuer.
    pub fn configure(&self, config: &mut Config) {
        config.identity.oidc_issuer = Some(self.url.clone());
        config.identity.jwt_audience = Some(AUDIENCE.into());
    }

    /// Stops publishing a key (as an issuer does once it has rotated it out).
    pub fn remove(&self, key: Key) {
        let mut jwks = self.jwks.lock().unwrap();
        jwks["keys"].as_array_mut().unwrap().retain(|k| k["kid"] != key.kid());
    }

    /// A person's claims: valid for an hour from now, for our audience, from this issuer.
    pub fn claims(&self, subject: &str, grant: Value) -> Value {
        let now = chrono::Utc::now().timestamp();
        json!({
            "iss": self.url, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + 3600,
            "name": format!("Person {subject}"), "azp": "test-client", NAMESPACE: grant,
        })
    }

    /// `claims` signed with `key` (its own kid and algorithm).
    pub fn sign(&self, key: Key, claims: &Value) -> String {
        let mut header = Header::new(key.algorithm());
        header.kid = Some(key.kid().into());
        jsonwebtoken::encode(&header, claims, &key.encoding()).expect("the token signs")
    }

    /// A signed token for a person with `grant` (the claims object).
    pub fn token(&self, subject: &str, grant: Value) -> String {
        self.sign(Key::Rsa, &self.claims(subject, grant))
    }

    /// A patient's token.
    #[allow(dead_code)] // for the PATIENT scope's tests
    pub fn patient(&self, practice: &str, patient: &str) -> String {
        self.token(
            &format!("patient-{patient}"),
            json!({ "practice_id": practice, "role": "PATIENT", "patient_id": patient }),
        )
    }
}
