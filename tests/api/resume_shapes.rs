//! Resume holds whatever the document's shape: the root field behind an alias, in a named
//! fragment, an inline fragment, fragments spreading fragments, under `@include`/`@skip`.
//! Every door: SSE (`Last-Event-ID`, each event's cursor as its `id:`), multipart and both
//! websocket protocols (`after:`). A shape that cannot be resumed is refused up front.

use serde_json::{Value, json};
use std::time::Duration;

use crate::helpers::{Fixture, TestApp};
use crate::multipart_client::Parts;
use crate::on_both_backends;
use crate::sse::last_cursor;
use crate::sse_client::SseStream;
use crate::ws_client::{LEGACY_WS, TRANSPORT_WS, WsClient};

on_both_backends!(
    sse_resumes_from_last_event_id_whatever_the_documents_shape,
    graphql_transport_ws_resumes_with_after_whatever_the_documents_shape,
    legacy_graphql_ws_resumes_with_after_whatever_the_documents_shape,
    multipart_resumes_with_after_whatever_the_documents_shape,
    sse_refuses_a_last_event_id_it_cannot_resume_every_root_field_from,
    a_live_query_resumes_from_its_revision_whatever_the_shape_or_says_why_it_cannot,
);

/// Documents with one root field that takes `$a` as its `after`; `SELECTION` is the
/// event's selection set.
const SHAPES: [(&str, &str); 8] = [
    ("plain", "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) SELECTION }"),
    ("an alias", "subscription($p: ID!, $a: String) { feed: events(practiceId: $p, after: $a) SELECTION }"),
    (
        "a named fragment",
        "subscription($p: ID!, $a: String) { ...Feed } fragment Feed on Subscription { events(practiceId: $p, after: $a) SELECTION }",
    ),
    (
        "an inline fragment",
        "subscription($p: ID!, $a: String) { ... on Subscription { events(practiceId: $p, after: $a) SELECTION } }",
    ),
    (
        "nested fragments, spread twice, around an aliased paymentPosted",
        "subscription($p: ID!, $a: String) { ...Outer ...Outer } \
         fragment Outer on Subscription { ...Inner ... { ...Inner } } \
         fragment Inner on Subscription { ... on Subscription { paid: paymentPosted(practiceId: $p, after: $a) SELECTION } }",
    ),
    (
        "@include and @skip on the fragment and the field",
        "subscription($p: ID!, $a: String, $on: Boolean = true) { ... @include(if: $on) { \
         events(practiceId: $p, after: $a) @skip(if: false) SELECTION } }",
    ),
    (
        "the field both selected directly and in a fragment",
        "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq } ...Feed } \
         fragment Feed on Subscription { events(practiceId: $p, after: $a) SELECTION }",
    ),
    (
        "the field selected twice directly",
        "subscription($p: ID!, $a: String) { events(practiceId: $p, after: $a) { seq } \
         events(practiceId: $p, after: $a) SELECTION }",
    ),
];

fn shaped(document: &str, selection: &str) -> String {
    document.replace("SELECTION", selection)
}

/// The one root field's value in a result, whatever its response key.
fn root(data: &Value) -> Value {
    let fields = data["data"].as_object().unwrap_or_else(|| panic!("a result with data: {data}"));
    assert_eq!(fields.len(), 1, "one root field: {data}");
    fields.values().next().cloned().unwrap_or_default()
}

/// The practice's log as (seq, cursor).
async fn cursors(app: &TestApp, key: &str, practice: &str) -> Vec<(i64, String)> {
    let data = app
        .ok(
            key,
            "query($p: ID!) { events(practiceId: $p, first: 200) { edges { cursor node { seq } } } }",
            json!({ "p": practice }),
        )
        .await;
    let edges = data["events"]["edges"].as_array().cloned().unwrap_or_default();
    edges.iter().map(|e| (e["node"]["seq"].as_i64().unwrap(), e["cursor"].as_str().unwrap().to_string())).collect()
}

/// Posts three payments; the log as (seq, cursor) and its last seq.
async fn three_more_payments(app: &TestApp, f: &Fixture) -> (Vec<(i64, String)>, i64) {
    for _ in 0..3 {
        app.post_payment(&f.backoffice, &f.patient, 100).await;
    }
    let log = cursors(app, &f.subscriber, &f.practice).await;
    let head = log.len() as i64;
    (log, head)
}

async fn sse_resumes_from_last_event_id_whatever_the_documents_shape(app: TestApp) {
    let f = app.fixture().await;
    let mut shapes: Vec<(&str, String)> =
        SHAPES.iter().map(|(name, doc)| (*name, shaped(doc, "{ seq type }"))).collect();
    // Without an `after` argument at all: the Last-Event-ID adds one, inside the fragment.
    shapes.push((
        "a named fragment whose field has no after",
        "subscription($p: ID!) { ...Feed } fragment Feed on Subscription { events(practiceId: $p) { seq type } }"
            .into(),
    ));
    for (shape, query) in shapes {
        let from_now = last_cursor(&app, &f.subscriber, &f.practice).await;
        let variables = json!({ "p": f.practice, "a": from_now });
        let head = cursors(&app, &f.subscriber, &f.practice).await.len() as i64;
        let mut stream = SseStream::open(&app, &f.subscriber, &query, variables.clone(), None).await;
        for _ in 0..2 {
            app.post_payment(&f.backoffice, &f.patient, 100).await;
        }
        let log = cursors(&app, &f.subscriber, &f.practice).await;
        let mut last_id = None;
        for seq in head + 1..=head + 2 {
            let (id, data) = stream.next_data().await;
            assert_eq!(root(&data), json!({ "seq": seq, "type": "PAYMENT_POSTED" }), "{shape}: exactly the selection");
            assert_eq!(id.as_deref(), Some(log[seq as usize - 1].1.as_str()), "{shape}: the id is the event's cursor");
            last_id = id;
        }
        drop(stream);
        for _ in 0..2 {
            app.post_payment(&f.backoffice, &f.patient, 100).await;
        }
        let last_id = last_id.unwrap_or_default();
        // The same request replayed with its Last-Event-ID (the variables still say `from_now`).
        let mut resumed = SseStream::open(&app, &f.subscriber, &query, variables, Some(&last_id)).await;
        for seq in head + 3..=head + 4 {
            let (id, data) = resumed.next_data().await;
            assert_eq!(root(&data)["seq"], seq, "{shape}: resumed after the Last-Event-ID, nothing missed");
            assert!(id.is_some(), "{shape}: resumed events carry ids");
        }
        app.post_payment(&f.backoffice, &f.patient, 100).await;
        assert_eq!(root(&resumed.next_data().await.1)["seq"], head + 5, "{shape}: then live");
    }
}

/// Over a websocket of `protocol`: each shape subscribed `after` the cursor of the event
/// before last replays the last two, then goes on live.
async fn websocket_resumes(app: TestApp, protocol: &'static str) {
    let f = app.fixture().await;
    for (shape, document) in SHAPES {
        let query = shaped(document, "{ seq type cursor }");
        let (log, head) = three_more_payments(&app, &f).await;
        let after = &log[head as usize - 3].1;
        let mut client = WsClient::connect(app.addr, protocol, &f.subscriber).await;
        client.subscribe("e", &query, json!({ "p": f.practice, "a": after })).await;
        for seq in head - 1..=head {
            let event = root(&client.next_data("e").await);
            assert_eq!(event["seq"], seq, "{shape}: replayed after the cursor");
            assert_eq!(event["cursor"], log[seq as usize - 1].1.as_str(), "{shape}");
        }
        app.post_payment(&f.backoffice, &f.patient, 100).await;
        assert_eq!(root(&client.next_data("e").await)["seq"], head + 1, "{shape}: then live");
        assert!(client.recv_within(Duration::from_millis(200)).await.is_none(), "{shape}: nothing doubled");
        client.close().await;
    }
}

async fn graphql_transport_ws_resumes_with_after_whatever_the_documents_shape(app: TestApp) {
    websocket_resumes(app, TRANSPORT_WS).await;
}

async fn legacy_graphql_ws_resumes_with_after_whatever_the_documents_shape(app: TestApp) {
    websocket_resumes(app, LEGACY_WS).await;
}

async fn multipart_resumes_with_after_whatever_the_documents_shape(app: TestApp) {
    let f = app.fixture().await;
    for (shape, document) in SHAPES {
        let query = shaped(document, "{ seq type cursor }");
        let (log, head) = three_more_payments(&app, &f).await;
        let after = &log[head as usize - 3].1;
        let mut parts = Parts::open(&app, &f.subscriber, &query, json!({ "p": f.practice, "a": after })).await;
        for seq in head - 1..=head {
            let event = root(&parts.next_payload().await["payload"]);
            assert_eq!(event["seq"], seq, "{shape}: replayed after the cursor");
            assert_eq!(event["cursor"], log[seq as usize - 1].1.as_str(), "{shape}");
        }
        app.post_payment(&f.backoffice, &f.patient, 100).await;
        assert_eq!(root(&parts.next_payload().await["payload"])["seq"], head + 1, "{shape}: then live");
    }
}

/// Two root fields are two positions in the log: one Last-Event-ID cannot resume both
/// without a gap, so it is refused before anything streams.
async fn sse_refuses_a_last_event_id_it_cannot_resume_every_root_field_from(app: TestApp) {
    let f = app.fixture().await;
    let from_now = last_cursor(&app, &f.subscriber, &f.practice).await;
    for query in [
        "subscription($p: ID!) { a: events(practiceId: $p) { seq } b: paymentPosted(practiceId: $p) { seq } }",
        "subscription($p: ID!) { events(practiceId: $p) { seq } ...F } fragment F on Subscription { paid: paymentPosted(practiceId: $p) { seq } }",
    ] {
        let mut stream = SseStream::open(&app, &f.subscriber, query, json!({ "p": f.practice }), Some(&from_now)).await;
        let (id, data) = stream.next_data().await;
        assert_eq!(id, None);
        assert_eq!(data["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{data}");
        let message = data["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("Last-Event-ID") && message.contains("one root field"), "{message}");
        assert_eq!(stream.next().await.map(|m| m.event).as_deref(), Some("complete"), "nothing streams");
    }
}

/// Live queries resume from their revision (`Last-Event-ID`) behind an alias or with
/// fragments inside the root field; root fields in a fragment are refused up front.
async fn a_live_query_resumes_from_its_revision_whatever_the_shape_or_says_why_it_cannot(app: TestApp) {
    let f = app.fixture().await;
    let variables = json!({ "id": f.patient });
    for (shape, query) in [
        ("an alias", "query($id: ID!) @live { p: patient(id: $id) { firstName balanceCents } }"),
        (
            "fragments inside the root field",
            "query($id: ID!) @live { patient(id: $id) { ...P ... on Patient { firstName } } } \
             fragment P on Patient { balanceCents }",
        ),
    ] {
        let mut stream = SseStream::open(&app, &f.subscriber, query, variables.clone(), None).await;
        let (first_id, first) = stream.next_data().await;
        assert!(first_id.is_some(), "{shape}: the revision is the id");
        app.post_payment(&f.backoffice, &f.patient, 100).await;
        let (seen, next) = stream.next_data().await;
        assert_eq!(root(&next)["balanceCents"], root(&first)["balanceCents"].as_i64().unwrap() - 100, "{shape}");
        drop(stream);
        app.post_payment(&f.backoffice, &f.patient, 100).await;
        let seen = seen.expect("an id");
        let mut resumed = SseStream::open(&app, &f.subscriber, query, variables.clone(), Some(&seen)).await;
        let (id, current) = resumed.next_data().await;
        assert_eq!(root(&current)["balanceCents"], root(&next)["balanceCents"].as_i64().unwrap() - 100, "{shape}");
        assert!(id.unwrap().parse::<i64>().unwrap() > seen.parse().unwrap(), "{shape}");
    }
    let in_fragment = "query($id: ID!) @live { ...Q } fragment Q on Query { patient(id: $id) { balanceCents } }";
    let mut stream = SseStream::open(&app, &f.subscriber, in_fragment, variables, Some("1")).await;
    let (id, data) = stream.next_data().await;
    assert_eq!(id, None);
    assert_eq!(data["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{data}");
    assert!(data["errors"][0]["message"].as_str().unwrap_or_default().contains("fragments"), "{data}");
    assert_eq!(stream.next().await.map(|m| m.event).as_deref(), Some("complete"));
}
