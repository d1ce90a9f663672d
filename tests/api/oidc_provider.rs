//! The test issuer itself (tests/api/oidc.rs): real tokens from a real code flow, the claims
//! object where the server will look for it, key rotation visible in the JWKS, and a
//! back-channel logout token delivered to a listener of the test's own.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::routing::post;
use axum::{Form, Router};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::oidc::{Account, BACKCHANNEL_LOGOUT_EVENT, CLIENT_ID, Issuer, IssuerOptions, decode_jwt};

/// Receives back-channel logout requests (form field `logout_token`) on a free port.
async fn logout_listener() -> (String, mpsc::UnboundedReceiver<String>) {
    let (sent, received) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/oidc/backchannel-logout",
        post(move |Form(form): Form<HashMap<String, String>>| {
            let sent = sent.clone();
            async move {
                let _ = sent.send(form.get("logout_token").cloned().unwrap_or_default());
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/oidc/backchannel-logout", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn jwks_kids(issuer: &Issuer) -> Vec<String> {
    let jwks: Value = reqwest::get(issuer.jwks_url()).await.unwrap().json().await.unwrap();
    jwks["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_string()).collect()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_issuer_signs_a_person_in_rotates_its_key_and_logs_them_out_over_the_back_channel() {
    let (logout_uri, mut logout_tokens) = logout_listener().await;
    let options = IssuerOptions { backchannel_logout_uri: Some(logout_uri.clone()), ..IssuerOptions::default() };
    let Some(issuer) = Issuer::start(options.clone()).await else { return };

    // Discovery points at the JWKS, which says how long it may be cached.
    let discovery: Value = reqwest::get(issuer.discovery_url()).await.unwrap().json().await.unwrap();
    assert_eq!(discovery["issuer"], issuer.issuer_url());
    assert_eq!(discovery["jwks_uri"], issuer.jwks_url());
    let jwks = reqwest::get(issuer.jwks_url()).await.unwrap();
    assert_eq!(jwks.headers()["cache-control"], "public, max-age=300");

    issuer.account(&Account::new("user-ann", "Ann Patient", "PATIENT").practice("prc_1").patient("pat_1")).await;
    let started = Instant::now();
    let tokens = issuer.token("user-ann").await;
    println!("a token through the code flow took {:?}", started.elapsed());

    assert_eq!(tokens.expires_in, 300);
    let (header, claims) = decode_jwt(&tokens.access_token);
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "at+jwt");
    let first_kid = header["kid"].as_str().unwrap().to_string();
    assert_eq!(first_kid, issuer.current_kid().await);
    assert!(jwks_kids(&issuer).await.contains(&first_kid));
    assert_eq!(claims["iss"], issuer.issuer_url());
    assert_eq!(claims["aud"], options.audience);
    assert_eq!(claims["sub"], "user-ann");
    assert_eq!(claims["client_id"], CLIENT_ID);
    assert_eq!(claims["name"], "Ann Patient");
    let exp = claims["exp"].as_u64().unwrap();
    assert!(exp > now() && exp <= now() + 301, "exp {exp}");
    assert_eq!(
        claims[&options.claims_namespace],
        json!({ "practice_id": "prc_1", "role": "PATIENT", "patient_id": "pat_1" })
    );
    assert!(claims["sid"].is_string(), "the access token names its session: {claims}");
    let (_, id_token) = decode_jwt(tokens.id_token.as_deref().unwrap());
    assert_eq!(id_token["aud"], CLIENT_ID);
    assert_eq!(id_token["sid"], claims["sid"]);

    // A refresh goes through the token endpoint and rotates the refresh token.
    let refresh_token = tokens.refresh_token.clone().expect("a refresh token");
    let refreshed = issuer.refresh(&refresh_token).await.expect("refreshed");
    assert_eq!(decode_jwt(&refreshed.access_token).1["sub"], "user-ann");
    assert_ne!(refreshed.refresh_token.as_deref(), Some(refresh_token.as_str()));

    // Rotation: a new current key, the old one still published until it is retired.
    let rotated = issuer.rotate().await;
    assert_eq!(rotated.previous.as_deref(), Some(first_kid.as_str()));
    assert_ne!(rotated.kid, first_kid);
    let kids = jwks_kids(&issuer).await;
    assert!(kids.contains(&rotated.kid) && kids.contains(&first_kid), "{kids:?}");
    let after = issuer.token("user-ann").await;
    assert_eq!(decode_jwt(&after.access_token).0["kid"], rotated.kid);
    let retired = issuer.retire().await;
    assert_eq!(retired.retired, vec![first_kid.clone()]);
    assert!(!jwks_kids(&issuer).await.contains(&first_kid));

    // Logout ends both sessions; each sends a logout token to the listener.
    let logout = issuer.logout("user-ann").await;
    assert_eq!(logout.sessions, 2, "{logout:?}");
    assert!(
        logout.sent.iter().all(|s| s.url == logout_uri && s.status == Some(200) && s.error.is_none()),
        "{logout:?}"
    );
    let mut sids = Vec::new();
    for sent in &logout.sent {
        let token = tokio::time::timeout(Duration::from_secs(5), logout_tokens.recv()).await.unwrap().unwrap();
        assert!(logout.sent.iter().any(|s| s.logout_token.as_ref() == Some(&token)), "{sent:?}");
        let (header, claims) = decode_jwt(&token);
        assert_eq!(header["typ"], "logout+jwt");
        assert!(claims["events"][BACKCHANNEL_LOGOUT_EVENT].is_object(), "{claims}");
        assert!(claims.get("nonce").is_none());
        assert_eq!(claims["iss"], issuer.issuer_url());
        assert_eq!(claims["aud"], CLIENT_ID);
        assert_eq!(claims["sub"], "user-ann");
        sids.push(claims["sid"].clone());
    }
    assert!(sids.contains(&claims["sid"]), "{sids:?}");
    // The sessions' grants are revoked with them.
    assert!(issuer.refresh(refreshed.refresh_token.as_deref().unwrap()).await.is_err());
}
