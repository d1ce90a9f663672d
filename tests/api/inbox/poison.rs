//! Poison: what cannot be a command goes to the dead letter with a clear error, is acked,
//! and the next command still applies — not JSON, not a CloudEvent, a query, an unknown
//! field, another practice's patient under a practice key, an oversized message.

use serde_json::{Value, json};

use super::support::{AmqpSide, NatsSide, PAY, command, payment, payments};
use crate::bridges::brokers::{shared_amqp, shared_nats};
use crate::helpers::{Backend, fresh_db, spawn_app_on};

/// The poison messages for a consumer running under `own`'s BACKOFFICE key, each with the
/// dead letter's expected code.
pub(super) fn poison(own_patient: &str, other_patient: &str) -> Vec<(&'static str, Vec<u8>)> {
    let not_a_command =
        json!({"specversion": "1.0", "id": "x-1", "source": "/t", "type": "clinicstream.event", "data": {}});
    vec![
        ("NOT_JSON", b"{\"specversion\": \"1.0\", ".to_vec()),
        ("NOT_A_CLOUDEVENT", serde_json::to_vec(&json!({"query": "mutation { x }"})).unwrap()),
        ("NOT_A_COMMAND", serde_json::to_vec(&not_a_command).unwrap()),
        ("NOT_A_MUTATION", command("q-1", "query { practices { id } }", json!({}))),
        ("NOT_A_MUTATION", command("s-1", "subscription { events { seq } }", json!({}))),
        ("INVALID_OPERATION", command("u-1", "mutation { dropAllPatients { id } }", json!({}))),
        ("INVALID_OPERATION", command("u-2", UNKNOWN_INPUT, json!({"p": own_patient}))),
        ("REFUSED", payment("other-1", other_patient, 500)),
        ("TOO_LARGE", command("big-1", PAY, json!({"p": own_patient, "a": 1, "pad": "x".repeat(200 * 1024)}))),
    ]
}

/// A payment whose input has a field the schema does not know.
const UNKNOWN_INPUT: &str =
    "mutation($p: ID!) { postPayment(input: {patientId: $p, amountCents: 1, method: CARD, tip: 5}) { id } }";

pub(super) fn checked(dead: &Value, code: &str) {
    assert_eq!(dead["type"], "clinicstream.command.dead_letter", "{dead}");
    assert_eq!(dead["data"]["error"]["code"], code, "{dead}");
    let message = dead["data"]["error"]["message"].as_str().unwrap_or_default();
    assert!(message.len() > 10, "the error says why: {dead}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_on_nats_goes_to_the_dead_letter_and_the_next_command_still_applies() {
    if !shared_nats() {
        return;
    }
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let setup = spawn_app_on(&db, |_| {}).await;
    let (own, other) = (setup.fixture().await, setup.fixture().await);
    let mut nats = NatsSide::new().await;
    let app = spawn_app_on(&db, |c| {
        nats.configure(c, &own.backoffice);
        c.max_body_bytes = 64 * 1024;
    })
    .await;
    for (i, (code, bytes)) in poison(&own.patient, &other.patient).into_iter().enumerate() {
        nats.send(&own.practice, bytes).await;
        checked(&nats.dead_letter().await, code);
        nats.send(&own.practice, payment(&format!("after-{i}"), &own.patient, 100 + i as i64)).await;
        let reply = nats.reply().await;
        assert_eq!(reply["data"]["data"]["postPayment"]["amountCents"], 100 + i as i64, "after {code}: {reply}");
    }
    assert_eq!(payments(&app, &other.practice).await, 0, "nothing applied to the other practice");
    assert_eq!(payments(&app, &own.practice).await, 9);
    nats.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_on_rabbitmq_goes_to_the_dead_letter_and_the_next_command_still_applies() {
    if !shared_amqp() {
        return;
    }
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let setup = spawn_app_on(&db, |_| {}).await;
    let (own, other) = (setup.fixture().await, setup.fixture().await);
    let mut amqp = AmqpSide::new().await;
    let app = spawn_app_on(&db, |c| amqp.configure(c, &own.backoffice)).await;
    let mut messages = poison(&own.patient, &other.patient);
    // RabbitMQ takes a 10 MB message; the consumer refuses it past MAX_BODY_BYTES (1 MiB).
    messages.pop();
    messages
        .push(("TOO_LARGE", command("huge-1", PAY, json!({"p": own.patient, "a": 1, "pad": "x".repeat(10 << 20)}))));
    for (i, (code, bytes)) in messages.into_iter().enumerate() {
        amqp.send(&bytes, None).await;
        let dead = amqp.dead_letter().await;
        checked(&dead, code);
        if code == "TOO_LARGE" {
            assert_eq!(dead["data"]["truncated"], true, "a dead letter keeps only the start of a huge message");
        }
        amqp.send(&payment(&format!("after-{i}"), &own.patient, 100 + i as i64), None).await;
        let reply = amqp.reply().await;
        assert_eq!(reply["data"]["data"]["postPayment"]["amountCents"], 100 + i as i64, "after {code}: {reply}");
    }
    assert_eq!(payments(&app, &other.practice).await, 0, "nothing applied to the other practice");
    drop(app);
    amqp.delete().await;
}
