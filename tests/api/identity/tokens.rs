//! A person's token on every door: what it grants, how it ends (expiry, the issuer's
//! back-channel logout, a key rotated out), and refreshing it on an open socket.

use serde_json::{Value, json};
use std::time::Duration;

use super::issuer::{AUDIENCE, Key, TestIssuer};
use crate::helpers::{Backend, TestApp, code, spawn_app_with};
use crate::replicas::subscriber;
use crate::ws_client::WsClient;

const PATIENT: &str = "query($id: ID!) { patient(id: $id) { id firstName } }";
const CREATE_PATIENT: &str =
    "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"Lina\", lastName: \"Okafor\"}) { id } }";
const REFRESH: &str = "mutation($k: String!) { refreshCredentials(key: $k) }";

/// The HTTP status of a trivial query with `token`.
async fn status(app: &TestApp, token: &str) -> u16 {
    let request = app.http().post(app.url("/graphql")).bearer_auth(token).json(&json!({ "query": "{ __typename }" }));
    request.send().await.unwrap().status().as_u16()
}

async fn closed_within(client: &mut WsClient, limit: Duration) -> Option<u16> {
    tokio::time::timeout(limit, client.closed()).await.ok().flatten()
}

async fn a_persons_token_acts_in_its_role(backend: Backend) {
    let issuer = TestIssuer::start().await;
    let Some(app) = spawn_app_with(backend, |c| issuer.configure(c)).await else { return };
    let f = app.fixture().await;
    // Every accepted algorithm, and an expiry a few seconds past (inside the 30 s leeway).
    for key in [Key::Rsa, Key::Ec, Key::Ed] {
        let mut claims = issuer.claims("dr-ada", json!({ "practice_id": f.practice, "role": "BACKOFFICE" }));
        claims["exp"] = json!(chrono::Utc::now().timestamp() - 5);
        let token = issuer.sign(key, &claims);
        let created = app.ok(&token, CREATE_PATIENT, json!({ "p": f.practice })).await;
        assert!(created["createPatient"]["id"].is_string(), "{key:?}");
    }
    let reader = issuer.token("front-desk", json!({ "practice_id": f.practice, "role": "SUBSCRIBER" }));
    assert_eq!(app.ok(&reader, PATIENT, json!({ "id": f.patient })).await["patient"]["id"], f.patient);
    assert_eq!(code(&app.gql(Some(&reader), CREATE_PATIENT, json!({ "p": f.practice })).await), "FORBIDDEN");
    // Another practice's records do not exist for it.
    let other = app.fixture().await;
    assert_eq!(code(&app.gql(Some(&reader), PATIENT, json!({ "id": other.patient })).await), "NOT_FOUND");
    // A global ADMIN (no practice_id) administers everything.
    let admin = issuer.token("ops", json!({ "role": "ADMIN" }));
    let created = app
        .ok(
            &admin,
            "mutation { createPractice(input: {name: \"By token\", timezone: \"UTC\", currency: \"USD\"}) { id } }",
            json!({}),
        )
        .await;
    assert!(created["createPractice"]["id"].is_string());
    // Keys keep working beside tokens.
    app.ok(&f.subscriber, PATIENT, json!({ "id": f.patient })).await;
}

#[tokio::test]
async fn a_persons_token_acts_in_its_role_sqlite() {
    a_persons_token_acts_in_its_role(Backend::Sqlite).await;
}

#[tokio::test]
async fn a_persons_token_acts_in_its_role_postgres() {
    a_persons_token_acts_in_its_role(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokens_expiry_closes_its_socket_and_a_fresh_token_keeps_it_open() {
    let issuer = TestIssuer::start().await;
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        issuer.configure(c);
        c.identity.jwt_leeway = Duration::ZERO;
    })
    .await
    else {
        return;
    };
    let f = app.fixture().await;
    let short = |subject: &str, seconds: i64| {
        let mut claims = issuer.claims(subject, json!({ "practice_id": f.practice, "role": "SUBSCRIBER" }));
        claims["exp"] = json!(chrono::Utc::now().timestamp() + seconds);
        issuer.sign(Key::Rsa, &claims)
    };
    // One socket refreshes its token before it expires; the other does not.
    let mut kept = subscriber(&app, &short("kim", 2), &f.practice, None).await;
    let mut lapsed = subscriber(&app, &short("lee", 2), &f.practice, None).await;
    // Another person's token, or another grant, is refused on the socket.
    kept.subscribe("r0", REFRESH, json!({ "k": short("someone-else", 600) })).await;
    let refused = kept.recv().await.unwrap();
    assert_eq!(refused["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    kept.recv().await; // its complete
    kept.subscribe("r1", REFRESH, json!({ "k": format!("Bearer {}", short("kim", 600)) })).await;
    let refreshed = kept.recv().await.unwrap();
    assert_eq!(refreshed["payload"]["data"]["refreshCredentials"], true, "{refreshed}");
    kept.recv().await; // its complete
    assert_eq!(closed_within(&mut lapsed, Duration::from_secs(5)).await, Some(4403), "the token's exp closed it");
    app.post_payment(&f.backoffice, &f.patient, 1).await;
    let event = kept.recv().await.expect("the refreshed socket kept its subscription");
    assert_eq!(event["payload"]["data"]["events"]["seq"], 2, "{event}");
}

fn logout_token(issuer: &TestIssuer, sid: Option<&str>, sub: Option<&str>) -> String {
    let now = chrono::Utc::now().timestamp();
    let mut claims = json!({
        "iss": issuer.url, "aud": AUDIENCE, "iat": now, "exp": now + 120, "jti": uuid::Uuid::now_v7().to_string(),
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} },
    });
    if let Some(sid) = sid {
        claims["sid"] = json!(sid);
    }
    if let Some(sub) = sub {
        claims["sub"] = json!(sub);
    }
    issuer.sign(Key::Ec, &claims)
}

async fn logout(app: &TestApp, token: &str) -> reqwest::Response {
    app.http().post(app.url("/oidc/backchannel-logout")).form(&[("logout_token", token)]).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issuers_back_channel_logout_closes_the_persons_sockets_and_refuses_their_tokens() {
    let issuer = TestIssuer::start().await;
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| issuer.configure(c)).await else { return };
    let f = app.fixture().await;
    let with_session = |subject: &str, sid: &str| {
        let mut claims = issuer.claims(subject, json!({ "practice_id": f.practice, "role": "BACKOFFICE" }));
        claims["sid"] = json!(sid);
        issuer.sign(Key::Rsa, &claims)
    };
    let (kim_phone, kim_desk, lee) =
        (with_session("kim", "s-phone"), with_session("kim", "s-desk"), with_session("lee", "s-lee"));
    let mut phone = subscriber(&app, &kim_phone, &f.practice, None).await;
    let mut desk = subscriber(&app, &kim_desk, &f.practice, None).await;
    let mut other = subscriber(&app, &lee, &f.practice, None).await;
    // Malformed or forged logout tokens change nothing.
    let mut forged = json!({ "iss": issuer.url, "aud": AUDIENCE, "iat": 1, "sid": "s-desk", "nonce": "n",
        "events": { "http://schemas.openid.net/event/backchannel-logout": {} } });
    let with_nonce = issuer.sign(Key::Rsa, &forged);
    forged.as_object_mut().unwrap().remove("nonce");
    forged["events"] = json!({});
    let without_event = issuer.sign(Key::Rsa, &forged);
    for bad in [with_nonce.as_str(), without_event.as_str(), "eyJ.not.a-token", ""] {
        let response = logout(&app, bad).await;
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    let no_form = app.http().post(app.url("/oidc/backchannel-logout")).json(&json!({})).send().await.unwrap();
    assert_eq!(no_form.status(), 400);
    // The session ends: that session's socket closes at once, the person's other session stays.
    let started = std::time::Instant::now();
    assert_eq!(logout(&app, &logout_token(&issuer, Some("s-phone"), None)).await.status(), 200);
    assert_eq!(closed_within(&mut phone, Duration::from_secs(2)).await, Some(4403));
    assert!(started.elapsed() < Duration::from_millis(500), "closed in {:?}", started.elapsed());
    assert_eq!(status(&app, &kim_phone).await, 401, "the session's token is refused");
    app.ok(&kim_desk, PATIENT, json!({ "id": f.patient })).await;
    // The person is logged out everywhere: every session of theirs closes; others live on.
    assert_eq!(logout(&app, &logout_token(&issuer, None, Some("kim"))).await.status(), 200);
    assert_eq!(closed_within(&mut desk, Duration::from_secs(2)).await, Some(4403));
    assert_eq!(status(&app, &kim_desk).await, 401, "the person's tokens are refused");
    app.post_payment(&f.backoffice, &f.patient, 1).await;
    assert_eq!(other.recv().await.expect("another person's socket lives on")["type"], "next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_out_at_the_issuer_stops_new_tokens_but_not_open_sockets() {
    let issuer = TestIssuer::start().await;
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| issuer.configure(c)).await else { return };
    let f = app.fixture().await;
    let token =
        |key: Key| issuer.sign(key, &issuer.claims("kim", json!({ "practice_id": f.practice, "role": "SUBSCRIBER" })));
    let mut open = subscriber(&app, &token(Key::Rsa), &f.practice, None).await;
    issuer.remove(Key::Rsa);
    // The key set is kept for its max-age (1 s here), then fetched again.
    let refused = crate::helpers::eventually(
        Duration::from_secs(4),
        async || status(&app, &token(Key::Rsa)).await,
        |s| *s == 401,
    );
    assert!(refused.await.is_ok(), "a token of the removed key is refused once the key set is fetched again");
    app.ok(&token(Key::Ec), PATIENT, json!({ "id": f.patient })).await;
    app.post_payment(&f.backoffice, &f.patient, 1).await;
    assert_eq!(open.recv().await.expect("the open socket stays open")["type"], "next");
}

#[tokio::test]
async fn identity_settings_that_make_no_sense_stop_the_start_naming_the_setting() {
    let Some(db) = crate::helpers::fresh_db(Backend::Sqlite).await else { return };
    for (issuer, audience, says) in [
        (Some("https://id.example"), None, "JWT_AUDIENCE is required"),
        (Some("http://id.example"), Some("api"), "must be an https URL"),
        (Some("not a url"), Some("api"), "is not a URL"),
    ] {
        let mut config = crate::helpers::test_config(&db.url);
        config.identity.oidc_issuer = issuer.map(Into::into);
        config.identity.jwt_audience = audience.map(Into::into);
        let Err(err) = clinicstream::App::build(config).await else { panic!("{issuer:?} started") };
        assert!(format!("{err:#}").contains(says), "{err:#}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_received_by_one_replica_closes_the_persons_sockets_on_another() {
    let Some(redis) = crate::redis_server::shared() else { return };
    let issuer = TestIssuer::start().await;
    let Some(replicas) = crate::helpers::spawn_replicas(2, &redis, |c| issuer.configure(c)).await else { return };
    let (first, second) = (&replicas[0], &replicas[1]);
    let f = first.fixture().await;
    let mut claims = issuer.claims("kim", json!({ "practice_id": f.practice, "role": "SUBSCRIBER" }));
    claims["sid"] = json!("s-tablet");
    let token = issuer.sign(Key::Rsa, &claims);
    let mut socket = subscriber(second, &token, &f.practice, None).await;
    assert_eq!(logout(first, &logout_token(&issuer, Some("s-tablet"), None)).await.status(), 200);
    assert_eq!(closed_within(&mut socket, Duration::from_secs(2)).await, Some(4403), "closed on the other replica");
    assert_eq!(status(second, &token).await, 401, "and its token refused there");
}
