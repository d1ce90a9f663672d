//! GraphQL over SSE (`/graphql/stream`, graphql-sse distinct connections mode): events
//! carry their cursor as the SSE id, `Last-Event-ID` resumes, hostile input gets the
//! protocol's answer, revoked keys and draining end streams.

use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::{ADMIN_KEY, Backend, TestApp, code, spawn_app};
use crate::on_both_backends;
use crate::sse_client::{SseStream, post};

on_both_backends!(
    a_subscription_streams_events_with_their_cursor_as_the_sse_id,
    last_event_id_resumes_with_no_gap_and_no_duplicate,
    a_revoked_keys_stream_is_closed
);

pub const EVENTS: &str = "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq type } }";

/// The practice's current `lastCursor`: subscribing after it gets everything from now on.
pub async fn last_cursor(app: &TestApp, key: &str, practice: &str) -> String {
    let data = app.ok(key, "query($p: ID!) { practice(id: $p) { lastCursor } }", json!({ "p": practice })).await;
    data["practice"]["lastCursor"].as_str().unwrap().to_string()
}

async fn a_subscription_streams_events_with_their_cursor_as_the_sse_id(app: TestApp) {
    let f = app.fixture().await;
    let from_now = last_cursor(&app, &f.subscriber, &f.practice).await;
    let mut stream =
        SseStream::open(&app, &f.subscriber, EVENTS, json!({ "p": f.practice, "a": from_now }), None).await;
    app.post_payment(&f.backoffice, &f.patient, 1200).await;
    app.post_payment(&f.backoffice, &f.patient, 300).await;
    let log = app
        .ok(
            &f.subscriber,
            "query($p: ID!) { events(practiceId: $p) { edges { cursor node { seq } } } }",
            json!({ "p": f.practice }),
        )
        .await;
    for (expected_seq, edge) in [2, 3].into_iter().zip(log["events"]["edges"].as_array().unwrap()[1..].iter()) {
        let (id, data) = stream.next_data().await;
        assert_eq!(
            data,
            json!({ "data": { "events": { "seq": expected_seq, "type": "PAYMENT_POSTED" } } }),
            "exactly the selection: the cursor the server adds for the id is not in the data"
        );
        assert_eq!(id.as_deref(), edge["cursor"].as_str(), "the SSE id is the event's cursor");
    }
    // A query over SSE: one `next`, then `complete`, then the stream ends.
    let mut query = SseStream::open(&app, &f.subscriber, "{ __typename }", json!({}), None).await;
    assert_eq!(query.next_data().await.1, json!({ "data": { "__typename": "Query" } }));
    let complete = query.next().await.expect("complete");
    assert_eq!(complete.event, "complete");
    assert!(query.next().await.is_none(), "the stream ends after complete");
}

async fn last_event_id_resumes_with_no_gap_and_no_duplicate(app: TestApp) {
    let f = app.fixture().await;
    let from_now = last_cursor(&app, &f.subscriber, &f.practice).await;
    let mut stream =
        SseStream::open(&app, &f.subscriber, EVENTS, json!({ "p": f.practice, "a": from_now }), None).await;
    for _ in 0..3 {
        app.post_payment(&f.backoffice, &f.patient, 100).await;
    }
    let mut last_id = None;
    for expected in 2..=4 {
        let (id, data) = stream.next_data().await;
        assert_eq!(data["data"]["events"]["seq"], expected);
        last_id = id;
    }
    drop(stream);
    for _ in 0..4 {
        app.post_payment(&f.backoffice, &f.patient, 100).await;
    }
    // The variables still say `after: from_now`: the Last-Event-ID header wins, as it must
    // for a client (EventSource, curl) that replays the same request on reconnect.
    let last_id = last_id.expect("events carry ids");
    let mut resumed =
        SseStream::open(&app, &f.subscriber, EVENTS, json!({ "p": f.practice, "a": from_now }), Some(&last_id)).await;
    for expected in 5..=8 {
        assert_eq!(resumed.next_data().await.1["data"]["events"]["seq"], expected, "replayed in order");
    }
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    assert_eq!(resumed.next_data().await.1["data"]["events"]["seq"], 9, "then live, nothing doubled at the seam");
    assert!(resumed.next_within(Duration::from_millis(300)).await.is_err(), "nothing more");

    // A literal `after`, or none at all, is overridden or supplied the same way.
    let literal = format!("subscription {{ paymentPosted(practiceId: \"{}\") {{ seq }} }}", f.practice);
    let mut resumed = SseStream::open(&app, &f.subscriber, &literal, json!({}), Some(&last_id)).await;
    assert_eq!(resumed.next_data().await.1["data"]["paymentPosted"]["seq"], 5);
    // A Last-Event-ID that is not a cursor of this practice is bad input, in the stream.
    let mut bad = SseStream::open(&app, &f.subscriber, EVENTS, json!({ "p": f.practice }), Some("not-a-cursor")).await;
    assert_eq!(code(&bad.next_data().await.1), "BAD_USER_INPUT");
    assert_eq!(bad.next().await.unwrap().event, "complete");
}

async fn a_revoked_keys_stream_is_closed(app: TestApp) {
    let f = app.fixture().await;
    let created = app
        .ok(
            ADMIN_KEY,
            "mutation($p: ID!) { createApiKey(input: {practiceId: $p, role: SUBSCRIBER, name: \"kiosk\"}) { key apiKey { id } } }",
            json!({ "p": f.practice }),
        )
        .await;
    let (key, id) =
        (created["createApiKey"]["key"].as_str().unwrap(), created["createApiKey"]["apiKey"]["id"].as_str().unwrap());
    let from_now = last_cursor(&app, key, &f.practice).await;
    let mut stream = SseStream::open(&app, key, EVENTS, json!({ "p": f.practice, "a": from_now }), None).await;
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    assert_eq!(stream.next_data().await.1["data"]["events"]["seq"], 2);
    app.ok(ADMIN_KEY, "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { revokedAt } }", json!({ "id": id })).await;
    let revoked_at = std::time::Instant::now();
    let (_, data) = stream.next_data().await;
    assert_eq!(code(&data), "UNAUTHENTICATED", "{data}");
    assert_eq!(stream.next().await.unwrap().event, "complete");
    assert!(stream.next().await.is_none(), "the stream is closed");
    assert!(revoked_at.elapsed() < Duration::from_secs(3), "closed within the re-check interval");
    // And the revoked key cannot open a new one.
    let refused = post(&app, Some(key), EVENTS, json!({ "p": f.practice }), None).await;
    assert_eq!(refused.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_the_protocols_answers() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let url = app.url("/graphql/stream");
    let http = app.http();
    let sse = |request: reqwest::RequestBuilder| request.header("accept", "text/event-stream");

    // No key, a bad key: 401 with a GraphQL error body, before any stream.
    for key in [None, Some("cs_not_a_key")] {
        let response = post(&app, key, EVENTS, json!({ "p": f.practice }), None).await;
        assert_eq!(response.status(), 401);
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_eq!(code(&response.json::<Value>().await.unwrap()), "UNAUTHENTICATED");
    }
    let authed = |r: reqwest::RequestBuilder| sse(r).bearer_auth(&f.subscriber);
    // Not JSON, not an object, no query: 400.
    for body in ["{not json", "[1,2]", "{\"variables\":{}}"] {
        let response =
            authed(http.post(&url)).header("content-type", "application/json").body(body).send().await.unwrap();
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(code(&response.json::<Value>().await.unwrap()), "BAD_USER_INPUT");
    }
    // A syntax error is refused before streaming, as graphql-sse's reference server does.
    let response = authed(http.post(&url)).json(&json!({ "query": "subscription {" })).send().await.unwrap();
    assert_eq!(response.status(), 400);
    // Wrong media type: 415; a client that will not take an event stream: 406.
    let response = authed(http.post(&url)).header("content-type", "text/plain").body("{}").send().await.unwrap();
    assert_eq!(response.status(), 415);
    let response = http
        .post(&url)
        .bearer_auth(&f.subscriber)
        .header("accept", "application/json")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 406);
    // Oversized: 413. On a client of its own: the server answers before it has read the
    // body and closes the connection, which a pooled client could reuse for the next request.
    let huge = json!({ "query": format!("{{ __typename }} #{}", "x".repeat(2 * 1024 * 1024)) });
    let response = authed(reqwest::Client::new().post(&url)).json(&huge).send().await.unwrap();
    assert_eq!(response.status(), 413);
    // A mutation by GET: 405; a query by GET streams.
    let mutation = "mutation { revokeApiKey(input: {id: \"x\"}) { id } }";
    let response = authed(http.get(&url)).query(&[("query", mutation)]).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let response = authed(http.get(&url)).query(&[("query", "{ __typename }")]).send().await.unwrap();
    let mut stream = SseStream::from_response(response);
    assert_eq!(stream.next_data().await.1["data"]["__typename"], "Query");
    // Validation errors travel in an accepted stream: one `next`, then `complete`.
    let response = post(&app, Some(&f.subscriber), "subscription { noSuchField }", json!({}), None).await;
    assert_eq!(response.status(), 200);
    let mut stream = SseStream::from_response(response);
    let (_, data) = stream.next_data().await;
    assert!(data["errors"][0]["message"].as_str().unwrap().contains("noSuchField"), "{data}");
    assert_eq!(stream.next().await.unwrap().event, "complete");
    // Another practice's events: NOT_FOUND, in the stream. Roles are the resolvers' rules.
    let other = app.fixture().await;
    let mut stream = SseStream::open(&app, &f.subscriber, EVENTS, json!({ "p": other.practice }), None).await;
    assert_eq!(code(&stream.next_data().await.1), "NOT_FOUND");
    let mut stream = SseStream::open(
        &app,
        &f.subscriber,
        "mutation($p: ID!) { postPayment(input: {patientId: $p, amountCents: 1, method: CASH}) { id } }",
        json!({ "p": f.patient }),
        None,
    )
    .await;
    assert_eq!(code(&stream.next_data().await.1), "FORBIDDEN", "a SUBSCRIBER key runs no mutation, over SSE either");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_are_counted_and_end_when_the_server_drains() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let from_now = last_cursor(&app, &f.subscriber, &f.practice).await;
    let mut stream =
        SseStream::open(&app, &f.subscriber, EVENTS, json!({ "p": f.practice, "a": from_now }), None).await;
    app.post_payment(&f.backoffice, &f.patient, 100).await;
    stream.next_data().await;
    let metrics = app.http().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("clinicstream_connections{transport=\"sse\"} 1"), "{metrics}");
    assert!(metrics.contains("clinicstream_subscriptions{transport=\"sse\"} 1"), "delivery is labelled sse");
    assert!(metrics.contains("clinicstream_events_delivered_total{transport=\"sse\"} 1"));
    let stopping = tokio::spawn(app.stop());
    // The stream ends without `complete`: the client is to reconnect and resume.
    assert!(stream.next().await.is_none(), "the stream ended");
    tokio::time::timeout(Duration::from_secs(5), stopping).await.expect("the app stops promptly").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_with_last_event_id_resumes_where_it_left_off() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        crate::tools::missing("curl", "apt-get install -y curl");
        return;
    }
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    for _ in 0..3 {
        app.post_payment(&f.backoffice, &f.patient, 100).await;
    }
    let log = app
        .ok(
            &f.subscriber,
            "query($p: ID!) { events(practiceId: $p) { edges { cursor node { seq } } } }",
            json!({ "p": f.practice }),
        )
        .await;
    let seq2 = log["events"]["edges"][1]["cursor"].as_str().unwrap().to_string();
    let body = json!({ "query": EVENTS, "variables": { "p": f.practice } }).to_string();
    let mut curl = tokio::process::Command::new("curl")
        .args(["-N", "-s", "-H", "Accept: text/event-stream", "-H", "Content-Type: application/json"])
        .args(["-H", &format!("Authorization: Bearer {}", f.subscriber), "-H", &format!("Last-Event-ID: {seq2}")])
        .args(["--data", &body, &app.url("/graphql/stream")])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("curl starts");
    let mut lines = BufReader::new(curl.stdout.take().unwrap()).lines();
    let mut seen: Vec<(String, i64)> = Vec::new();
    let mut id = String::new();
    let mut posted = false;
    while seen.len() < 3 {
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("curl prints")
            .unwrap()
            .expect("a line");
        if let Some(value) = line.strip_prefix("id: ") {
            id = value.to_string();
        } else if let Some(data) = line.strip_prefix("data: ") {
            let data: Value = serde_json::from_str(data).unwrap();
            seen.push((std::mem::take(&mut id), data["data"]["events"]["seq"].as_i64().unwrap()));
        }
        if seen.len() == 2 && !posted {
            app.post_payment(&f.backoffice, &f.patient, 100).await;
            posted = true;
        }
    }
    let seqs: Vec<i64> = seen.iter().map(|(_, seq)| *seq).collect();
    assert_eq!(seqs, vec![3, 4, 5], "after seq 2: the missed events once, then live");
    let cursors: Vec<&str> =
        log["events"]["edges"].as_array().unwrap()[2..].iter().map(|e| e["cursor"].as_str().unwrap()).collect();
    assert_eq!(seen[0].0, cursors[0]);
    assert_eq!(seen[1].0, cursors[1]);
    curl.kill().await.ok();
}
