//! One `postPayment` sent with a `traceparent`, followed through the real binary to an
//! OTLP/HTTP receiver: the request span is a child of the caller's span, the commit span
//! and one delivery span per door (websocket, SSE, multipart, a webhook attempt, a NATS
//! bridge publish, a live query's run) each link to the mutation's trace; the webhook receiver sees a `traceparent`
//! header and the NATS consumer the CloudEvents tracing extension. A malformed or
//! oversized `traceparent` is ignored: a new root, never an error, never stored.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use std::time::Duration;

use super::receiver::Receiver;
use crate::binary::Binary;
use crate::bridges::brokers::{SHARED_NATS, shared_nats, unique};
use crate::bridges::consumers::read_stream;
use crate::bridges::support::delete_stream;
use crate::helpers::{ADMIN_KEY, Backend, TestApp, eventually, fresh_db};
use crate::multipart_client::Parts;
use crate::replicas::{collect, subscriber};
use crate::sse_client::SseStream;
use crate::webhooks::receiver::Receiver as WebhookReceiver;
use crate::webhooks::support::create_endpoint;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT: &str = "00f067aa0ba902b7";
const PAY: &str =
    "mutation Pay($p: ID!, $a: Int!) { postPayment(input: {patientId: $p, amountCents: $a, method: CARD}) { id } }";
const EVENTS: &str = "subscription($p: ID!) { events(practiceId: $p) { seq cursor } }";
const BALANCE: &str = "query($id: ID!) @live { patient(id: $id) { balanceCents } }";

/// Posts a payment with these extra headers; the answer must carry no errors.
async fn pay(app: &TestApp, key: &str, patient: &str, headers: &[(&str, &str)]) {
    let mut request = app.http().post(app.url("/graphql")).bearer_auth(key);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = json!({ "query": PAY, "operationName": "Pay", "variables": { "p": patient, "a": 1234 } });
    let response = request.json(&body).send().await.expect("request sent");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("errors").is_none(), "{body}");
}

fn named<'a>(spans: &'a [Value], name: &str) -> Vec<&'a Value> {
    spans.iter().filter(|s| s["name"] == name).collect()
}

fn links_to(span: &Value, trace: &str) -> bool {
    span["links"].as_array().is_some_and(|links| links.iter().any(|l| l["trace_id"] == trace))
}

/// The delivery span of `door` for the event `seq`.
fn delivery<'a>(spans: &'a [Value], door: &str, seq: i64) -> Option<&'a Value> {
    spans.iter().find(|s| {
        s["name"] == format!("deliver {door}")
            && s["attributes"]["clinicstream.door"] == door
            && s["attributes"]["clinicstream.seq"] == seq
    })
}

/// The stored trace context of the practice's event `seq`.
async fn stored(db_url: &str, practice: &str, seq: i64) -> Option<String> {
    use clinicstream::db::entities::event;
    let db = sea_orm::Database::connect(db_url).await.unwrap();
    let row = event::Entity::find()
        .filter(event::Column::PracticeId.eq(practice))
        .filter(event::Column::Seq.eq(seq))
        .one(&db)
        .await
        .unwrap()
        .expect("the event is in the log");
    row.trace_context
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payments_trace_follows_its_event_through_every_door() {
    if !shared_nats() {
        return;
    }
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let Some(otlp) = Receiver::start().await else { return };
    let hooks = WebhookReceiver::start().await;
    let (stream, prefix) = (unique("CSTRACE_"), unique("cstrace"));
    let service = unique("clinicstream-test-");
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("ADMIN_KEY", ADMIN_KEY),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp.endpoint()),
        ("OTEL_SERVICE_NAME", &service),
        ("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("BRIDGE_NATS_URL", SHARED_NATS),
        ("BRIDGE_NATS_STREAM", &stream),
        ("BRIDGE_NATS_PREFIX", &prefix),
        ("BRIDGE_NATS_TYPES", "PAYMENT_POSTED"),
        ("BRIDGE_POLL", "100ms"),
        ("WEBHOOK_ALLOW_PRIVATE", "true"),
        ("WEBHOOK_POLL", "50ms"),
    ];
    let (_binary, app) = Binary::start(env, Duration::from_secs(15)).await;
    let f = app.fixture().await;
    create_endpoint(&app, &f.practice_admin, &f.practice, &hooks.url("/hooks"), json!(["PAYMENT_POSTED"])).await;
    let mut ws = subscriber(&app, &f.subscriber, &f.practice, None).await;
    let mut sse = SseStream::open(&app, &f.subscriber, EVENTS, json!({ "p": f.practice }), None).await;
    let mut multipart = Parts::open(&app, &f.subscriber, EVENTS, json!({ "p": f.practice })).await;
    let mut live = SseStream::open(&app, &f.subscriber, BALANCE, json!({ "id": f.patient }), None).await;
    live.next_data().await;

    // The caller's trace: the request continues it.
    let traceparent = format!("00-{TRACE}-{PARENT}-01");
    pay(&app, &f.backoffice, &f.patient, &[("traceparent", &traceparent), ("tracestate", "vendor=abc")]).await;
    let seq = collect(&mut ws, 1).await[0].0;
    let (_, data) = sse.next_data().await;
    assert_eq!(data["data"]["events"]["seq"], seq);
    assert_eq!(multipart.next_payload().await["payload"]["data"]["events"]["seq"], seq);
    live.next_data().await;
    let hooked = hooks.wait_for(Duration::from_secs(15), |r| !r.is_empty()).await;
    let nats = eventually(
        Duration::from_secs(15),
        async || read_stream(SHARED_NATS, &stream).await,
        |got| got.iter().any(|got| got.seq() == seq),
    )
    .await
    .expect("the bridge published the event");

    let stored_context = stored(&db.url, &f.practice, seq).await.expect("the event keeps its trace context");
    let parts: Vec<&str> = stored_context.split(' ').next().unwrap().split('-').collect();
    assert_eq!(parts[1], TRACE, "stored in the caller's trace: {stored_context}");
    assert!(stored_context.ends_with(" vendor=abc"), "with its tracestate: {stored_context}");
    // The CloudEvent carries the mutation's context (distributed-tracing extension).
    let cloudevent = &nats.iter().find(|got| got.seq() == seq).expect("the payment's CloudEvent").event;
    assert_eq!(cloudevent["traceparent"], stored_context.split(' ').next().unwrap(), "{cloudevent}");
    assert_eq!(cloudevent["tracestate"], "vendor=abc", "{cloudevent}");

    let doors = ["websocket", "sse", "multipart", "webhook", "bridge"];
    let all_there = |spans: &Vec<Value>| {
        let request = named(spans, "request").into_iter().any(|s| s["trace_id"] == TRACE);
        let commit = named(spans, "commit_batch").into_iter().any(|s| links_to(s, TRACE));
        let live = named(spans, "deliver live_query").into_iter().any(|s| links_to(s, TRACE));
        request && commit && live && doors.iter().all(|door| delivery(spans, door, seq).is_some())
    };
    let spans = eventually(Duration::from_secs(20), async || otlp.spans(), all_there).await.unwrap_or_else(|spans| {
        let names: Vec<_> = spans.iter().map(|s| s["name"].to_string()).collect();
        panic!("missing spans; the receiver has {names:?}")
    });
    assert!(spans.iter().all(|s| s["service"] == service.as_str()));
    let request = named(&spans, "request").into_iter().find(|s| s["trace_id"] == TRACE).unwrap();
    assert_eq!(request["parent_span_id"], PARENT, "the request span is a child of the caller's span");
    assert_eq!(request["kind"], 2, "SERVER: {request}");
    let operation = named(&spans, "graphql_operation").into_iter().find(|s| s["trace_id"] == TRACE).unwrap();
    assert_eq!(operation["attributes"]["graphql.operation.name"], "Pay");
    assert_eq!(operation["attributes"]["graphql.operation.type"], "mutation");
    assert!(!operation.to_string().contains("1234"), "no variables in spans: {operation}");
    assert_eq!(&stored_context[3..35], TRACE);
    let mutation_span = &stored_context[36..52];
    assert!(spans.iter().any(|s| s["span_id"] == mutation_span && s["trace_id"] == TRACE), "the stored span exists");
    for door in doors {
        let span = delivery(&spans, door, seq).unwrap();
        assert_ne!(span["trace_id"], TRACE, "a delivery is a trace of its own: {span}");
        assert!(
            span["links"].as_array().unwrap().iter().any(|l| l["trace_id"] == TRACE && l["span_id"] == mutation_span),
            "the {door} delivery links to the mutation: {span}"
        );
    }
    // The webhook request continues the attempt's span.
    let attempt = delivery(&spans, "webhook", seq).unwrap();
    let header = &hooked[0].traceparent;
    let expected = format!("00-{}-{}-01", attempt["trace_id"].as_str().unwrap(), attempt["span_id"].as_str().unwrap());
    assert_eq!(header, &expected, "the webhook carries the attempt's traceparent");

    // Bad input: a malformed traceparent, an all-zero trace id and an oversized header are
    // ignored (a new root), never an error and never stored.
    let oversized = format!("00-{}-{PARENT}-01", "a".repeat(8000));
    let bad = ["00-not-a-trace-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", oversized.as_str()];
    for (i, traceparent) in bad.iter().enumerate() {
        let request_id = format!("bad-traceparent-{i}-{}", unique(""));
        pay(&app, &f.backoffice, &f.patient, &[("traceparent", traceparent), ("x-request-id", &request_id)]).await;
        let seq = collect(&mut ws, 1).await[0].0;
        let find = |spans: &Vec<Value>| {
            spans
                .iter()
                .find(|s| s["name"] == "request" && s["attributes"]["request_id"] == request_id.as_str())
                .cloned()
        };
        let spans = eventually(Duration::from_secs(20), async || otlp.spans(), |s| find(s).is_some()).await;
        let request = find(&spans.expect("the request's span arrives")).unwrap();
        assert_eq!(request["parent_span_id"], "", "a new root: {request}");
        let new_trace = request["trace_id"].as_str().unwrap();
        assert!(!traceparent.contains(new_trace) && new_trace != TRACE);
        let context = stored(&db.url, &f.practice, seq).await.expect("the new root's context is stored");
        assert!(context.starts_with(&format!("00-{new_trace}-")), "{context}");
        assert!(!context.contains(traceparent), "the header itself is never stored");
    }
    ws.close().await;
    delete_stream(SHARED_NATS, &stream).await;
}
