//! APPOINTMENT_STARTING_SOON: sent once per appointment, `REMINDER_LEAD` (30 minutes here)
//! before it starts, by however many replicas; time moves by a hand-driven clock.

use chrono::{DateTime, Duration, TimeZone, Utc};
use clinicstream::clock::ManualClock;
use clinicstream::db::entities::{appointment, event};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::json;
use std::sync::Arc;

use crate::helpers::{Backend, Fixture, TestApp, TestDb, fresh_db, spawn_replica};
use crate::ws_client::{TRANSPORT_WS, WsClient};

/// Declares `name::sqlite` and `name::postgres`, each running `name(backend)`.
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name(crate::helpers::Backend::Postgres).await;
                }
            }
        )+
    };
}

on_both!(
    a_reminder_fires_once_when_its_time_comes,
    rescheduling_before_the_reminder_moves_it_to_the_new_time,
    rescheduling_after_the_reminder_arms_a_new_one,
    cancelled_and_completed_appointments_are_not_reminded,
    an_appointment_scheduled_inside_the_lead_window_is_reminded_at_once,
    reminders_due_while_every_replica_was_down_are_sent_once_on_start,
    a_subscriber_receives_appointment_starting_soon,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_sharing_postgres_send_each_reminder_once() {
    let Some((_db, clock, apps)) = cluster(Backend::Postgres, 3).await else { return };
    let f = apps[0].fixture().await;
    let mut ids = Vec::new();
    for i in 0..30 {
        // Spread the scheduling over the replicas: each wakes its own scheduler.
        let app = &apps[i % apps.len()];
        ids.push(schedule(app, &f, at(60 + 5 * i as i64)).await);
    }
    clock.set(at(29));
    assert_eq!(settle(&apps[0], &clock).await.len(), 0, "none is due before its time");
    // Due from T+30 to T+175; ten minutes at a time, so none starts before it is due.
    for minute in (30..=180).step_by(10) {
        clock.set(at(minute));
        settle(&apps[0], &clock).await;
    }
    let mut reminded: Vec<String> = sent(&apps[0]).await.into_iter().map(|r| r.appointment).collect();
    reminded.sort();
    ids.sort();
    assert_eq!(reminded, ids, "every appointment reminded exactly once");
    assert_gapless(&apps[0], &f.practice).await;
}

async fn a_reminder_fires_once_when_its_time_comes(backend: Backend) {
    let Some((_db, clock, apps)) = cluster(backend, 1).await else { return };
    let app = &apps[0];
    let f = app.fixture().await;
    let id = schedule(app, &f, at(120)).await;
    clock.set(at(89));
    settle(app, &clock).await;
    assert!(sent(app).await.is_empty(), "31 minutes before the start is too early");
    clock.set(at(90));
    let reminders = settle(app, &clock).await;
    assert_eq!(reminders.len(), 1);
    assert_eq!((reminders[0].appointment.as_str(), reminders[0].starts_at), (id.as_str(), at(120)));
    clock.set(at(119));
    assert_eq!(settle(app, &clock).await.len(), 1, "sent once, not again as time passes");
    let log = app.log(&f.practice).await;
    let types: Vec<&str> = log.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(types, ["PATIENT_CREATED", "APPOINTMENT_SCHEDULED", "APPOINTMENT_STARTING_SOON"]);
    assert_eq!(log[2].0, 3, "the reminder takes the practice's next seq");
}

async fn rescheduling_before_the_reminder_moves_it_to_the_new_time(backend: Backend) {
    let Some((_db, clock, apps)) = cluster(backend, 1).await else { return };
    let app = &apps[0];
    let f = app.fixture().await;
    let id = schedule(app, &f, at(120)).await;
    reschedule(app, &f, &id, at(180)).await;
    clock.set(at(100));
    settle(app, &clock).await;
    assert!(sent(app).await.is_empty(), "the old time's reminder is gone");
    clock.set(at(150));
    let reminders = settle(app, &clock).await;
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0].starts_at, at(180), "the snapshot has the new time");
}

async fn rescheduling_after_the_reminder_arms_a_new_one(backend: Backend) {
    let Some((_db, clock, apps)) = cluster(backend, 1).await else { return };
    let app = &apps[0];
    let f = app.fixture().await;
    let id = schedule(app, &f, at(60)).await;
    clock.set(at(30));
    assert_eq!(settle(app, &clock).await.len(), 1);
    reschedule(app, &f, &id, at(180)).await;
    clock.set(at(149));
    assert_eq!(settle(app, &clock).await.len(), 1, "the new reminder is not due yet");
    clock.set(at(150));
    let reminders = settle(app, &clock).await;
    let starts: Vec<_> = reminders.iter().map(|r| (r.appointment.as_str(), r.starts_at)).collect();
    assert_eq!(starts, [(id.as_str(), at(60)), (id.as_str(), at(180))], "one reminder per start time");
}

async fn cancelled_and_completed_appointments_are_not_reminded(backend: Backend) {
    let Some((_db, clock, apps)) = cluster(backend, 1).await else { return };
    let app = &apps[0];
    let f = app.fixture().await;
    let cancelled = schedule(app, &f, at(60)).await;
    let completed = schedule(app, &f, at(120)).await;
    let kept = schedule(app, &f, at(180)).await;
    app.ok(
        &f.backoffice,
        "mutation($id: ID!) { cancelAppointment(input: {id: $id}) { id } }",
        json!({ "id": cancelled }),
    )
    .await;
    app.ok(
        &f.backoffice,
        "mutation($id: ID!) { completeAppointment(input: {id: $id}) { id } }",
        json!({ "id": completed }),
    )
    .await;
    clock.set(at(170));
    let reminders = settle(app, &clock).await;
    let ids: Vec<&str> = reminders.iter().map(|r| r.appointment.as_str()).collect();
    assert_eq!(ids, [kept.as_str()], "only the appointment still scheduled is reminded");
}

async fn an_appointment_scheduled_inside_the_lead_window_is_reminded_at_once(backend: Backend) {
    let Some((_db, clock, apps)) = cluster(backend, 1).await else { return };
    let app = &apps[0];
    let f = app.fixture().await;
    // The scheduler is asleep with nothing armed; the clock does not move: the mutation's
    // commit has to wake it.
    let id = schedule(app, &f, at(10)).await;
    let reminders = wait_for(app, 1).await;
    assert_eq!(reminders[0].appointment, id);
    assert_eq!(settle(app, &clock).await.len(), 1);
}

async fn reminders_due_while_every_replica_was_down_are_sent_once_on_start(backend: Backend) {
    let replicas = if backend == Backend::Postgres { 3 } else { 1 };
    let Some((db, clock, apps)) = cluster(backend, replicas).await else { return };
    let f = apps[0].fixture().await;
    let not_started = schedule(&apps[0], &f, at(60)).await;
    let started = schedule(&apps[0], &f, at(40)).await;
    for app in apps {
        app.stop().await;
    }
    // Down across both due times (T+10 and T+30) and the start of `started` (T+40).
    clock.set(at(45));
    let mut apps = Vec::new();
    for _ in 0..replicas {
        apps.push(spawn_replica(&db, clock.clone()).await);
    }
    let reminders = settle(&apps[0], &clock).await;
    let ids: Vec<&str> = reminders.iter().map(|r| r.appointment.as_str()).collect();
    assert_eq!(ids, [not_started.as_str()], "caught up once; an appointment already started is not reminded");
    let row = appointment::Entity::find_by_id(started).one(&apps[0].state().services.domain.db).await.unwrap().unwrap();
    assert_eq!((row.remind_at, row.reminded_at), (None, None), "its reminder was disarmed, not sent");
}

async fn a_subscriber_receives_appointment_starting_soon(backend: Backend) {
    let Some((_db, clock, apps)) = cluster(backend, 1).await else { return };
    let app = &apps[0];
    let f = app.fixture().await;
    let mut client = WsClient::connect(app.addr, TRANSPORT_WS, &f.subscriber).await;
    client
        .subscribe(
            "soon",
            "subscription($p: ID!) { appointmentStartingSoon(practiceId: $p) { seq type cursor appointment { id startsAt status } } }",
            json!({ "p": f.practice }),
        )
        .await;
    client.subscribe("sync", "{ __typename }", json!({})).await;
    client.next_data("sync").await;
    client.recv().await;
    let id = schedule(app, &f, at(120)).await;
    clock.set(at(90));
    let payload = client.next_data("soon").await;
    let event = &payload["data"]["appointmentStartingSoon"];
    assert_eq!(event["type"], "APPOINTMENT_STARTING_SOON", "{payload}");
    assert_eq!(event["seq"], 3);
    assert_eq!(event["appointment"]["id"], id.as_str());
    assert_eq!(event["appointment"]["status"], "SCHEDULED");
    let starts_at: DateTime<Utc> = event["appointment"]["startsAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(starts_at, at(120));
}

/// `minutes` after the tests' start time, a Monday at 08:00 UTC.
pub(crate) fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 7, 8, 0, 0).unwrap() + Duration::minutes(minutes)
}

/// A fresh database with `n` replicas on it sharing one hand-driven clock (at `at(0)`).
pub(crate) async fn cluster(backend: Backend, n: usize) -> Option<(TestDb, Arc<ManualClock>, Vec<TestApp>)> {
    let db = fresh_db(backend).await?;
    let clock = Arc::new(ManualClock::new(at(0)));
    let mut apps = Vec::new();
    for _ in 0..n {
        apps.push(spawn_replica(&db, clock.clone()).await);
    }
    Some((db, clock, apps))
}

async fn schedule(app: &TestApp, f: &Fixture, starts_at: DateTime<Utc>) -> String {
    let data = app
        .ok(
            &f.backoffice,
            "mutation($pt: ID!, $pr: ID!, $at: DateTime!) { scheduleAppointment(input: {patientId: $pt, providerId: $pr, startsAt: $at, durationMinutes: 5}) { id } }",
            json!({ "pt": f.patient, "pr": f.provider, "at": starts_at }),
        )
        .await;
    data["scheduleAppointment"]["id"].as_str().unwrap().to_string()
}

async fn reschedule(app: &TestApp, f: &Fixture, id: &str, starts_at: DateTime<Utc>) {
    app.ok(
        &f.backoffice,
        "mutation($id: ID!, $at: DateTime!) { rescheduleAppointment(input: {id: $id, startsAt: $at}) { id } }",
        json!({ "id": id, "at": starts_at }),
    )
    .await;
}

pub(crate) struct Reminder {
    pub(crate) appointment: String,
    starts_at: DateTime<Utc>,
}

/// Every APPOINTMENT_STARTING_SOON in the log (all practices), in (practice, seq) order.
pub(crate) async fn sent(app: &TestApp) -> Vec<Reminder> {
    let rows = event::Entity::find()
        .filter(event::Column::EventType.eq("APPOINTMENT_STARTING_SOON"))
        .order_by_asc(event::Column::PracticeId)
        .order_by_asc(event::Column::Seq)
        .all(&app.state().services.domain.db)
        .await
        .expect("the log reads");
    rows.into_iter()
        .map(|row| {
            let payload: serde_json::Value = serde_json::from_str(&row.payload).unwrap();
            let appointment = &payload["appointment"];
            Reminder {
                appointment: appointment["id"].as_str().unwrap().to_string(),
                starts_at: appointment["startsAt"].as_str().unwrap().parse().unwrap(),
            }
        })
        .collect()
}

/// Waits until no reminder due by the clock is left armed, then a little longer (so a
/// duplicate would have time to show), and returns what was sent.
pub(crate) async fn settle(app: &TestApp, clock: &ManualClock) -> Vec<Reminder> {
    use clinicstream::clock::Clock;
    let now = clock.now().timestamp_millis();
    let due = async || {
        let due = appointment::Entity::find().filter(appointment::Column::RemindAt.lte(now));
        due.count(&app.state().services.domain.db).await.expect("appointments read")
    };
    let settled = crate::helpers::eventually(std::time::Duration::from_secs(50), due, |due| *due == 0).await;
    if let Err(due) = settled {
        panic!("{due} reminders still due after 50 s");
    }
    // timing: a negative check; a duplicate, were one sent, would be in the log by then.
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    sent(app).await
}

/// Waits until at least `n` reminders were sent, for 3 s: well under the scheduler's 10 s
/// poll, so only the wake-up from the mutation gets there in time.
async fn wait_for(app: &TestApp, n: usize) -> Vec<Reminder> {
    let reminders =
        crate::helpers::eventually(std::time::Duration::from_secs(3), async || sent(app).await, |r| r.len() >= n);
    reminders.await.unwrap_or_else(|_| panic!("fewer than {n} reminders after 3 s"))
}

/// The practice's seqs are 1..=n with no gap and no repeat.
pub(crate) async fn assert_gapless(app: &TestApp, practice: &str) {
    let seqs: Vec<i64> = event::Entity::find()
        .filter(event::Column::PracticeId.eq(practice))
        .all(&app.state().services.domain.db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.seq)
        .collect();
    let mut sorted = seqs.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (1..=seqs.len() as i64).collect::<Vec<_>>(), "gapless seqs for {practice}");
}
