//! The hostile token corpus: each one UNAUTHENTICATED (401 with `Bearer
//! error="invalid_token"` over HTTP and SSE, close 4403 on both websocket protocols) or,
//! for a valid token that grants nothing usable, FORBIDDEN with the reason — with nothing
//! written and nothing of the token or the verifier's internals in the answer.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::issuer::{Key, NAMESPACE, TestIssuer};
use crate::helpers::{ADMIN_KEY, Backend, TestApp, spawn_app_with};
use crate::ws_client::{LEGACY_WS, TRANSPORT_WS, WsClient};

const CREATE_PATIENT: &str =
    "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"Eve\", lastName: \"Forged\"}) { id } }";

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A token with any header and claims and a signature that means nothing.
fn unsigned(header: Value, claims: &Value) -> String {
    format!("{}.{}.", b64(&header), b64(claims))
}

/// The corpus: (what it is, token) — every one must be refused as not valid.
fn invalid(issuer: &TestIssuer, practice: &str) -> Vec<(&'static str, String)> {
    let grant = json!({ "practice_id": practice, "role": "BACKOFFICE" });
    let good = issuer.claims("mallory", grant.clone());
    let with = |change: &dyn Fn(&mut Value)| {
        let mut claims = good.clone();
        change(&mut claims);
        claims
    };
    let now = chrono::Utc::now().timestamp();
    // HS256 keyed with the RSA key's public JWK: the classic algorithm confusion.
    let public = serde_json::from_str::<Value>(include_str!("jwks.json")).unwrap()["keys"][0].to_string();
    let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs.kid = Some(Key::Rsa.kid().into());
    let confused =
        jsonwebtoken::encode(&hs, &good, &jsonwebtoken::EncodingKey::from_secret(public.as_bytes())).unwrap();
    // A valid signature over other claims, with the claims swapped afterwards.
    let signed = issuer.token("mallory", grant.clone());
    let parts: Vec<&str> = signed.split('.').collect();
    let swapped = format!("{}.{}.{}", parts[0], b64(&with(&|c| c["sub"] = json!("admin"))), parts[2]);
    let mut kidless = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    kidless.kid = None;
    vec![
        ("alg none", unsigned(json!({ "alg": "none", "kid": Key::Rsa.kid() }), &good)),
        ("HS256 keyed with the RSA public key", confused),
        ("claims changed after signing", swapped),
        ("wrong iss", issuer.sign(Key::Rsa, &with(&|c| c["iss"] = json!("https://evil.example")))),
        ("no iss", issuer.sign(Key::Rsa, &with(&|c| drop(c.as_object_mut().unwrap().remove("iss"))))),
        ("wrong aud", issuer.sign(Key::Rsa, &with(&|c| c["aud"] = json!("https://another.api")))),
        ("no aud", issuer.sign(Key::Rsa, &with(&|c| drop(c.as_object_mut().unwrap().remove("aud"))))),
        ("expired past the leeway", issuer.sign(Key::Ec, &with(&|c| c["exp"] = json!(now - 120)))),
        ("no exp", issuer.sign(Key::Ec, &with(&|c| drop(c.as_object_mut().unwrap().remove("exp"))))),
        ("not valid before a minute from now", issuer.sign(Key::Ed, &with(&|c| c["nbf"] = json!(now + 120)))),
        ("no sub", issuer.sign(Key::Rsa, &with(&|c| drop(c.as_object_mut().unwrap().remove("sub"))))),
        ("oversized", issuer.sign(Key::Rsa, &with(&|c| c["padding"] = json!("x".repeat(10_000))))),
        ("unknown kid", {
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
            header.kid = Some("no-such-key".into());
            jsonwebtoken::encode(
                &header,
                &good,
                &jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("rsa_private.pem")).unwrap(),
            )
            .unwrap()
        }),
        (
            "no kid",
            jsonwebtoken::encode(
                &kidless,
                &good,
                &jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("rsa_private.pem")).unwrap(),
            )
            .unwrap(),
        ),
        ("ES256 header on the RSA key", {
            let token = issuer.sign(Key::Ec, &good);
            let parts: Vec<&str> = token.split('.').collect();
            format!("{}.{}.{}", b64(&json!({ "alg": "ES256", "kid": Key::Rsa.kid() })), parts[1], parts[2])
        }),
        ("not base64", "eyJ!!.eyJ??.sig".to_string()),
    ]
}

/// Valid tokens whose claims grant nothing: (what, claims object or None for none).
fn no_scope(practice: &str) -> Vec<(&'static str, Option<Value>)> {
    vec![
        ("no claims object", None),
        ("no role", Some(json!({ "practice_id": practice }))),
        ("an unknown role", Some(json!({ "practice_id": practice, "role": "SUPERUSER" }))),
        ("PATIENT without patient_id", Some(json!({ "practice_id": practice, "role": "PATIENT" }))),
        ("BACKOFFICE without practice_id", Some(json!({ "role": "BACKOFFICE" }))),
        ("claims object not an object", Some(json!(42))),
    ]
}

async fn post(app: &TestApp, token: &str, practice: &str) -> reqwest::Response {
    app.http()
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": CREATE_PATIENT, "variables": { "p": practice } }))
        .send()
        .await
        .unwrap()
}

async fn patients(app: &TestApp, practice: &str) -> usize {
    let data = app
        .ok(
            ADMIN_KEY,
            "query($p: ID!) { patients(practiceId: $p, first: 100) { edges { cursor } } }",
            json!({ "p": practice }),
        )
        .await;
    data["patients"]["edges"].as_array().unwrap().len()
}

fn says_nothing_internal(body: &str, token: &str) {
    assert!(!body.contains(token), "the token is echoed: {body}");
    for internal in ["jsonwebtoken", "InvalidSignature", "kid", "JWKS", "panicked"] {
        assert!(!body.contains(internal), "{internal:?} leaks: {body}");
    }
}

async fn hostile_tokens_are_refused_on_every_door(backend: Backend) {
    let issuer = TestIssuer::start().await;
    let Some(app) = spawn_app_with(backend, |c| issuer.configure(c)).await else { return };
    let f = app.fixture().await;
    let before = patients(&app, &f.practice).await;
    for (what, token) in invalid(&issuer, &f.practice) {
        let response = post(&app, &token, &f.practice).await;
        assert_eq!(response.status(), 401, "{what}");
        let challenge = response.headers()["www-authenticate"].to_str().unwrap().to_string();
        assert_eq!(challenge, "Bearer error=\"invalid_token\"", "{what}");
        let body = response.text().await.unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["errors"][0]["extensions"]["code"],
            "UNAUTHENTICATED",
            "{what}: {body}"
        );
        says_nothing_internal(&body, &token);
        let sse = app
            .http()
            .get(app.url("/graphql/stream"))
            .query(&[
                ("query", "subscription($p: ID!) { events(practiceId: $p) { seq } }"),
                ("variables", &json!({ "p": f.practice }).to_string()),
            ])
            .header("accept", "text/event-stream")
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(sse.status(), 401, "SSE, {what}");
        for protocol in [TRANSPORT_WS, LEGACY_WS] {
            let mut client = WsClient::open(app.addr, protocol).await;
            client
                .send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } }))
                .await;
            if protocol == LEGACY_WS {
                assert_eq!(client.recv().await.unwrap()["type"], "connection_error", "{what}");
            }
            assert_eq!(client.closed().await, Some(4403), "{what} on {protocol}");
            says_nothing_internal(client.close_reason.as_deref().unwrap_or(""), &token);
        }
    }
    for (what, grant) in no_scope(&f.practice) {
        let mut claims = issuer.claims("mallory", json!(null));
        match grant {
            Some(grant) => claims[NAMESPACE] = grant,
            None => drop(claims.as_object_mut().unwrap().remove(NAMESPACE)),
        }
        let token = issuer.sign(Key::Rsa, &claims);
        let response = post(&app, &token, &f.practice).await;
        assert_eq!(response.status(), 403, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{what}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("grants no access"), "{what}: {body}");
    }
    assert_eq!(patients(&app, &f.practice).await, before, "a refused token wrote nothing");
}

#[tokio::test]
async fn hostile_tokens_are_refused_on_every_door_sqlite() {
    hostile_tokens_are_refused_on_every_door(Backend::Sqlite).await;
}

#[tokio::test]
async fn hostile_tokens_are_refused_on_every_door_postgres() {
    hostile_tokens_are_refused_on_every_door(Backend::Postgres).await;
}
