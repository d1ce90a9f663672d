//! The audit trail names the person: with access tokens from the real OpenID Provider, a
//! person's rows on every door (HTTP; a websocket of either protocol with a shared feed, a
//! subscription that runs on its own and a live query; SSE; multipart) carry their subject
//! and name and no key id, keys' rows keep their key id and no subject, and
//! `auditLog(subject:)` returns one person's rows and no one else's. Their usage is
//! counted under their client, `client:<client id>`.

use serde_json::{Value, json};
use std::collections::BTreeSet;

use super::{USAGE, audit_until, audit_where, fast_flush};
use crate::helpers::{ADMIN_KEY, Backend, TestApp, spawn_app_with};
use crate::multipart_client::Parts;
use crate::oidc::{self, Account, Issuer, IssuerOptions};
use crate::sse_client::SseStream;
use crate::ws_client::{LEGACY_WS, TRANSPORT_WS, WsClient};

const READ: &str = "query ReadPatient($id: ID!) { patient(id: $id) { id firstName } }";
const WATCH: &str = "subscription Watch($p: ID!) { paymentPosted(practiceId: $p) { seq patient { id } } }";
const TWO: &str = "subscription Two($p: ID!) {
  paymentPosted(practiceId: $p) { seq patient { id } }
  patientCreated(practiceId: $p) { seq }
}";
const LIVE: &str = "query Balance($id: ID!) @live { patient(id: $id) { id balanceCents } }";

/// (subject, name) of the two people the provider signs in.
const ADA: (&str, &str) = ("dr-ada", "Dr. Ada Park");
const BEN: (&str, &str) = ("front-desk-ben", "Ben Ito");

fn by<'a>(log: &'a [Value], subject: &str) -> Vec<&'a Value> {
    log.iter().filter(|r| r["subject"] == subject).collect()
}

fn count(rows: &[&Value], action: &str, transport: &str) -> usize {
    rows.iter().filter(|r| r["action"] == action && r["transport"] == transport).count()
}

/// Events delivered to `name` (an operation) through `transport`, over its DELIVER rows.
fn delivered(rows: &[&Value], transport: &str, name: &str) -> i64 {
    let of = |r: &&&Value| r["action"] == "DELIVER" && r["transport"] == transport && r["operationName"] == name;
    rows.iter().filter(of).map(|r| r["deliveries"].as_i64().unwrap()).sum()
}

fn ids<'a>(rows: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    rows.into_iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
}

/// The practice's usage over the last and next day, confined to `key`.
async fn usage_of(app: &TestApp, practice: &str, key: &str) -> Value {
    let now = chrono::Utc::now();
    let (from, to) = (now - chrono::Duration::days(1), now + chrono::Duration::days(1));
    app.ok(ADMIN_KEY, USAGE, json!({ "p": practice, "f": from, "t": to, "k": key })).await["usage"].clone()
}

async fn a_persons_audit_rows_name_them_on_every_door(backend: Backend) {
    let Some(issuer) = Issuer::start(IssuerOptions::default()).await else { return };
    let issuer_url = issuer.issuer_url().to_string();
    let Some(app) = spawn_app_with(backend, |c| {
        fast_flush(c);
        c.identity.oidc_issuer = Some(issuer_url);
        c.identity.jwt_audience = Some(oidc::DEFAULT_AUDIENCE.into());
    })
    .await
    else {
        return;
    };
    let f = app.fixture().await;
    issuer.account(&Account::new(ADA.0, ADA.1, "BACKOFFICE").practice(&f.practice)).await;
    issuer.account(&Account::new(BEN.0, BEN.1, "SUBSCRIBER").practice(&f.practice)).await;
    let ada = issuer.token(ADA.0).await.access_token;
    let ben = issuer.token(BEN.0).await.access_token;
    let (p, patient) = (json!({ "p": f.practice }), json!({ "id": f.patient }));

    // HTTP: both people read the patient, and so does a key.
    for who in [&ada, &ben, &f.backoffice] {
        assert_eq!(app.ok(who, READ, patient.clone()).await["patient"]["id"], json!(f.patient));
    }
    // Ada on a websocket: the hub's shared feed, a subscription that runs on its own, a
    // live query; on SSE and multipart: the shared feed. Ben on the legacy protocol; a key.
    let mut ws = WsClient::connect(app.addr, TRANSPORT_WS, &ada).await;
    ws.subscribe("watch", WATCH, p.clone()).await;
    ws.subscribe("two", TWO, p.clone()).await;
    ws.subscribe("live", LIVE, patient.clone()).await;
    assert_eq!(ws.next_data("live").await["data"]["patient"]["id"], json!(f.patient));
    let mut sse = SseStream::open(&app, &ada, WATCH, p.clone(), None).await;
    let mut parts = Parts::open(&app, &ada, WATCH, p.clone()).await;
    let mut legacy = WsClient::connect(app.addr, LEGACY_WS, &ben).await;
    legacy.subscribe("watch", WATCH, p.clone()).await;
    let mut keyed = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    keyed.subscribe("watch", WATCH, p.clone()).await;
    audit_until(&app, &f.practice, |log| {
        let (ada, ben) = (by(log, ADA.0), by(log, BEN.0));
        count(&ada, "SUBSCRIBE", "WEBSOCKET") == 3
            && count(&ada, "SUBSCRIBE", "SSE") == 1
            && count(&ada, "SUBSCRIBE", "MULTIPART") == 1
            && count(&ben, "SUBSCRIBE", "WEBSOCKET") == 1
            && log.iter().any(|r| r["action"] == "SUBSCRIBE" && r["apiKeyId"].is_string())
    })
    .await;

    // A payment (by a key) reaches every one of them.
    let body = app.post_payment(&f.backoffice, &f.patient, 5).await;
    assert!(body.get("errors").is_none(), "{body}");
    let mut got = BTreeSet::new();
    while got.len() < 3 {
        let message = ws.recv().await.expect("the payment on watch and two, the balance on live");
        got.insert(message["id"].as_str().unwrap().to_string());
    }
    assert_eq!(sse.next_data().await.1["data"]["paymentPosted"]["patient"]["id"], json!(f.patient));
    assert_eq!(parts.next_payload().await["payload"]["data"]["paymentPosted"]["patient"]["id"], json!(f.patient));
    assert_eq!(legacy.next_data("watch").await["data"]["paymentPosted"]["patient"]["id"], json!(f.patient));
    assert_eq!(keyed.next_data("watch").await["data"]["paymentPosted"]["patient"]["id"], json!(f.patient));
    ws.close().await;
    legacy.close().await;
    keyed.close().await;
    drop((sse, parts));

    let log = audit_until(&app, &f.practice, |log| {
        let (ada, ben) = (by(log, ADA.0), by(log, BEN.0));
        let keyed: Vec<&Value> = log.iter().filter(|r| r["apiKeyId"].is_string()).collect();
        ["WEBSOCKET", "SSE", "MULTIPART"]
            .iter()
            .all(|door| count(&ada, "UNSUBSCRIBE", door) == count(&ada, "SUBSCRIBE", door))
            && [("WEBSOCKET", "Watch", 1), ("WEBSOCKET", "Two", 1), ("WEBSOCKET", "Balance", 2), ("SSE", "Watch", 1)]
                .iter()
                .chain(&[("MULTIPART", "Watch", 1)])
                .all(|(door, name, n)| delivered(&ada, door, name) == *n)
            && count(&ben, "UNSUBSCRIBE", "WEBSOCKET") == 1
            && delivered(&ben, "WEBSOCKET", "Watch") == 1
            && count(&keyed, "UNSUBSCRIBE", "WEBSOCKET") == 1
            && delivered(&keyed, "WEBSOCKET", "Watch") == 1
    })
    .await;
    let ours = json!([f.patient]);

    // Each person's rows name them, in their role, and no key.
    for ((subject, name), role) in [(ADA, "BACKOFFICE"), (BEN, "SUBSCRIBER")] {
        let rows = by(&log, subject);
        assert!(
            rows.iter().all(|r| r["actorName"] == name && r["role"] == role && r["apiKeyId"].is_null()),
            "{rows:#?}"
        );
        assert_eq!(count(&rows, "READ", "HTTP"), 1, "{rows:#?}");
        assert!(
            rows.iter().filter(|r| r["action"] == "READ" || r["action"] == "DELIVER").all(|r| r["patientIds"] == ours)
        );
    }
    let ada_rows = by(&log, ADA.0);
    // Keys' rows keep the key id, and name no person.
    let keyed_rows: Vec<&Value> = log.iter().filter(|r| r["apiKeyId"].is_string()).collect();
    assert!(keyed_rows.iter().all(|r| r["subject"].is_null() && r["actorName"].is_null()), "{keyed_rows:#?}");
    assert!(count(&keyed_rows, "READ", "HTTP") == 1 && count(&keyed_rows, "CHANGE", "HTTP") == 2);
    assert_eq!(log.len(), ada_rows.len() + by(&log, BEN.0).len() + keyed_rows.len(), "every row names someone");

    // auditLog(subject:) returns exactly one person's rows, page by page, newest first.
    let admin = &f.practice_admin;
    let hers = audit_where(&app, admin, &f.practice, json!({ "s": ADA.0 })).await;
    assert_eq!(ids(&hers), ids(ada_rows.iter().copied()));
    assert_eq!(
        hers.iter().map(|r| &r["id"]).collect::<Vec<_>>(),
        ada_rows.iter().map(|r| &r["id"]).collect::<Vec<_>>()
    );
    let his = audit_where(&app, admin, &f.practice, json!({ "s": BEN.0 })).await;
    assert_eq!(ids(&his), ids(by(&log, BEN.0)));
    // With the patient filter too; and a subject no one has, or a key's id, finds nothing.
    let hers_of_patient = audit_where(&app, admin, &f.practice, json!({ "s": ADA.0, "pt": f.patient })).await;
    assert!(!hers_of_patient.is_empty() && hers_of_patient.iter().all(|r| r["subject"] == ADA.0));
    assert!(hers_of_patient.iter().all(|r| r["patientIds"] == ours));
    let key_id = keyed_rows[0]["apiKeyId"].as_str().unwrap();
    for nobody in ["dr-adam", "dr-ad", "%", key_id] {
        assert!(audit_where(&app, admin, &f.practice, json!({ "s": nobody })).await.is_empty(), "{nobody}");
    }
    // Another practice's trail holds none of her rows.
    let other = app.fixture().await;
    assert!(audit_where(&app, ADMIN_KEY, &other.practice, json!({ "s": ADA.0 })).await.is_empty());

    // Usage: both people's operations are counted under their client, the key's under its id.
    let client = format!("client:{}", oidc::CLIENT_ID);
    let read = async || usage_of(&app, &f.practice, &client).await;
    let within = std::time::Duration::from_secs(5);
    let usage = crate::helpers::eventually(within, read, |u| u["subscriptions"] == 6).await.unwrap_or_else(|u| u);
    assert_eq!(usage["apiKeyId"], json!(client), "{usage:#}");
    assert_eq!((&usage["queries"], &usage["subscriptions"]), (&json!(2), &json!(6)), "{usage:#}");
    assert_eq!(usage["mutations"], 0, "{usage:#}");
    let subscriber = keyed_rows.iter().find(|r| r["action"] == "SUBSCRIBE").unwrap()["apiKeyId"].as_str().unwrap();
    let keyed = usage_of(&app, &f.practice, subscriber).await;
    assert_eq!(keyed["subscriptions"], 1, "the subscriber key's figures hold its own only: {keyed:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_audit_rows_name_them_on_every_door_sqlite() {
    a_persons_audit_rows_name_them_on_every_door(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persons_audit_rows_name_them_on_every_door_postgres() {
    a_persons_audit_rows_name_them_on_every_door(Backend::Postgres).await;
}
