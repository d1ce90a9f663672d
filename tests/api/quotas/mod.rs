//! Quotas per practice, set by a global ADMIN and enforced on every replica from shared
//! counts: each refuses the first operation past it with QUOTA_EXCEEDED on every door
//! (429 + Retry-After over HTTP, an `error` message on sockets, close 4029 for a
//! connection); bad values change nothing.

use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::{ADMIN_KEY, Backend, TestApp, code, eventually, spawn_app, spawn_replicas};
use crate::redis_server::shared;
use crate::waits::wait_subscribed;
use clinicstream::events::StreamTransport;
use clinicstream::limits::quota::Quota;
use clinicstream::webhooks::Allowlist;

use crate::ws_client::{LEGACY_WS, TRANSPORT_WS, WsClient};

mod daily;
mod single_read;

const SET: &str = "mutation($i: SetPracticeQuotaInput!) { setPracticeQuota(input: $i) {
  maxConnections maxSubscriptions maxMutationsPerMinute maxDeliveriesPerDay maxWebhookEndpoints
  use { connections subscriptions mutationsLastMinute deliveriesToday webhookEndpoints } } }";
const QUOTA: &str = "query($p: ID!) { practice(id: $p) { quota { maxConnections maxSubscriptions maxMutationsPerMinute
  maxDeliveriesPerDay maxWebhookEndpoints use { connections subscriptions mutationsLastMinute deliveriesToday webhookEndpoints } } } }";
pub const EVENTS: &str = "subscription($p: ID!) { events(practiceId: $p) { seq } }";
const CREATE_ENDPOINT: &str = "mutation($p: ID!) { createWebhookEndpoint(input: {practiceId: $p, url: \"http://127.0.0.1:9/hooks\"}) { endpoint { id } } }";

pub async fn set(app: &TestApp, input: Value) -> Value {
    app.gql(Some(ADMIN_KEY), SET, json!({ "i": input })).await
}

/// A request the quota refuses: its status and body.
async fn post_refused(app: &TestApp, key: &str, query: &str, variables: Value) -> (u16, Value) {
    let response =
        app.http().post(app.url("/graphql")).bearer_auth(key).json(&json!({ "query": query, "variables": variables }));
    let response = response.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

pub async fn quota(app: &TestApp, key: &str, practice: &str) -> Value {
    app.ok(key, QUOTA, json!({ "p": practice })).await["practice"]["quota"].clone()
}

/// Asserts a QUOTA_EXCEEDED error naming `quota` and `limit`.
fn assert_exceeded(error: &Value, quota: &str, limit: i64) {
    let extensions = &error["extensions"];
    assert_eq!(extensions["code"], "QUOTA_EXCEEDED", "{error}");
    assert_eq!(extensions["quota"], quota, "{error}");
    assert_eq!(extensions["limit"], limit, "{error}");
    assert!(extensions["retryAfter"].as_u64().is_some(), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_global_admin_sets_quotas_and_bad_values_change_nothing() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let unlimited = quota(&app, &f.subscriber, &f.practice).await;
    assert!(unlimited["maxConnections"].is_null() && unlimited["maxWebhookEndpoints"].is_null(), "{unlimited}");
    let body = set(&app, json!({ "practiceId": f.practice, "maxConnections": 5, "maxMutationsPerMinute": 100 })).await;
    assert_eq!(body["data"]["setPracticeQuota"]["maxConnections"], 5, "{body}");
    assert_eq!(body["data"]["setPracticeQuota"]["maxMutationsPerMinute"], 100);
    assert!(body["data"]["setPracticeQuota"]["maxSubscriptions"].is_null(), "absent is unlimited");
    let practice_admin = app
        .gql(Some(&f.practice_admin), SET, json!({ "i": { "practiceId": f.practice, "maxConnections": 1000 } }))
        .await;
    assert_eq!(code(&practice_admin), "FORBIDDEN", "a practice's own ADMIN may not raise its quota");
    let bad = [
        json!({ "practiceId": f.practice, "maxConnections": -1 }),
        json!({ "practiceId": f.practice, "maxSubscriptions": 1_000_000_001 }),
        json!({ "practiceId": f.practice, "maxMutationsPerMinute": 99_999_999_999_i64 }),
        json!({ "practiceId": f.practice, "maxDeliveriesPerDay": "lots" }),
        json!({ "practiceId": f.practice, "maxWebhookEndpoints": 1.5 }),
        json!({ "practiceId": "x".repeat(10_000), "maxConnections": 1 }),
        json!({ "practiceId": f.practice, "maxConnections": 1, "extra": true }),
    ];
    for input in bad {
        let body = set(&app, input.clone()).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{input} -> {body}");
    }
    let unknown = set(&app, json!({ "practiceId": "prc_nope", "maxConnections": 1 })).await;
    assert_eq!(code(&unknown), "NOT_FOUND");
    let kept = quota(&app, &f.subscriber, &f.practice).await;
    assert_eq!(
        (kept["maxConnections"].as_i64(), kept["maxMutationsPerMinute"].as_i64()),
        (Some(5), Some(100)),
        "{kept}"
    );
    // Setting all at once: nulls lift them.
    set(&app, json!({ "practiceId": f.practice })).await;
    assert!(quota(&app, &f.subscriber, &f.practice).await["maxConnections"].is_null());
}

/// Waits until `replica`'s cached quota of `practice` satisfies `seen`, for at most the
/// 100 ms a change has to reach every replica through the control channel (its cache
/// alone would keep the old one for a second).
async fn sees_quota(replica: &TestApp, practice: &str, seen: impl Fn(&Quota) -> bool) {
    let limits = &replica.state().services.domain.limits;
    let cached = async || limits.quota(practice).await;
    let got = eventually(Duration::from_millis(100), cached, |q| seen(q)).await;
    assert!(got.is_ok(), "the other replica still holds {:?}", got.unwrap_err());
}

/// Waits out the end of a UTC minute, so a per-minute count is not reset mid-test.
async fn not_near_a_minute_boundary() {
    use chrono::Timelike;
    let second = chrono::Utc::now().second();
    if second >= 45 {
        // timing: the per-minute count is over the clock's UTC minutes, and these replicas
        // (with Redis) run on the wall clock; only real time reaches the next minute.
        tokio::time::sleep(Duration::from_secs(u64::from(61 - second))).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_per_minute_and_webhook_endpoints_are_counted_across_replicas() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |c| c.webhooks.allow_private = Allowlist::any()).await else {
        return;
    };
    not_near_a_minute_boundary().await;
    let f = replicas[0].fixture().await;
    // The fixture's own mutations count: the quota leaves room for four more.
    let before = quota(&replicas[0], &f.backoffice, &f.practice).await["use"]["mutationsLastMinute"].as_i64().unwrap();
    assert!(before >= 1, "the fixture's mutations are counted ({before})");
    let max = before + 4;
    set(&replicas[0], json!({ "practiceId": f.practice, "maxMutationsPerMinute": max, "maxWebhookEndpoints": 1 }))
        .await;
    let logged = replicas[0].log(&f.practice).await.len();
    for i in 0..4 {
        let body = replicas[i % 2].post_payment(&f.backoffice, &f.patient, 1).await;
        assert!(body.get("errors").is_none(), "mutation {i} is within the quota: {body}");
    }
    let response = replicas[1]
        .http()
        .post(replicas[1].url("/graphql"))
        .bearer_auth(&f.backoffice)
        .json(&json!({ "query": "mutation($p: ID!) { postPayment(input: {patientId: $p, amountCents: 1, method: CARD}) { id } }", "variables": { "p": f.patient } }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429, "the fifth mutation of the minute, on either replica");
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_exceeded(&body["errors"][0], "maxMutationsPerMinute", max);
    assert_eq!(replicas[0].log(&f.practice).await.len(), logged + 4, "the refused mutation wrote nothing");
    // Over a socket the same refusal.
    let mut client = WsClient::connect(replicas[0].addr, TRANSPORT_WS, &f.backoffice).await;
    client
        .subscribe(
            "m",
            "mutation($p: ID!) { postPayment(input: {patientId: $p, amountCents: 1, method: CARD}) { id } }",
            json!({ "p": f.patient }),
        )
        .await;
    let refused = client.recv().await.unwrap();
    assert_eq!(refused["type"], "error", "an `error` message for the operation: {refused}");
    assert_exceeded(&refused["payload"][0], "maxMutationsPerMinute", max);
    assert!(client.recv_within(Duration::from_millis(300)).await.is_none(), "no `complete` after `error`");
    let used = quota(&replicas[1], &f.backoffice, &f.practice).await;
    assert_eq!(used["use"]["mutationsLastMinute"], max, "refusals are not counted: {used}");
    // Raising it lets mutations through at once on the other replica (the control channel).
    set(&replicas[0], json!({ "practiceId": f.practice, "maxMutationsPerMinute": max + 1, "maxWebhookEndpoints": 1 }))
        .await;
    sees_quota(&replicas[1], &f.practice, |q| q.max_mutations_per_minute == Some(max + 1)).await;
    let body = replicas[1].post_payment(&f.backoffice, &f.patient, 1).await;
    assert!(body.get("errors").is_none(), "{body}");
    // Webhook endpoints: the first fits, the second is refused.
    replicas[0].ok(&f.backoffice, CREATE_ENDPOINT, json!({ "p": f.practice })).await;
    let (status, second) = post_refused(&replicas[1], &f.backoffice, CREATE_ENDPOINT, json!({ "p": f.practice })).await;
    assert_eq!(status, 429);
    assert_exceeded(&second["errors"][0], "maxWebhookEndpoints", 1);
    assert_eq!(quota(&replicas[1], &f.backoffice, &f.practice).await["use"]["webhookEndpoints"], 1);
}

async fn init(app: &TestApp, protocol: &'static str, key: &str) -> WsClient {
    let mut client = WsClient::open(app.addr, protocol).await;
    client.send(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {key}") } })).await;
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_and_subscriptions_are_counted_across_replicas_on_every_door() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |_| {}).await else { return };
    let f = replicas[0].fixture().await;
    set(&replicas[0], json!({ "practiceId": f.practice, "maxConnections": 2, "maxSubscriptions": 1 })).await;
    let mut a = WsClient::connect(replicas[0].addr, TRANSPORT_WS, &f.subscriber).await;
    let _b = WsClient::connect(replicas[1].addr, LEGACY_WS, &f.backoffice).await;
    // A third connection of the practice, by any key, on any replica, either protocol.
    for (replica, protocol) in [(&replicas[0], TRANSPORT_WS), (&replicas[1], LEGACY_WS)] {
        let mut third = init(replica, protocol, &f.practice_admin).await;
        let closed = tokio::time::timeout(Duration::from_secs(5), third.closed()).await.ok().flatten();
        assert_eq!(closed, Some(4029), "closed with 4029 over quota");
    }
    let sse = crate::sse_client::post(&replicas[1], Some(&f.subscriber), "{ __typename }", json!({}), None).await;
    assert_eq!(sse.status(), 429, "an SSE stream is a connection too");
    assert!(sse.headers().contains_key("retry-after"));
    let body: Value = sse.json().await.unwrap();
    assert_exceeded(&body["errors"][0], "maxConnections", 2);
    // Another practice is not affected.
    let other = replicas[1].fixture().await;
    WsClient::connect(replicas[1].addr, TRANSPORT_WS, &other.subscriber).await;
    // Subscriptions: the first is allowed, the second (on a socket) is an `error`.
    a.subscribe("1", EVENTS, json!({ "p": f.practice })).await;
    a.subscribe("2", EVENTS, json!({ "p": f.practice })).await;
    let refused = a.recv().await.unwrap();
    assert_eq!((refused["id"].as_str(), refused["type"].as_str()), (Some("2"), Some("error")), "{refused}");
    assert_exceeded(&refused["payload"][0], "maxSubscriptions", 1);
    let used = quota(&replicas[1], &f.subscriber, &f.practice).await;
    assert_eq!(
        (used["use"]["connections"].as_i64(), used["use"]["subscriptions"].as_i64()),
        (Some(2), Some(1)),
        "{used}"
    );
    // Queries on a socket are not subscriptions.
    a.subscribe("q", "{ __typename }", json!({})).await;
    assert_eq!(a.next_data("q").await["data"]["__typename"], "Query");
    // With room for connections, a multipart subscription is still over maxSubscriptions.
    set(&replicas[0], json!({ "practiceId": f.practice, "maxConnections": 10, "maxSubscriptions": 1 })).await;
    sees_quota(&replicas[1], &f.practice, |q| q.max_connections == Some(10)).await;
    let multipart =
        crate::multipart_client::post(&replicas[1], Some(&f.subscriber), EVENTS, json!({ "p": f.practice })).await;
    assert_eq!(multipart.status(), 429);
    let body: Value = multipart.json().await.unwrap();
    assert_exceeded(&body["errors"][0], "maxSubscriptions", 1);
    // Completing the subscription frees its slot on every replica.
    a.send(json!({ "id": "1", "type": "complete" })).await;
    let practice = f.practice.clone();
    let subscriptions = async || quota(&replicas[1], &f.subscriber, &practice).await["use"]["subscriptions"].clone();
    let freed = eventually(Duration::from_millis(2500), subscriptions, |n| *n == 0).await.is_ok();
    assert!(freed, "the completed subscription gave its slot back");
    let mut stream =
        crate::sse_client::SseStream::open(&replicas[1], &f.subscriber, EVENTS, json!({ "p": f.practice }), None).await;
    replicas[0].post_payment(&f.backoffice, &f.patient, 1).await;
    let (_, data) = stream.next_data().await;
    assert!(data["data"]["events"]["seq"].as_i64().is_some(), "{data}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_delivery_over_the_daily_quota_is_held_back_and_arrives_once_it_is_raised() {
    use crate::webhooks::receiver::Receiver;
    use crate::webhooks::support::{create_endpoint, deliveries, fast, pay};
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, fast).await else { return };
    let f = replicas[0].fixture().await;
    let receiver = Receiver::start().await;
    let (endpoint, _) =
        create_endpoint(&replicas[0], &f.backoffice, &f.practice, &receiver.url("/hooks"), json!(null)).await;
    set(&replicas[0], json!({ "practiceId": f.practice, "maxDeliveriesPerDay": 2 })).await;
    pay(&replicas[1], &f.backoffice, &f.patient, 3).await;
    let wait = Duration::from_secs(10);
    receiver.wait_for(wait, |r| r.len() == 2).await;
    // timing: a negative check; the third must not arrive while both workers poll.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.requests().len(), 2, "the third is held back, on both replicas' workers");
    let held: Vec<Value> = deliveries(&replicas[1], &f.backoffice, &endpoint)
        .await
        .into_iter()
        .filter(|d| d["status"] == "PENDING")
        .collect();
    assert_eq!(held.len(), 1, "still PENDING, never dropped: {held:?}");
    assert_eq!(held[0]["attemptCount"], 0, "not attempted: {held:?}");
    assert_eq!(quota(&replicas[1], &f.backoffice, &f.practice).await["use"]["deliveriesToday"], 2);
    set(&replicas[1], json!({ "practiceId": f.practice, "maxDeliveriesPerDay": 10 })).await;
    let received = receiver.wait_for(wait, |r| r.len() == 3).await;
    let seqs: Vec<i64> = received.iter().map(|r| r.seq()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    assert_eq!(quota(&replicas[0], &f.backoffice, &f.practice).await["use"]["deliveriesToday"], 3);
}

/// Seqs of the `events` data a websocket receives for `id` within `wait` of each other.
async fn ws_seqs(client: &mut WsClient, id: &str, wait: Duration) -> Vec<i64> {
    let mut seqs = Vec::new();
    while let Some(message) = client.recv_within(wait).await {
        assert_eq!((message["id"].as_str(), message["type"].as_str()), (Some(id), Some("next")), "{message}");
        seqs.push(message["payload"]["data"]["events"]["seq"].as_i64().expect("a seq"));
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_over_the_daily_quota_is_held_back_and_catches_up_once_it_is_raised() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |_| {}).await else { return };
    let f = replicas[0].fixture().await;
    let before = replicas[0].log(&f.practice).await.len();
    set(&replicas[0], json!({ "practiceId": f.practice, "maxDeliveriesPerDay": 2 })).await;
    let mut ws = WsClient::connect(replicas[1].addr, TRANSPORT_WS, &f.subscriber).await;
    ws.subscribe("1", EVENTS, json!({ "p": f.practice })).await;
    wait_subscribed(&replicas[1], StreamTransport::Websocket, 1).await;
    for cents in 1..=5 {
        replicas[0].post_payment(&f.backoffice, &f.patient, cents).await;
    }
    let log: Vec<i64> = replicas[0].log(&f.practice).await[before..].iter().map(|(seq, _)| *seq).collect();
    assert_eq!(log.len(), 5, "one event per payment: {log:?}");
    let first = ws_seqs(&mut ws, "1", Duration::from_millis(1500)).await;
    assert_eq!(first, log[..2], "exactly the first two, then held back");
    let used = quota(&replicas[1], &f.subscriber, &f.practice).await;
    assert_eq!(used["use"]["deliveriesToday"], 2, "{used}");
    set(&replicas[0], json!({ "practiceId": f.practice, "maxDeliveriesPerDay": 10 })).await;
    let rest = ws_seqs(&mut ws, "1", Duration::from_secs(3)).await;
    assert_eq!(rest, log[2..], "the other three from the log, in order, exactly once");
    let used = quota(&replicas[0], &f.subscriber, &f.practice).await;
    assert_eq!(used["use"]["deliveriesToday"], 5, "{used}");
    // Live again: the next event arrives as it comes, and counts.
    replicas[0].post_payment(&f.backoffice, &f.patient, 6).await;
    let next = ws_seqs(&mut ws, "1", Duration::from_secs(2)).await;
    assert_eq!(next.len(), 1, "{next:?}");
}

/// Seqs of the `next` events an SSE stream receives within `wait` of each other.
async fn sse_seqs(stream: &mut crate::sse_client::SseStream, wait: Duration) -> Vec<i64> {
    let mut seqs = Vec::new();
    while let Ok(Some(message)) = stream.next_within(wait).await {
        assert_eq!(message.event, "next", "{message:?}");
        seqs.push(message.json()["data"]["events"]["seq"].as_i64().expect("a seq"));
    }
    seqs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sse_subscriber_over_the_daily_quota_is_held_back_and_catches_up_once_it_is_raised() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |_| {}).await else { return };
    let f = replicas[0].fixture().await;
    let before = replicas[0].log(&f.practice).await.len();
    set(&replicas[0], json!({ "practiceId": f.practice, "maxDeliveriesPerDay": 2 })).await;
    let mut stream =
        crate::sse_client::SseStream::open(&replicas[1], &f.subscriber, EVENTS, json!({ "p": f.practice }), None).await;
    wait_subscribed(&replicas[1], StreamTransport::Sse, 1).await;
    for cents in 1..=5 {
        replicas[0].post_payment(&f.backoffice, &f.patient, cents).await;
    }
    let log: Vec<i64> = replicas[0].log(&f.practice).await[before..].iter().map(|(seq, _)| *seq).collect();
    assert_eq!(log.len(), 5, "one event per payment: {log:?}");
    assert_eq!(sse_seqs(&mut stream, Duration::from_millis(1500)).await, log[..2], "two, then held back");
    set(&replicas[0], json!({ "practiceId": f.practice, "maxDeliveriesPerDay": 10 })).await;
    assert_eq!(sse_seqs(&mut stream, Duration::from_secs(3)).await, log[2..], "the rest, in order, once");
}
