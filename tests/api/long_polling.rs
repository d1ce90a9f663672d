//! HTTP long polling (`GET /practices/{id}/events?after=&limit=&wait=&types=`): a client
//! looping `after=next` sees every event once, in order — on one replica, across two
//! (Redis), and through a replica's restart; a waiting poll answers when an event commits
//! rather than when its wait ends; bad input, other practices, expired cursors and a
//! patient's scope get the answers every door gives.

use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

use clinicstream::events::{Cursor, StreamTransport, TransportLabel};

use crate::helpers::{ADMIN_KEY, Backend, Fixture, TestApp, fresh_db, spawn_app_on, spawn_app_with};
use crate::identity::issuer::TestIssuer;
use crate::on_both_backends;
use crate::redis_server::shared;

on_both_backends!(
    looping_after_next_sees_every_event_once_in_order_while_mutations_run,
    a_waiting_poll_answers_when_an_event_commits_not_when_its_wait_ends,
    bad_input_is_refused_with_a_clear_400_and_other_practices_are_not_found,
    a_cursor_before_what_the_log_retains_is_gone
);

/// One poll: (status, body).
pub async fn poll(app: &TestApp, key: Option<&str>, practice: &str, query: &str) -> (u16, Value) {
    let mut request = app.http().get(app.url(&format!("/practices/{practice}/events?{query}")));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("the poll is answered");
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON, not {text:?}")))
}

/// A successful poll: (seqs, events, next).
async fn ok(app: &TestApp, key: &str, practice: &str, query: &str) -> (Vec<i64>, Vec<Value>, String) {
    let (status, body) = poll(app, Some(key), practice, query).await;
    assert_eq!(status, 200, "{body}");
    let events = body["events"].as_array().expect("events").clone();
    let seqs = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    (seqs, events, body["next"].as_str().expect("next").to_string())
}

/// Where "from now" starts: a poll with no cursor and no wait.
async fn from_now(app: &TestApp, key: &str, practice: &str) -> String {
    let (seqs, _, next) = ok(app, key, practice, "wait=0").await;
    assert!(seqs.is_empty(), "no cursor means from now: nothing old is returned");
    next
}

async fn pay(app: &TestApp, f: &Fixture) {
    let body = app.post_payment(&f.backoffice, &f.patient, 1).await;
    assert!(body.get("errors").is_none(), "{body}");
}

/// Polls `apps` in turn (after `next`) until `count` events arrived; their seqs.
async fn drain(apps: &[&TestApp], key: &str, practice: &str, mut next: String, count: usize) -> (Vec<i64>, String) {
    let mut seqs = Vec::new();
    let mut turn = 0;
    while seqs.len() < count {
        let app = apps[turn % apps.len()];
        turn += 1;
        assert!(turn < 10_000, "stuck after {} of {count}", seqs.len());
        let (got, _, advanced) = ok(app, key, practice, &format!("after={next}&limit=7&wait=10")).await;
        seqs.extend(got);
        next = advanced;
    }
    (seqs, next)
}

async fn looping_after_next_sees_every_event_once_in_order_while_mutations_run(app: TestApp) {
    let f = app.fixture().await;
    let start = from_now(&app, &f.subscriber, &f.practice).await;
    let app = Arc::new(app);
    let writer = {
        let (app, key, patient) = (app.clone(), f.backoffice.clone(), f.patient.clone());
        tokio::spawn(async move {
            for _ in 0..40 {
                let body = app.post_payment(&key, &patient, 1).await;
                assert!(body.get("errors").is_none(), "{body}");
            }
        })
    };
    let (seqs, next) = drain(&[&*app], &f.subscriber, &f.practice, start, 40).await;
    writer.await.unwrap();
    assert_eq!(seqs, (2..=41).collect::<Vec<_>>(), "every event once, in order (seq 1 is the patient's creation)");
    let (rest, _, same) = ok(&app, &f.subscriber, &f.practice, &format!("after={next}&wait=0")).await;
    assert!(rest.is_empty() && same == next, "nothing more, and the same cursor");

    // Each event is the webhook body's `data`; `types` narrows.
    let first = Cursor { practice_id: f.practice.clone(), seq: 0 }.encode();
    let (seqs, events, next) = ok(&app, &f.subscriber, &f.practice, &format!("after={first}&limit=2")).await;
    assert_eq!(seqs, [1, 2]);
    assert_eq!(events[0]["type"], "PATIENT_CREATED");
    assert_eq!(events[1]["cursor"].as_str(), Some(next.as_str()), "next is the last event's cursor");
    for field in ["cursor", "seq", "type", "occurredAt", "practiceId", "payment", "patient"] {
        assert!(events[1].get(field).is_some(), "{field} in {}", events[1]);
    }
    let (seqs, _, _) = ok(&app, &f.subscriber, &f.practice, &format!("after={first}&types=PATIENT_CREATED")).await;
    assert_eq!(seqs, [1]);
    let label = TransportLabel::of(StreamTransport::LongPolling);
    let delivered = app.state().services.domain.counters.delivered.get_or_create(&label).get();
    assert_eq!(delivered, 43, "every event returned is counted as a delivery through long polling");
}

async fn a_waiting_poll_answers_when_an_event_commits_not_when_its_wait_ends(app: TestApp) {
    let f = app.fixture().await;
    let start = from_now(&app, &f.subscriber, &f.practice).await;
    let app = Arc::new(app);
    let waiting = {
        let (app, key, practice, start) = (app.clone(), f.subscriber.clone(), f.practice.clone(), start.clone());
        tokio::spawn(async move { ok(&app, &key, &practice, &format!("after={start}&wait=60")).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "with nothing after the cursor, the poll waits");
    let metrics = app.http().get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("clinicstream_connections{transport=\"long_polling\"} 1"), "{metrics}");
    // An event the poll may not return (another type) does not end the wait.
    let only_payments = {
        let (app, key, practice, start) = (app.clone(), f.subscriber.clone(), f.practice.clone(), start.clone());
        tokio::spawn(
            async move { ok(&app, &key, &practice, &format!("after={start}&wait=60&types=PAYMENT_POSTED")).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    pay(&app, &f).await;
    let (seqs, _, _) =
        tokio::time::timeout(Duration::from_secs(20), waiting).await.expect("answered long before 60 s").unwrap();
    assert_eq!(seqs, [2]);
    let (seqs, _, _) = tokio::time::timeout(Duration::from_secs(20), only_payments).await.expect("answered").unwrap();
    assert_eq!(seqs, [2]);
    // With nothing new, a poll answers empty after its wait, with the cursor it was given.
    let after = Cursor { practice_id: f.practice.clone(), seq: 2 }.encode();
    let (seqs, _, next) = ok(&app, &f.subscriber, &f.practice, &format!("after={after}&wait=1")).await;
    assert!(seqs.is_empty());
    assert_eq!(next, after);

    // Revoking the key answers its waiting poll.
    let created = app
        .ok(
            ADMIN_KEY,
            "mutation($p: ID!) { createApiKey(input: {practiceId: $p, role: SUBSCRIBER, name: \"poller\"}) { key apiKey { id } } }",
            json!({ "p": f.practice }),
        )
        .await;
    let (key, id) =
        (created["createApiKey"]["key"].as_str().unwrap(), created["createApiKey"]["apiKey"]["id"].as_str().unwrap());
    let waiting = {
        let (app, key, practice, after) = (app.clone(), key.to_string(), f.practice.clone(), after.clone());
        tokio::spawn(async move { poll(&app, Some(&key), &practice, &format!("after={after}&wait=60")).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.ok(ADMIN_KEY, "mutation($id: ID!) { revokeApiKey(input: {id: $id}) { revokedAt } }", json!({ "id": id })).await;
    let (status, body) = tokio::time::timeout(Duration::from_secs(20), waiting).await.expect("answered").unwrap();
    assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (401, Some("UNAUTHENTICATED")), "{body}");
}

async fn bad_input_is_refused_with_a_clear_400_and_other_practices_are_not_found(app: TestApp) {
    let f = app.fixture().await;
    let other = app.fixture().await;
    let theirs = Cursor { practice_id: other.practice.clone(), seq: 0 }.encode();
    let ahead = Cursor { practice_id: f.practice.clone(), seq: 999 }.encode();
    for (query, says) in [
        ("wait=-1", "`wait` must be a whole number of seconds from 0 to 60"),
        ("wait=10000", "`wait` must be"),
        ("wait=2.5", "`wait` must be"),
        ("limit=0", "`limit` must be a whole number from 1 to 500"),
        ("limit=100000", "`limit` must be"),
        ("after=not-a-cursor", "invalid cursor"),
        ("after=%00%01", "invalid cursor"),
        (&*format!("after={theirs}"), "another practice"),
        (&*format!("after={ahead}"), "ahead"),
        ("types=PAYMENT_POSTED,NOPE", "`NOPE`"),
        ("wait=1&wait=2", "more than once"),
        ("since=0", "unknown parameter"),
        (&*format!("after={}", "x".repeat(3000)), "longer than"),
    ] {
        let (status, body) = poll(&app, Some(&f.subscriber), &f.practice, query).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_USER_INPUT", "{query}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{query}: {message}");
    }
    let events_before = app.log(&f.practice).await;
    // Another practice's events do not exist for this key; nor does a practice that does not.
    for (key, practice) in [(&f.subscriber, &other.practice), (&other.backoffice, &f.practice)] {
        let (status, body) = poll(&app, Some(key), practice, "wait=0").await;
        assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (404, Some("NOT_FOUND")), "{body}");
    }
    let (status, _) = poll(&app, Some(ADMIN_KEY), "prc_nope", "wait=0").await;
    assert_eq!(status, 404);
    let (status, body) = poll(&app, Some(ADMIN_KEY), &"p".repeat(300), "wait=0").await;
    assert_eq!(status, 400, "{body}");
    // No key, or a wrong one.
    for key in [None, Some("cs_nope")] {
        let (status, body) = poll(&app, key, &f.practice, "wait=0").await;
        assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (401, Some("UNAUTHENTICATED")));
    }
    assert_eq!(app.log(&f.practice).await, events_before, "nothing was written");
}

async fn a_cursor_before_what_the_log_retains_is_gone(app: TestApp) {
    let f = app.fixture().await;
    for _ in 0..4 {
        pay(&app, &f).await;
    }
    app.prune_log_through(&f.practice, 3).await;
    let expired = Cursor { practice_id: f.practice.clone(), seq: 1 }.encode();
    let (status, body) = poll(&app, Some(&f.subscriber), &f.practice, &format!("after={expired}")).await;
    assert_eq!((status, body["errors"][0]["extensions"]["code"].as_str()), (410, Some("CURSOR_EXPIRED")), "{body}");
    let kept = Cursor { practice_id: f.practice.clone(), seq: 3 }.encode();
    let (seqs, _, _) = ok(&app, &f.subscriber, &f.practice, &format!("after={kept}")).await;
    assert_eq!(seqs, [4, 5], "from the oldest retained event on");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_token_polls_only_its_own_events_with_the_practices_cursors() {
    let issuer = TestIssuer::start().await;
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| issuer.configure(c)).await else { return };
    let f = app.fixture().await;
    let other = app
        .ok(
            &f.backoffice,
            "mutation($p: ID!) { createPatient(input: {practiceId: $p, firstName: \"Otto\", lastName: \"Other\"}) { id } }",
            json!({ "p": f.practice }),
        )
        .await["createPatient"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let token = issuer.patient(&f.practice, &f.patient);
    let start = from_now(&app, &token, &f.practice).await;
    let app = Arc::new(app);
    let waiting = {
        let (app, token, practice, start) = (app.clone(), token.clone(), f.practice.clone(), start.clone());
        tokio::spawn(async move { ok(&app, &token, &practice, &format!("after={start}&wait=60")).await })
    };
    // Another patient's payment does not end the patient's wait; their own does.
    for patient in [&other, &other, &f.patient, &other] {
        let body = app.post_payment(&f.backoffice, patient, 100).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let (seqs, events, next) = tokio::time::timeout(Duration::from_secs(20), waiting).await.expect("answered").unwrap();
    assert_eq!(seqs, [5], "only the patient's own payment");
    assert_eq!(events[0]["patient"]["id"].as_str(), Some(f.patient.as_str()));
    assert_eq!(
        Cursor::decode(&next).unwrap(),
        Cursor { practice_id: f.practice.clone(), seq: 5 },
        "the practice's cursor"
    );
    let first = Cursor { practice_id: f.practice.clone(), seq: 0 }.encode();
    let (seqs, events, _) = ok(&app, &token, &f.practice, &format!("after={first}")).await;
    assert_eq!(seqs, [1, 5], "their creation and their payment, from the whole log");
    assert!(events.iter().all(|e| e["patient"]["id"] == f.patient.as_str()), "{events:?}");
    let (status, _) = poll(&app, Some(&token), &app.fixture().await.practice, "wait=0").await;
    assert_eq!(status, 404, "another practice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_applies_to_polls() {
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        c.rate_limit_per_sec = 1;
        c.rate_limit_burst = 10;
    })
    .await
    else {
        return;
    };
    let f = app.fixture().await;
    let mut statuses = Vec::new();
    // The subscriber key has made no request yet: a burst of 10, then about one a second.
    for _ in 0..16 {
        let (status, body) = poll(&app, Some(&f.subscriber), &f.practice, "wait=0").await;
        if status == 429 {
            assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
        }
        statuses.push(status);
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

/// A replica of a shared Postgres database and Redis, under the test's channel prefix.
async fn replica(db: &crate::helpers::TestDb, redis: &str, prefix: &str) -> TestApp {
    spawn_app_on(db, |c| {
        c.bus.redis_url = Some(redis.to_string());
        c.bus.redis_prefix = prefix.to_string();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_two_replicas_and_a_restart_every_event_arrives_once_in_order() {
    let Some(redis) = shared() else { return };
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let prefix = format!("cs-test-{}", uuid::Uuid::now_v7().simple());
    let a = replica(&db, &redis, &prefix).await;
    let b = replica(&db, &redis, &prefix).await;
    let f = a.fixture().await;
    let start = from_now(&a, &f.subscriber, &f.practice).await;

    // A poll waiting on one replica answers for a mutation made on the other.
    let (a, b) = (Arc::new(a), Arc::new(b));
    let waiting = {
        let (a, key, practice, start) = (a.clone(), f.subscriber.clone(), f.practice.clone(), start.clone());
        tokio::spawn(async move { ok(&a, &key, &practice, &format!("after={start}&wait=60")).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    pay(&b, &f).await;
    let (seqs, _, next) = tokio::time::timeout(Duration::from_secs(20), waiting).await.expect("answered").unwrap();
    assert_eq!(seqs, [2]);

    // Writers on both replicas; the client alternates between them.
    let writers: Vec<_> = [a.clone(), b.clone()]
        .into_iter()
        .map(|app| {
            let (key, patient) = (f.backoffice.clone(), f.patient.clone());
            tokio::spawn(async move {
                for _ in 0..30 {
                    let body = app.post_payment(&key, &patient, 1).await;
                    assert!(body.get("errors").is_none(), "{body}");
                }
            })
        })
        .collect();
    let (seqs, next) = drain(&[&*a, &*b], &f.subscriber, &f.practice, next, 60).await;
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(seqs, (3..=62).collect::<Vec<_>>());
    let a = Arc::into_inner(a).expect("the last handle on replica a");

    // Replica a drains while a poll waits there: the poll answers, empty, with its cursor.
    let waiting = {
        let (a, key, practice, next) = (a.clone_handle(), f.subscriber.clone(), f.practice.clone(), next.clone());
        tokio::spawn(async move { poll(&a, Some(&key), &practice, &format!("after={next}&wait=60")).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.stop().await;
    let (status, body) = tokio::time::timeout(Duration::from_secs(20), waiting).await.expect("answered").unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "events": [], "next": next }));
    // Events while it is down; the client goes on at the other replica, then at the restarted one.
    for _ in 0..5 {
        pay(&b, &f).await;
    }
    let (seqs, next) = drain(&[&*b], &f.subscriber, &f.practice, next, 5).await;
    assert_eq!(seqs, (63..=67).collect::<Vec<_>>());
    let restarted = replica(&db, &redis, &prefix).await;
    for _ in 0..5 {
        pay(&b, &f).await;
    }
    let (seqs, next) = drain(&[&restarted], &f.subscriber, &f.practice, next, 5).await;
    assert_eq!(seqs, (68..=72).collect::<Vec<_>>());
    let (rest, _, _) = ok(&restarted, &f.subscriber, &f.practice, &format!("after={next}&wait=1")).await;
    assert!(rest.is_empty(), "nothing twice");
}
