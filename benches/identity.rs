//! What a person's access token costs the server, with the issuer's keys already fetched
//! (the steady state): `identity/verify/<alg>` is one token verified to its principal —
//! signature, claims, the claims object — which every HTTP request with a token pays, and
//! every websocket or stream pays once, at `connection_init` or its start.

use clinicstream::clock::SystemClock;
use clinicstream::identity::{Identity, IdentityArgs};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const JWKS: &str = include_str!("../tests/api/identity/jwks.json");
const AUDIENCE: &str = "https://api.clinicstream.test";

/// Serves discovery and the test keys on a free port; returns the issuer URL.
async fn issuer() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let discovery = json!({ "issuer": url, "jwks_uri": format!("{url}/jwks") });
    let keys: serde_json::Value = serde_json::from_str(JWKS).unwrap();
    let app = axum::Router::new()
        .route("/.well-known/openid-configuration", axum::routing::get(move || async move { axum::Json(discovery) }))
        .route("/jwks", axum::routing::get(move || async move { axum::Json(keys) }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn verify(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(issuer());
    let args = IdentityArgs {
        oidc_issuer: Some(url.clone()),
        jwt_jwks_url: None,
        jwt_audience: Some(AUDIENCE.into()),
        jwt_claims_namespace: "https://clinicstream.dev/claims".into(),
        jwt_leeway: Duration::from_secs(30),
        oidc_client_id: None,
        oidc_scope: clinicstream::identity::DEFAULT_SCOPE.into(),
    };
    let identity = Identity::new(args.settings().unwrap().unwrap(), Arc::new(SystemClock));
    let now = chrono::Utc::now().timestamp();
    let claims = json!({
        "iss": url, "aud": AUDIENCE, "sub": "dr-ada", "iat": now, "exp": now + 86_400, "name": "Dr. Ada Park",
        "azp": "dashboard", "https://clinicstream.dev/claims": { "practice_id": "prc_1", "role": "BACKOFFICE" },
    });
    let keys = [
        (
            "RS256",
            Algorithm::RS256,
            "test-rsa",
            EncodingKey::from_rsa_pem(include_bytes!("../tests/api/identity/rsa_private.pem")),
        ),
        (
            "ES256",
            Algorithm::ES256,
            "test-ec",
            EncodingKey::from_ec_pem(include_bytes!("../tests/api/identity/ec_private.pem")),
        ),
        (
            "EdDSA",
            Algorithm::EdDSA,
            "test-ed",
            EncodingKey::from_ed_pem(include_bytes!("../tests/api/identity/ed_private.pem")),
        ),
    ];
    for (name, algorithm, kid, key) in keys {
        let mut header = Header::new(algorithm);
        header.kid = Some(kid.into());
        let token = jsonwebtoken::encode(&header, &claims, &key.unwrap()).unwrap();
        runtime.block_on(identity.verify(&token)).expect("the token verifies (and the keys are fetched)");
        // block_on adds a few hundred nanoseconds to each; the signature check is tens of µs.
        c.bench_function(&format!("identity/verify/{name}"), |b| {
            b.iter(|| runtime.block_on(identity.verify(&token)).unwrap())
        });
    }
}

criterion_group!(benches, verify);
criterion_main!(benches);
