//! A replica SIGKILLed between a command's commit and its ack (the real binary): the
//! command is redelivered to the other replica, which answers with the first result and
//! appends nothing. The replica is held in that window without any hook: the test holds
//! the row the command's reply record goes into (an open transaction on the real
//! Postgres), so the replica commits the mutation and then waits, unacked, until killed;
//! its connections are then ended so the reply record is never written, and the other
//! replica must find the first result in the mutation's own derived key.

use sea_orm::{ConnectionTrait, Database, TransactionTrait};
use std::time::Duration;

use super::support::{NatsSide, WITHIN, metric, payment, payments};
use crate::binary::Binary;
use crate::bridges::brokers::shared_nats;
use crate::helpers::{ADMIN_KEY, Backend, eventually, fresh_db, spawn_app_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_between_commit_and_ack_causes_no_second_apply() {
    if !shared_nats() {
        return;
    }
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let mut nats = NatsSide::new().await;
    let env = [("DATABASE_URL", db.url.as_str()), ("ADMIN_KEY", ADMIN_KEY)];
    let nats_env = nats.env(ADMIN_KEY);
    let (mut child, a) =
        Binary::start(env.into_iter().chain(nats_env.iter().map(|(k, v)| (*k, v.as_str()))), Duration::from_secs(15))
            .await;
    let f = a.fixture().await;

    // Hold the reply record's row: A's insert of it waits behind this transaction.
    let holder = Database::connect(&db.url).await.unwrap();
    let held = holder.begin().await.unwrap();
    held.execute_unprepared(
        "INSERT INTO idempotency_keys (scope, key, operation, request_hash, response, created_at) \
         VALUES ('global', 'command:killed-1', 'command', 'held by the test', '', 0)",
    )
    .await
    .unwrap();
    nats.send(&f.practice, payment("killed-1", &f.patient, 3100)).await;
    let committed = eventually(WITHIN, async || payments(&a, &f.practice).await, |n| *n == 1).await;
    assert_eq!(committed, Ok(1), "replica A committed the command");
    assert!(nats.no_reply_within(Duration::from_millis(500)).await, "A is held before its reply and ack");
    child.kill();
    // The dead replica's connections go too (Postgres would notice the closed sockets on
    // its own, later): its waiting insert of the reply record must not complete.
    held.execute_unprepared(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
    )
    .await
    .unwrap();
    held.rollback().await.unwrap();

    // Replica B, on the same database, stream and durable consumer: JetStream redelivers
    // the unacked command to it after COMMANDS_NATS_ACK_WAIT.
    let b = spawn_app_on(&db, |c| nats.configure(c, ADMIN_KEY)).await;
    let reply = nats.reply().await;
    assert_eq!(reply["subject"], "killed-1", "{reply}");
    assert_eq!(reply["data"]["data"]["postPayment"]["amountCents"], 3100, "the first result: {reply}");
    assert_eq!(payments(&b, &f.practice).await, 1, "no second apply");
    assert_eq!(metric(&b, "clinicstream_commands_replayed_total{door=\"nats\"}").await, 1.0);
    assert_eq!(metric(&b, "clinicstream_commands_applied_total{door=\"nats\"}").await, 0.0);
    nats.delete().await;
}
