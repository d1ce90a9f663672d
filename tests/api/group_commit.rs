//! Group commit: mutations of one practice committed in one batch keep every guarantee a
//! lone mutation has. Each test holds the practice's writer before it starts a batch (a
//! test fault), queues the mutations it wants in one batch, checks that they are queued,
//! and lets the batch go.

use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinHandle;

use crate::helpers::{Fixture, TestApp, code, spawn_replicas};
use crate::on_both_backends;
use crate::redis_server::shared;
use crate::replicas::{collect, seqs, subscriber};

on_both_backends!(
    a_failing_mutation_in_a_batch_rolls_back_alone,
    a_failing_first_mutation_leaves_the_batch_to_the_rest,
    an_idempotent_retry_inside_one_batch_gets_the_first_result,
    a_double_booking_inside_one_batch_lets_one_win,
    a_lone_mutation_is_a_batch_of_one,
    refused_and_kept_mutations_alternate_in_one_batch,
    mutations_of_two_practices_commit_in_one_batch,
);

const PAY: &str = "mutation($p: ID!, $a: Int!, $k: String) { postPayment(input: {patientId: $p, amountCents: $a, method: CARD, idempotencyKey: $k}) { id amountCents } }";
const SCHEDULE: &str = "mutation($p: ID!, $d: ID!, $at: DateTime!) { scheduleAppointment(input: {patientId: $p, providerId: $d, startsAt: $at, durationMinutes: 30}) { id } }";
const CANCEL: &str = "mutation($id: ID!) { cancelAppointment(input: {id: $id}) { id status } }";
const CHARGE: &str = "mutation($p: ID!, $a: Int!) { postCharge(input: {patientId: $p, amountCents: $a, description: \"Implant\"}) { id } }";
const BALANCE: &str = "query($id: ID!) { patient(id: $id) { balanceCents } }";

/// Waits until `done` holds (the server got that far), or fails the test.
async fn until(what: &str, done: impl Fn() -> bool) {
    assert!(crate::helpers::until(Duration::from_secs(10), done).await, "timed out waiting until {what}");
}

/// Holds the app's writers and sends a first payment, which the practice's writer takes
/// and then waits; the next mutations queue behind it, in the same batch.
async fn hold_with_a_first_payment(app: &Arc<TestApp>, f: &Fixture) -> JoinHandle<Value> {
    hold_with_first(app, &f.backoffice, PAY, json!({ "p": f.patient, "a": 1 })).await
}

/// Like `hold_with_a_first_payment`, with another first mutation.
async fn hold_with_first(app: &Arc<TestApp>, key: &str, query: &'static str, variables: Value) -> JoinHandle<Value> {
    let faults = &app.state().services.domain.faults;
    faults.hold_batches.send_replace(true);
    let first = send(app, key, query, variables);
    until("the writer holds the first payment", || faults.held_batches.load(Ordering::SeqCst) == 1).await;
    first
}

/// Sends a mutation from a task of its own.
fn send(app: &Arc<TestApp>, key: &str, query: &'static str, variables: Value) -> JoinHandle<Value> {
    let (app, key) = (app.clone(), key.to_string());
    tokio::spawn(async move { app.gql(Some(&key), query, variables).await })
}

/// Sends a mutation and waits until it is queued in the writer (the `queued`-th).
async fn queue(app: &Arc<TestApp>, key: &str, query: &'static str, variables: Value, queued: i64) -> JoinHandle<Value> {
    let task = send(app, key, query, variables);
    let counters = &app.state().services.domain.counters;
    until(&format!("{queued} mutations are queued"), || counters.write_queue.get() == queued).await;
    task
}

fn release(app: &TestApp) {
    app.state().services.domain.faults.hold_batches.send_replace(false);
}

fn batches(app: &TestApp) -> (u64, u64) {
    let counters = &app.state().services.domain.counters;
    (counters.write_batches.get(), counters.batched_writes.get())
}

async fn answer(task: JoinHandle<Value>) -> Value {
    task.await.expect("the request task")
}

fn tomorrow_at(hour: u32) -> String {
    let day = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
    format!("{day}T{hour:02}:00:00Z")
}

/// An appointment scheduled tomorrow at `hour` and cancelled: cancelling it again is a
/// CONFLICT found inside the batch.
async fn cancelled_appointment(app: &TestApp, f: &Fixture, hour: u32) -> String {
    let scheduled =
        app.ok(&f.backoffice, SCHEDULE, json!({ "p": f.patient, "d": f.provider, "at": tomorrow_at(hour) }));
    let appointment = scheduled.await["scheduleAppointment"]["id"].as_str().unwrap().to_string();
    app.ok(&f.backoffice, CANCEL, json!({ "id": appointment })).await;
    appointment
}

async fn a_failing_mutation_in_a_batch_rolls_back_alone(app: TestApp) {
    let app = Arc::new(app);
    let f = app.fixture().await;
    let appointment = cancelled_appointment(&app, &f, 9).await;
    let head = app.log(&f.practice).await.len() as i64;
    let before = batches(&app);

    let first = hold_with_a_first_payment(&app, &f).await;
    let ten = queue(&app, &f.backoffice, PAY, json!({ "p": f.patient, "a": 10 }), 1).await;
    let again = queue(&app, &f.backoffice, CANCEL, json!({ "id": appointment }), 2).await;
    let hundred = queue(&app, &f.backoffice, PAY, json!({ "p": f.patient, "a": 100 }), 3).await;
    release(&app);

    for task in [first, ten, hundred] {
        let body = answer(task).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    assert_eq!(code(&answer(again).await), "CONFLICT");
    let after = batches(&app);
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 3), "one batch; three of its mutations kept");
    let log = app.log(&f.practice).await;
    assert_eq!(log.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (1..=head + 3).collect::<Vec<_>>(), "gapless");
    assert!(log[head as usize..].iter().all(|(_, t)| t == "PAYMENT_POSTED"), "{log:?}");
    let balance = app.ok(&f.backoffice, BALANCE, json!({ "id": f.patient })).await;
    assert_eq!(balance["patient"]["balanceCents"], -111);
}

/// A second practice queued in the same lane as `f`'s (practices are made until one is).
async fn neighbour(app: &TestApp, f: &Fixture) -> Fixture {
    let lane = clinicstream::domain::writer::lane_of(&f.practice);
    loop {
        let other = app.fixture().await;
        if clinicstream::domain::writer::lane_of(&other.practice) == lane {
            return other;
        }
    }
}

/// Two practices in one lane, each with a mutation queued: one transaction commits both,
/// each practice's log stays gapless, and a failing mutation of one rolls back alone.
async fn mutations_of_two_practices_commit_in_one_batch(app: TestApp) {
    let app = Arc::new(app);
    let f = app.fixture().await;
    let g = neighbour(&app, &f).await;
    let appointment = cancelled_appointment(&app, &g, 9).await;
    let (f_head, g_head) = (app.log(&f.practice).await.len() as i64, app.log(&g.practice).await.len() as i64);
    let before = batches(&app);

    let first = hold_with_a_first_payment(&app, &f).await;
    let g_pays = queue(&app, &g.backoffice, PAY, json!({ "p": g.patient, "a": 20 }), 1).await;
    let g_again = queue(&app, &g.backoffice, CANCEL, json!({ "id": appointment }), 2).await;
    let f_pays = queue(&app, &f.backoffice, PAY, json!({ "p": f.patient, "a": 10 }), 3).await;
    let g_pays_more = queue(&app, &g.backoffice, PAY, json!({ "p": g.patient, "a": 200 }), 4).await;
    release(&app);

    for task in [first, g_pays, f_pays, g_pays_more] {
        let body = answer(task).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    assert_eq!(code(&answer(g_again).await), "CONFLICT");
    let after = batches(&app);
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 4), "one batch over two practices; four kept");
    for (practice, head, paid) in [(&f.practice, f_head, 2), (&g.practice, g_head, 2)] {
        let log = app.log(practice).await;
        assert_eq!(log.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (1..=head + paid).collect::<Vec<_>>(), "gapless");
        assert!(log[head as usize..].iter().all(|(_, t)| t == "PAYMENT_POSTED"), "{log:?}");
    }
    let balance = app.ok(&g.backoffice, BALANCE, json!({ "id": g.patient })).await;
    assert_eq!(balance["patient"]["balanceCents"], -220);
}

/// A practice whose counter row another transaction holds (another replica's batch) is
/// passed over: the rest of the batch commits without waiting for it, and its mutations
/// follow in the next batch, in their order, once the row is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_practice_held_elsewhere_waits_for_the_next_batch() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await else { return };
    let app = Arc::new(app);
    let f = app.fixture().await;
    let g = neighbour(&app, &f).await;
    let g_head = app.log(&g.practice).await.len() as i64;
    let elsewhere = app.state().services.domain.db.begin().await.unwrap();
    let lock = sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "SELECT last_seq FROM practices WHERE id = $1 FOR UPDATE",
        [g.practice.clone().into()],
    );
    elsewhere.query_one_raw(lock).await.unwrap().expect("the practice's row");

    let first = hold_with_a_first_payment(&app, &f).await;
    let g_one = queue(&app, &g.backoffice, PAY, json!({ "p": g.patient, "a": 1 }), 1).await;
    let f_pays = queue(&app, &f.backoffice, PAY, json!({ "p": f.patient, "a": 10 }), 2).await;
    let g_two = queue(&app, &g.backoffice, PAY, json!({ "p": g.patient, "a": 2 }), 3).await;
    release(&app);
    for task in [first, f_pays] {
        // A lane that waited for the held row here would hold these too.
        let body = tokio::time::timeout(Duration::from_secs(10), answer(task))
            .await
            .expect("the batch answers without waiting for the practice held elsewhere");
        assert!(body.get("errors").is_none(), "{body}");
    }
    assert!(!g_one.is_finished() && !g_two.is_finished(), "the held practice's mutations wait for its row");
    elsewhere.rollback().await.unwrap();
    for task in [g_one, g_two] {
        let body = answer(task).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let log = app.log(&g.practice).await;
    assert_eq!(log.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (1..=g_head + 2).collect::<Vec<_>>(), "gapless");
    let amounts = app
        .ok(&g.backoffice, "query($id: ID!) { patient(id: $id) { balanceCents } }", json!({ "id": g.patient }))
        .await;
    assert_eq!(amounts["patient"]["balanceCents"], -3);
}

/// The first mutation runs in the batch's transaction itself: when it fails, that is
/// rolled back and the rest commit in a new one.
async fn a_failing_first_mutation_leaves_the_batch_to_the_rest(app: TestApp) {
    let app = Arc::new(app);
    let f = app.fixture().await;
    let appointment = cancelled_appointment(&app, &f, 11).await;
    let head = app.log(&f.practice).await.len() as i64;
    let before = batches(&app);

    let again = hold_with_first(&app, &f.backoffice, CANCEL, json!({ "id": appointment })).await;
    let ten = queue(&app, &f.backoffice, PAY, json!({ "p": f.patient, "a": 10 }), 1).await;
    let twenty = queue(&app, &f.backoffice, PAY, json!({ "p": f.patient, "a": 20 }), 2).await;
    release(&app);

    assert_eq!(code(&answer(again).await), "CONFLICT");
    for task in [ten, twenty] {
        let body = answer(task).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let after = batches(&app);
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 2), "the two payments commit together");
    let seqs: Vec<i64> = app.log(&f.practice).await.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=head + 2).collect::<Vec<_>>(), "gapless");
    let balance = app.ok(&f.backoffice, BALANCE, json!({ "id": f.patient })).await;
    assert_eq!(balance["patient"]["balanceCents"], -30);
}

async fn an_idempotent_retry_inside_one_batch_gets_the_first_result(app: TestApp) {
    let app = Arc::new(app);
    let f = app.fixture().await;
    let head = app.log(&f.practice).await.len();

    let first = hold_with_a_first_payment(&app, &f).await;
    let once = queue(&app, &f.backoffice, PAY, json!({ "p": f.patient, "a": 50, "k": "visit-7" }), 1).await;
    let retry = queue(&app, &f.backoffice, PAY, json!({ "p": f.patient, "a": 50, "k": "visit-7" }), 2).await;
    let changed = queue(&app, &f.backoffice, PAY, json!({ "p": f.patient, "a": 60, "k": "visit-7" }), 3).await;
    release(&app);

    answer(first).await;
    let (once, retry) = (answer(once).await, answer(retry).await);
    assert!(once.get("errors").is_none(), "{once}");
    assert_eq!(once["data"], retry["data"], "the retry answers the first result");
    assert_eq!(code(&answer(changed).await), "CONFLICT", "the same key with another request");
    assert_eq!(app.log(&f.practice).await.len(), head + 2, "one event for the first payment, one for the key");
    let balance = app.ok(&f.backoffice, BALANCE, json!({ "id": f.patient })).await;
    assert_eq!(balance["patient"]["balanceCents"], -51, "the key's payment moved the balance once");
}

async fn a_double_booking_inside_one_batch_lets_one_win(app: TestApp) {
    let app = Arc::new(app);
    let f = app.fixture().await;
    let head = app.log(&f.practice).await.len();
    let slot = json!({ "p": f.patient, "d": f.provider, "at": tomorrow_at(10) });

    let first = hold_with_a_first_payment(&app, &f).await;
    let one = queue(&app, &f.backoffice, SCHEDULE, slot.clone(), 1).await;
    let other = queue(&app, &f.backoffice, SCHEDULE, slot, 2).await;
    release(&app);

    answer(first).await;
    let (one, other) = (answer(one).await, answer(other).await);
    assert!(one.get("errors").is_none(), "the first in the queue wins: {one}");
    assert_eq!(code(&other), "CONFLICT");
    let log = app.log(&f.practice).await;
    assert_eq!(log.len(), head + 2);
    assert_eq!(log.iter().filter(|(_, t)| t == "APPOINTMENT_SCHEDULED").count(), 1, "{log:?}");
}

async fn a_lone_mutation_is_a_batch_of_one(app: TestApp) {
    let f = app.fixture().await;
    for cents in [1, 2, 3] {
        let before = batches(&app);
        let body = app.gql(Some(&f.backoffice), PAY, json!({ "p": f.patient, "a": cents })).await;
        assert!(body.get("errors").is_none(), "{body}");
        let after = batches(&app);
        // Committed at once, alone: nothing waited for company.
        assert_eq!((after.0 - before.0, after.1 - before.1), (1, 1));
    }
    assert_eq!(app.state().services.domain.counters.write_queue.get(), 0);
}

/// Turns after the first share one savepoint name: a refused turn (its charge written,
/// then refused for the balance bound) is rolled back before the next turn runs, a kept
/// one is released when the next opens, and a refused last turn is rolled back before the
/// batch commits. Each refused charge must leave no trace, each payment must stay.
async fn refused_and_kept_mutations_alternate_in_one_batch(app: TestApp) {
    let app = Arc::new(app);
    let f = app.fixture().await;
    for _ in 0..21 {
        app.ok(&f.backoffice, CHARGE, json!({ "p": f.patient, "a": 100_000_000 })).await;
    }
    let head = app.log(&f.practice).await.len() as i64;
    let before = batches(&app);

    let first = hold_with_a_first_payment(&app, &f).await;
    let over = json!({ "p": f.patient, "a": 100_000_000 });
    let mut refused = vec![queue(&app, &f.backoffice, CHARGE, over.clone(), 1).await];
    let ten = queue(&app, &f.backoffice, PAY, json!({ "p": f.patient, "a": 10 }), 2).await;
    refused.push(queue(&app, &f.backoffice, CHARGE, over.clone(), 3).await);
    let hundred = queue(&app, &f.backoffice, PAY, json!({ "p": f.patient, "a": 100 }), 4).await;
    refused.push(queue(&app, &f.backoffice, CHARGE, over, 5).await);
    release(&app);

    for task in [first, ten, hundred] {
        let body = answer(task).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    for task in refused {
        assert_eq!(code(&answer(task).await), "BAD_USER_INPUT");
    }
    let after = batches(&app);
    assert_eq!((after.0 - before.0, after.1 - before.1), (1, 3), "one batch; its three payments kept");
    let log = app.log(&f.practice).await;
    assert_eq!(log.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (1..=head + 3).collect::<Vec<_>>(), "gapless");
    assert!(log[head as usize..].iter().all(|(_, t)| t == "PAYMENT_POSTED"), "{log:?}");
    let balance = app.ok(&f.backoffice, BALANCE, json!({ "id": f.patient })).await;
    assert_eq!(balance["patient"]["balanceCents"], 2_100_000_000 - 111, "no refused charge moved the balance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_on_two_replicas_interleave_gapless_and_every_event_arrives_once() {
    let Some(redis) = shared() else { return };
    let Some(replicas) = spawn_replicas(2, &redis, |_| {}).await else { return };
    let replicas: Vec<Arc<TestApp>> = replicas.into_iter().map(Arc::new).collect();
    let f = replicas[0].fixture().await;
    let head = replicas[0].log(&f.practice).await.len() as i64;
    let mut clients = Vec::new();
    for replica in &replicas {
        clients.push(subscriber(replica, &f.subscriber, &f.practice, None).await);
    }
    // On each replica a batch of six payments, let go together: the two batches race for
    // the practice's counter row lock.
    let mut tasks = Vec::new();
    for replica in &replicas {
        tasks.push(hold_with_a_first_payment(replica, &f).await);
        for n in 1..=5 {
            tasks.push(queue(replica, &f.backoffice, PAY, json!({ "p": f.patient, "a": 1 }), n).await);
        }
    }
    for replica in &replicas {
        release(replica);
    }
    for task in tasks {
        let body = answer(task).await;
        assert!(body.get("errors").is_none(), "{body}");
    }
    let (batches, kept) = replicas.iter().map(|r| batches(r)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert!(kept >= batches + 10, "six payments per batch: {batches} batches, {kept} kept");
    let expected: Vec<i64> = (head + 1..=head + 12).collect();
    let log: Vec<i64> = replicas[1].log(&f.practice).await.iter().map(|(s, _)| *s).collect();
    assert_eq!(log, (1..=head + 12).collect::<Vec<_>>(), "gapless across replicas");
    for client in clients.iter_mut() {
        assert_eq!(seqs(&collect(client, 12).await), expected, "every event once, in order");
    }
    let balance = replicas[0].ok(&f.backoffice, BALANCE, json!({ "id": f.patient })).await;
    assert_eq!(balance["patient"]["balanceCents"], -12);
}
