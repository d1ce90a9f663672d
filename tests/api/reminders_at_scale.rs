//! Reminders at scale: 10,000 appointments coming due over an hour, each reminded once
//! (three replicas on Postgres, one on SQLite).

use clinicstream::db::entities::appointment;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::helpers::Backend;
use crate::reminders::{assert_gapless, at, cluster, sent, settle};

mod ten_thousand_appointments_due_over_an_hour_are_each_reminded_once {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::ten_thousand_appointments(crate::helpers::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_three_replicas() {
        super::ten_thousand_appointments(crate::helpers::Backend::Postgres).await;
    }
}

async fn ten_thousand_appointments(backend: Backend) {
    const N: usize = 10_000;
    let replicas = if backend == Backend::Postgres { 3 } else { 1 };
    let Some((_db, clock, apps)) = cluster(backend, replicas).await else { return };
    let started = std::time::Instant::now();
    let mut practices = Vec::new();
    for _ in 0..4 {
        practices.push(apps[0].fixture().await);
    }
    // Starts every 360 ms from T+35m: reminders due from T+5m to T+65m.
    let rows: Vec<appointment::ActiveModel> = (0..N)
        .map(|i| {
            let f = &practices[i % practices.len()];
            let starts_at = at(35).timestamp_millis() + i as i64 * 360;
            appointment::ActiveModel {
                id: sea_orm::Set(format!("apt_bulk_{i:05}")),
                practice_id: sea_orm::Set(f.practice.clone()),
                patient_id: sea_orm::Set(f.patient.clone()),
                provider_id: sea_orm::Set(f.provider.clone()),
                starts_at: sea_orm::Set(starts_at),
                ends_at: sea_orm::Set(starts_at + 15 * 60_000),
                status: sea_orm::Set("SCHEDULED".into()),
                reason: sea_orm::Set(None),
                cancellation_reason: sea_orm::Set(None),
                version: sea_orm::Set(1),
                created_at: sea_orm::Set(at(0).timestamp_millis()),
                updated_at: sea_orm::Set(at(0).timestamp_millis()),
                remind_at: sea_orm::Set(Some(starts_at - 30 * 60_000)),
                reminded_at: sea_orm::Set(None),
            }
        })
        .collect();
    let db = &apps[0].state().services.domain.db;
    for chunk in rows.chunks(500) {
        appointment::Entity::insert_many(chunk.to_vec()).exec(db).await.expect("bulk insert");
    }
    let inserted = started.elapsed();
    // Written behind the schedulers' backs, like reminders armed on another replica: ring
    // each one as a mutation would, rather than wait for their 10 s poll.
    for app in &apps {
        app.state().services.domain.reminders.armed(Some(at(5).timestamp_millis()));
    }
    // Five minutes at a time across the window, each step's due reminders sent before the
    // next (otherwise an appointment could start before its reminder and rightly get none).
    for minute in (5..=70).step_by(5) {
        clock.set(at(minute));
        settle(&apps[0], &clock).await;
    }
    let reminders = sent(&apps[0]).await;
    let mut distinct: Vec<&str> = reminders.iter().map(|r| r.appointment.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let armed =
        appointment::Entity::find().filter(appointment::Column::RemindAt.is_not_null()).count(db).await.unwrap();
    for f in &practices {
        assert_gapless(&apps[0], &f.practice).await;
    }
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "reminders {backend:?}, {replicas} replica(s): {N} appointments, {} APPOINTMENT_STARTING_SOON events, \
         {} distinct appointments, {armed} still armed; insert {:.1?}, sending {:.1?}",
        reminders.len(),
        distinct.len(),
        inserted,
        started.elapsed() - inserted,
    );
    assert_eq!(reminders.len(), N, "one event per appointment");
    assert_eq!(distinct.len(), N, "no appointment reminded twice");
    assert_eq!(armed, 0);
}
