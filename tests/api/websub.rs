//! The WebSub hub (`POST /websub`), against a subscriber written here from the W3C WebSub
//! Recommendation's text (a small axum receiver, not an independent implementation): it
//! discovers the hub from the topic's `Link` headers, subscribes, answers the intent
//! verification by echoing `hub.challenge`, checks `X-Hub-Signature` on each distribution,
//! renews, and unsubscribes; a callback that does not confirm never becomes active.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use hmac::{Hmac, Mac};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clinicstream::db::entities::webhook_endpoint;

use crate::helpers::{Backend, TestApp, code, eventually, fresh_db, spawn_app_with, spawn_replica_with, until};
use crate::webhooks::support::fast;

const SECRET: &str = "a subscriber's secret";

#[derive(Default)]
struct Seen {
    /// The verification requests' query parameters.
    verifications: Vec<HashMap<String, String>>,
    /// (seq, Link header, whether the signature verified)
    distributions: Vec<(i64, String, bool)>,
}

#[derive(Clone)]
struct Subscriber {
    seen: Arc<Mutex<Seen>>,
    /// Whether this callback confirms intents (the spec: echo hub.challenge with a 2xx).
    confirms: bool,
}

/// The spec, 5.3: "the subscriber MUST confirm that the hub.topic corresponds to a pending
/// subscription or unsubscription that it wishes to carry out. If so, the subscriber MUST
/// respond with an HTTP success (2xx) code with a response body equal to the hub.challenge
/// parameter. If the subscriber does not agree with the action, the subscriber MUST respond
/// with a 404 "Not Found" response."
async fn verify(State(s): State<Subscriber>, Query(query): Query<HashMap<String, String>>) -> (StatusCode, String) {
    s.seen.lock().unwrap().verifications.push(query.clone());
    match (s.confirms, query.get("hub.challenge")) {
        (true, Some(challenge)) => (StatusCode::OK, challenge.clone()),
        _ => (StatusCode::NOT_FOUND, String::new()),
    }
}

/// The spec, 8: "the subscriber MUST ... compute the HMAC signature and compare it with the
/// one in the X-Hub-Signature header"; "sha256=" and the hex signature.
async fn distribution(State(s): State<Subscriber>, headers: HeaderMap, body: axum::body::Bytes) -> StatusCode {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(&body);
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let signed = headers.get("x-hub-signature").and_then(|v| v.to_str().ok()) == Some(&format!("sha256={expected}"));
    let link = headers.get("link").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let event: Value = serde_json::from_slice(&body).unwrap_or_default();
    s.seen.lock().unwrap().distributions.push((event["seq"].as_i64().unwrap_or(-1), link, signed));
    StatusCode::OK
}

/// A subscriber on a free port: `/cb` confirms, `/refuses` does not.
async fn subscriber() -> (String, Arc<Mutex<Seen>>, Arc<Mutex<Seen>>) {
    let (good, bad) = (Arc::new(Mutex::new(Seen::default())), Arc::new(Mutex::new(Seen::default())));
    let app = Router::new()
        .route("/cb", get(verify).post(distribution))
        .with_state(Subscriber { seen: good.clone(), confirms: true })
        .merge(
            Router::new()
                .route("/refuses", get(verify).post(distribution))
                .with_state(Subscriber { seen: bad.clone(), confirms: false }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, good, bad)
}

/// POSTs the form to the hub: (status, body).
async fn hub(app: &TestApp, key: Option<&str>, form: &[(&str, &str)]) -> (u16, String) {
    let mut request = app.http().post(app.url("/websub")).form(form);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

const LIST: &str = "query($p: ID!) { websubSubscriptions(practiceId: $p) { callback topic signed leaseExpiresAt } }";

async fn subscriptions(app: &TestApp) -> Vec<webhook_endpoint::Model> {
    webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::Protocol.eq("WEBSUB"))
        .all(&app.state().services.domain.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_verifies_receives_signed_events_in_order_renews_and_unsubscribes() {
    let Some(app) = spawn_app_with(Backend::Sqlite, fast).await else { return };
    let f = app.fixture().await;
    let (callbacks, seen, refused) = subscriber().await;

    // Discovery: the topic URL names the hub and itself, and shows the recent events.
    let topic_get = app.http().get(app.url(&format!("/practices/{}/events", f.practice))).bearer_auth(&f.subscriber);
    let response = topic_get.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let link = response.headers()["link"].to_str().unwrap().to_string();
    let topic = app.url(&format!("/practices/{}/events", f.practice));
    assert_eq!(link, format!("<{}>; rel=\"hub\", <{topic}>; rel=\"self\"", app.url("/websub")));
    let recent: Value = response.json().await.unwrap();
    assert_eq!(recent["events"][0]["type"], "PATIENT_CREATED", "the recent events: {recent}");

    // Subscribe: 202, then the hub verifies; only then is the subscription active.
    let callback = format!("{callbacks}/cb");
    let form = [
        ("hub.mode", "subscribe"),
        ("hub.topic", topic.as_str()),
        ("hub.callback", callback.as_str()),
        ("hub.lease_seconds", "600"),
        ("hub.secret", SECRET),
    ];
    let (status, body) = hub(&app, Some(&f.subscriber), &form).await;
    assert_eq!(status, 202, "{body}");
    assert!(until(Duration::from_secs(10), || !seen.lock().unwrap().verifications.is_empty()).await);
    let verification = seen.lock().unwrap().verifications[0].clone();
    assert_eq!(verification["hub.mode"], "subscribe");
    assert_eq!(verification["hub.topic"], topic);
    assert_eq!(verification["hub.lease_seconds"], "600");
    for _ in 0..100 {
        if !subscriptions(&app).await.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first_lease = subscriptions(&app).await[0].lease_expires_at.expect("a lease");

    // A subscription whose callback does not confirm never becomes active.
    let bad_callback = format!("{callbacks}/refuses");
    let bad_form = [("hub.mode", "subscribe"), ("hub.topic", topic.as_str()), ("hub.callback", bad_callback.as_str())];
    assert_eq!(hub(&app, Some(&f.subscriber), &bad_form).await.0, 202);
    assert!(until(Duration::from_secs(10), || !refused.lock().unwrap().verifications.is_empty()).await);

    for _ in 0..5 {
        app.post_payment(&f.backoffice, &f.patient, 100).await;
    }
    assert!(until(Duration::from_secs(15), || seen.lock().unwrap().distributions.len() >= 5).await, "delivered");
    let delivered = seen.lock().unwrap().distributions.clone();
    assert_eq!(delivered.iter().map(|d| d.0).collect::<Vec<_>>(), [2, 3, 4, 5, 6], "in seq order, once");
    assert!(delivered.iter().all(|d| d.2), "every distribution is signed with the subscriber's secret");
    assert!(delivered.iter().all(|d| d.1 == link), "Link names the hub and the topic: {delivered:?}");
    assert_eq!(subscriptions(&app).await.len(), 1, "the unconfirmed subscription was never stored");
    assert!(refused.lock().unwrap().distributions.is_empty(), "and got nothing");

    // Renewing: verified again, a later lease, the same place in the log.
    let renew = [form[0], form[1], form[2], ("hub.lease_seconds", "900"), form[4]];
    assert_eq!(hub(&app, Some(&f.subscriber), &renew).await.0, 202);
    assert!(until(Duration::from_secs(10), || seen.lock().unwrap().verifications.len() >= 2).await);
    assert_eq!(seen.lock().unwrap().verifications[1]["hub.lease_seconds"], "900");
    let renewed = eventually(
        Duration::from_secs(10),
        async || subscriptions(&app).await,
        |rows| rows.len() == 1 && rows[0].lease_expires_at.unwrap() > first_lease,
    );
    assert!(renewed.await.is_ok(), "the lease was renewed");
    // The API (and the console) list it, without its secret, to those who manage endpoints.
    let listed = app.ok(&f.backoffice, LIST, json!({ "p": f.practice })).await;
    let listed = &listed["websubSubscriptions"];
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["callback"], callback.as_str());
    assert_eq!(listed[0]["topic"], topic.as_str());
    assert_eq!(listed[0]["signed"], true);
    assert!(listed[0].get("secret").is_none());
    let denied = app.gql(Some(&f.subscriber), LIST, json!({ "p": f.practice })).await;
    assert_eq!(code(&denied), "FORBIDDEN", "a SUBSCRIBER key may not list them: {denied}");
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    assert!(until(Duration::from_secs(15), || seen.lock().unwrap().distributions.len() >= 6).await);
    assert_eq!(seen.lock().unwrap().distributions[5].0, 7, "nothing twice across the renewal");

    // Unsubscribing: verified, then nothing more arrives.
    let unsubscribe = [("hub.mode", "unsubscribe"), ("hub.topic", topic.as_str()), ("hub.callback", callback.as_str())];
    assert_eq!(hub(&app, Some(&f.subscriber), &unsubscribe).await.0, 202);
    assert!(until(Duration::from_secs(10), || seen.lock().unwrap().verifications.len() >= 3).await);
    assert_eq!(seen.lock().unwrap().verifications[2]["hub.mode"], "unsubscribe");
    let gone = eventually(Duration::from_secs(2), async || subscriptions(&app).await, Vec::is_empty);
    assert!(gone.await.is_ok(), "unsubscribed");
    let listed = app.ok(&f.backoffice, LIST, json!({ "p": f.practice })).await;
    assert_eq!(listed["websubSubscriptions"], json!([]), "and no longer listed");
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(seen.lock().unwrap().distributions.len(), 6, "nothing after unsubscribing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hub_refuses_bad_requests_private_callbacks_and_other_practices_storing_nothing() {
    // Private destinations are not allowed here (the default).
    let issuer = crate::identity::issuer::TestIssuer::start().await;
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| issuer.configure(c)).await else { return };
    let f = app.fixture().await;
    let other = app.fixture().await;
    let topic = app.url(&format!("/practices/{}/events", f.practice));
    let theirs = app.url(&format!("/practices/{}/events", other.practice));
    let (callbacks, seen, _) = subscriber().await;
    let callback = format!("{callbacks}/cb");
    let sub = |t: &str, c: &str, lease: &str| {
        vec![
            ("hub.mode".to_string(), "subscribe".to_string()),
            ("hub.topic".to_string(), t.to_string()),
            ("hub.callback".to_string(), c.to_string()),
            ("hub.lease_seconds".to_string(), lease.to_string()),
        ]
    };
    let post = |form: Vec<(String, String)>, key: Option<String>| {
        let app = &app;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            hub(app, key.as_deref(), &form).await
        }
    };
    let key = Some(f.subscriber.clone());
    // The callback is on 127.0.0.1: refused unless WEBHOOK_ALLOW_PRIVATE allows it.
    let (status, body) = post(sub(&topic, &callback, "600"), key.clone()).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("BAD_USER_INPUT"), "{body}");
    for (form, expected) in [
        (sub(&topic, "https://example.com/cb", "1"), 400),
        (sub(&topic, "https://example.com/cb", "-1"), 400),
        (sub(&topic, "https://example.com/cb", "9999999999"), 400),
        (sub(&topic, "not a url", "600"), 400),
        (sub("http://elsewhere/practices/p/events", "https://example.com/cb", "600"), 400),
        (sub(&format!("{topic}?types=NOPE"), "https://example.com/cb", "600"), 400),
        (sub(&theirs, "https://example.com/cb", "600"), 404),
        (vec![("hub.mode".into(), "subscribe".into())], 400),
        (vec![("hub.mode".into(), "listen".into()), ("hub.topic".into(), topic.clone())], 400),
    ] {
        let (status, body) = post(form.clone(), key.clone()).await;
        assert_eq!(status, expected, "{form:?}: {body}");
    }
    assert_eq!(post(sub(&topic, "https://example.com/cb", "600"), None).await.0, 401, "no key");
    let patient = Some(issuer.patient(&f.practice, &f.patient));
    let (status, body) = post(sub(&topic, "https://example.com/cb", "600"), patient).await;
    assert_eq!(status, 403, "a patient's token would get every patient's events: {body}");
    let raw = app.http().post(app.url("/websub")).bearer_auth(&f.subscriber).body("{}").send().await.unwrap();
    assert_eq!(raw.status(), 415, "JSON is not the hub's format");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(subscriptions(&app).await.is_empty(), "nothing stored");
    assert!(seen.lock().unwrap().verifications.is_empty(), "nothing sent to a refused callback");
}

async fn subscribe_and_wait(app: &TestApp, key: &str, form: &[(&str, &str)], seen: &Arc<Mutex<Seen>>) {
    let before = seen.lock().unwrap().verifications.len();
    assert_eq!(hub(app, Some(key), form).await.0, 202);
    assert!(until(Duration::from_secs(10), || seen.lock().unwrap().verifications.len() > before).await);
    for _ in 0..100 {
        if !subscriptions(app).await.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the subscription was not stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_survives_a_restart_and_ends_with_its_lease() {
    let Some(db) = fresh_db(Backend::Sqlite).await else { return };
    let clock = Arc::new(clinicstream::clock::ManualClock::new(chrono::Utc::now()));
    let first = spawn_replica_with(&db, clock.clone(), fast).await;
    let f = first.fixture().await;
    let (callbacks, seen, _) = subscriber().await;
    let (topic, callback) = (first.url(&format!("/practices/{}/events", f.practice)), format!("{callbacks}/cb"));
    let form = [
        ("hub.mode", "subscribe"),
        ("hub.topic", topic.as_str()),
        ("hub.callback", callback.as_str()),
        ("hub.lease_seconds", "60"),
        ("hub.secret", SECRET),
    ];
    subscribe_and_wait(&first, &f.subscriber, &form, &seen).await;
    first.stop().await;

    // Another server process over the same database delivers it.
    let second = spawn_replica_with(&db, clock.clone(), fast).await;
    second.post_payment(&f.backoffice, &f.patient, 100).await;
    assert!(until(Duration::from_secs(15), || seen.lock().unwrap().distributions.len() == 1).await, "delivered");
    assert_eq!(seen.lock().unwrap().distributions[0].0, 2);

    // Past the lease, nothing more is sent.
    clock.advance(chrono::Duration::seconds(61));
    second.post_payment(&f.backoffice, &f.patient, 100).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(seen.lock().unwrap().distributions.len(), 1, "the lease ended");
}
