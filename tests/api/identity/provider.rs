//! Against a real OpenID Provider (`oidc-provider`, tests/api/oidc.rs): discovery, its
//! access tokens on every door, a refresh on an open socket, key rotation and retirement,
//! and the provider's own back-channel logout.

use serde_json::json;
use std::time::Duration;

use crate::helpers::{Backend, TestApp, spawn_app_with};
use crate::oidc::{Account, DEFAULT_AUDIENCE, Issuer, IssuerOptions};
use crate::replicas::subscriber;
use crate::ws_client::WsClient;

const PATIENT: &str = "query($id: ID!) { patient(id: $id) { id firstName } }";
const REFRESH: &str = "mutation($k: String!) { refreshCredentials(key: $k) }";

/// A port free now, for a server whose address the issuer must know before it starts.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The provider, and the server that trusts it (its back-channel logout pointed at it).
async fn provider_and_app(backend: Backend, options: IssuerOptions) -> Option<(Issuer, TestApp)> {
    let port = free_port();
    let options = IssuerOptions {
        backchannel_logout_uri: Some(format!("http://127.0.0.1:{port}/oidc/backchannel-logout")),
        ..options
    };
    let issuer = Issuer::start(options).await?;
    let url = issuer.issuer_url().to_string();
    let app = spawn_app_with(backend, |c| {
        c.listen_addr = format!("127.0.0.1:{port}");
        c.identity.oidc_issuer = Some(url);
        c.identity.jwt_audience = Some(DEFAULT_AUDIENCE.into());
        c.identity.oidc_client_id = Some(crate::oidc::CLIENT_ID.into());
    })
    .await?;
    Some((issuer, app))
}

async fn status(app: &TestApp, token: &str) -> u16 {
    let request = app.http().post(app.url("/graphql")).bearer_auth(token).json(&json!({ "query": "{ __typename }" }));
    request.send().await.unwrap().status().as_u16()
}

async fn closed_within(client: &mut WsClient, limit: Duration) -> Option<u16> {
    tokio::time::timeout(limit, client.closed()).await.ok().flatten()
}

async fn the_providers_tokens_work_refresh_and_rotate(backend: Backend) {
    let options = IssuerOptions { jwks_max_age: Duration::from_secs(1), ..Default::default() };
    let Some((issuer, app)) = provider_and_app(backend, options).await else { return };
    let f = app.fixture().await;
    issuer.account(&Account::new("dr-ada", "Dr. Ada Park", "BACKOFFICE").practice(&f.practice)).await;
    let first = issuer.token("dr-ada").await;
    assert_eq!(app.ok(&first.access_token, PATIENT, json!({ "id": f.patient })).await["patient"]["id"], f.patient);
    let mut socket = subscriber(&app, &first.access_token, &f.practice, None).await;
    // A refreshed token (the refresh_token grant) replaces the socket's credentials.
    let refreshed = issuer.refresh(first.refresh_token.as_deref().expect("a refresh token")).await.unwrap();
    socket.subscribe("r1", REFRESH, json!({ "k": refreshed.access_token })).await;
    let answer = socket.recv().await.unwrap();
    assert_eq!(answer["payload"]["data"]["refreshCredentials"], true, "{answer}");
    socket.recv().await; // its complete
    // The issuer rotates its key: a token signed by the new key (an unknown kid) is accepted
    // at once, and the open socket stays open.
    let old_kid = issuer.current_kid().await;
    let keys = issuer.rotate().await;
    assert_ne!(keys.kid, old_kid);
    let rotated = issuer.token("dr-ada").await;
    assert_eq!(status(&app, &rotated.access_token).await, 200, "the new key is fetched for its kid");
    // The old key is retired: its tokens are refused once the key set is fetched again.
    issuer.retire().await;
    let refused = crate::helpers::eventually(
        Duration::from_secs(5),
        async || status(&app, &first.access_token).await,
        |s| *s == 401,
    );
    assert!(refused.await.is_ok(), "a token of the retired key is refused");
    assert_eq!(status(&app, &rotated.access_token).await, 200);
    app.post_payment(&f.backoffice, &f.patient, 1).await;
    assert_eq!(socket.recv().await.expect("the socket lived through the rotation")["type"], "next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_tokens_work_refresh_and_rotate_sqlite() {
    the_providers_tokens_work_refresh_and_rotate(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_tokens_work_refresh_and_rotate_postgres() {
    the_providers_tokens_work_refresh_and_rotate(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_providers_logout_closes_the_persons_sockets_and_refuses_their_tokens() {
    let Some((issuer, app)) = provider_and_app(Backend::Sqlite, IssuerOptions::default()).await else { return };
    let f = app.fixture().await;
    issuer.account(&Account::new("kim", "Kim Desk", "SUBSCRIBER").practice(&f.practice)).await;
    issuer.account(&Account::new("lee", "Lee Desk", "SUBSCRIBER").practice(&f.practice)).await;
    let kim = issuer.token("kim").await;
    let lee = issuer.token("lee").await;
    let mut kims = subscriber(&app, &kim.access_token, &f.practice, None).await;
    let mut lees = subscriber(&app, &lee.access_token, &f.practice, None).await;
    let logout = issuer.logout("kim").await;
    assert!(logout.sent.iter().all(|sent| sent.status == Some(200)), "{logout:?}");
    assert!(!logout.sent.is_empty(), "the provider sent a logout token");
    assert_eq!(closed_within(&mut kims, Duration::from_secs(2)).await, Some(4403));
    assert_eq!(status(&app, &kim.access_token).await, 401, "the session's token is refused");
    app.ok(&lee.access_token, PATIENT, json!({ "id": f.patient })).await;
    app.post_payment(&f.backoffice, &f.patient, 1).await;
    assert_eq!(lees.recv().await.expect("another person's socket lives on")["type"], "next");
}
