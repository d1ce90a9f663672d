//! Commands on NATS JetStream: a redelivered command applies once and answers the same;
//! a hundred commands over two practices apply in the order they were stored.

use serde_json::json;
use std::time::Duration;

use super::support::{NatsSide, metric, payment, payments};
use crate::bridges::brokers::shared_nats;
use crate::helpers::{ADMIN_KEY, Backend, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_command_sent_three_times_on_nats_applies_once_with_three_identical_replies() {
    if !shared_nats() {
        return;
    }
    let mut nats = NatsSide::new().await;
    let Some(app) = spawn_app_with(Backend::Postgres, |c| nats.configure(c, ADMIN_KEY)).await else { return };
    let f = app.fixture().await;
    let before = payments(&app, &f.practice).await;
    for _ in 0..3 {
        nats.send(&f.practice, payment("pay-once-1", &f.patient, 4200)).await;
    }
    let replies = [nats.reply().await, nats.reply().await, nats.reply().await];
    assert_eq!(replies[0]["type"], "clinicstream.command.result", "{}", replies[0]);
    assert_eq!(replies[0]["subject"], "pay-once-1");
    assert_eq!(replies[0]["data"]["data"]["postPayment"]["amountCents"], 4200, "{}", replies[0]);
    assert_eq!(replies[0], replies[1], "a redelivery answers the first result");
    assert_eq!(replies[1], replies[2]);
    assert_eq!(payments(&app, &f.practice).await, before + 1, "one event in the log");
    assert_eq!(metric(&app, "clinicstream_commands_applied_total{door=\"nats\"}").await, 1.0);
    assert_eq!(metric(&app, "clinicstream_commands_replayed_total{door=\"nats\"}").await, 2.0);

    // The same id with another request is not the same command: refused, nothing applied.
    nats.send(&f.practice, payment("pay-once-1", &f.patient, 1)).await;
    let dead = nats.dead_letter().await;
    assert_eq!(dead["data"]["error"]["code"], "CONFLICT", "{dead}");
    assert_eq!(payments(&app, &f.practice).await, before + 1);

    let query = "{ commandConsumers { broker source state applied replayed deadLettered retried lastError } }";
    let consumers = app.ok(ADMIN_KEY, query, json!({})).await["commandConsumers"].clone();
    assert_eq!(consumers.as_array().map(Vec::len), Some(1), "{consumers}");
    let nats_line = &consumers[0];
    assert_eq!(nats_line["broker"], "NATS", "{nats_line}");
    assert_eq!(nats_line["state"], "CONNECTED", "{nats_line}");
    assert!(nats_line["source"].as_str().unwrap().contains(&nats.prefix), "{nats_line}");
    assert_eq!((nats_line["applied"].as_i64(), nats_line["replayed"].as_i64()), (Some(1), Some(2)), "{nats_line}");
    assert_eq!(nats_line["deadLettered"], 1, "{nats_line}");
    let refused = app.gql(Some(&f.backoffice), query, json!({})).await;
    assert_eq!(crate::helpers::code(&refused), "FORBIDDEN", "a practice key does not see the deployment's consumers");
    nats.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_commands_across_two_practices_apply_in_the_order_they_were_sent() {
    if !shared_nats() {
        return;
    }
    let mut nats = NatsSide::new().await;
    let Some(app) = spawn_app_with(Backend::Postgres, |c| nats.configure(c, ADMIN_KEY)).await else { return };
    let (a, b) = (app.fixture().await, app.fixture().await);
    let mut sent = Vec::new();
    for i in 0..100 {
        let f = if i % 3 == 0 { &b } else { &a };
        let id = format!("order-{i}");
        nats.send(&f.practice, payment(&id, &f.patient, 1000 + i)).await;
        sent.push((id, 1000 + i));
    }
    for (id, cents) in &sent {
        let reply = nats.reply().await;
        assert_eq!(&reply["subject"], id, "replies come in the order the commands were stored: {reply}");
        assert_eq!(reply["data"]["data"]["postPayment"]["amountCents"], *cents, "{reply}");
    }
    // The log holds them in the same order: each practice's payments by amount.
    for (f, of_b) in [(&a, false), (&b, true)] {
        let want: Vec<i64> = sent.iter().filter(|(_, c)| ((c - 1000) % 3 == 0) == of_b).map(|(_, c)| *c).collect();
        let data = app
            .ok(
                ADMIN_KEY,
                "query($p: ID!) { events(practiceId: $p, first: 200) { edges { node { type ... on PaymentEvent { payment { amountCents } } } } } }",
                json!({ "p": f.practice }),
            )
            .await;
        let got: Vec<i64> = data["events"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["node"]["type"] == "PAYMENT_POSTED")
            .map(|e| e["node"]["payment"]["amountCents"].as_i64().unwrap())
            .collect();
        assert_eq!(got, want, "practice {}'s payments in the order they were sent", f.practice);
    }
    assert!(nats.no_reply_within(Duration::from_millis(300)).await, "one reply per command");
    nats.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_of_two_mutations_applies_both_once_and_replays_both() {
    if !shared_nats() {
        return;
    }
    let mut nats = NatsSide::new().await;
    let Some(app) = spawn_app_with(Backend::Postgres, |c| nats.configure(c, ADMIN_KEY)).await else { return };
    let f = app.fixture().await;
    let query = "mutation($p: ID!) { a: postPayment(input: {patientId: $p, amountCents: 1, method: CARD}) { id } \
                 b: postPayment(input: {patientId: $p, amountCents: 2, method: CASH}) { id } }";
    let bytes = super::support::command("two-1", query, json!({ "p": f.patient }));
    nats.send(&f.practice, bytes.clone()).await;
    nats.send(&f.practice, bytes).await;
    let (first, second) = (nats.reply().await, nats.reply().await);
    assert!(first["data"]["data"]["a"]["id"].is_string() && first["data"]["data"]["b"]["id"].is_string(), "{first}");
    assert_ne!(first["data"]["data"]["a"]["id"], first["data"]["data"]["b"]["id"]);
    assert_eq!(first, second);
    assert_eq!(payments(&app, &f.practice).await, 2, "each mutation once");
    nats.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_whose_key_is_refused_retries_then_dead_letters_after_five_deliveries() {
    if !shared_nats() {
        return;
    }
    let mut nats = NatsSide::new().await;
    let Some(app) = spawn_app_with(Backend::Postgres, |c| nats.configure(c, "cs_not_a_key_of_this_deployment")).await
    else {
        return;
    };
    let f = app.fixture().await;
    nats.send(&f.practice, payment("refused-key-1", &f.patient, 10)).await;
    let dead = nats.dead_letter().await;
    assert_eq!(dead["data"]["error"]["code"], "GAVE_UP", "{dead}");
    let message = dead["data"]["error"]["message"].as_str().unwrap();
    assert!(message.contains("5 deliveries") && message.contains("API key"), "{message}");
    assert_eq!(metric(&app, "clinicstream_commands_retried_total{door=\"nats\"}").await, 4.0);
    assert_eq!(payments(&app, &f.practice).await, 0);
    nats.delete().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_naming_its_replyto_gets_its_reply_there() {
    if !shared_nats() {
        return;
    }
    let mut nats = NatsSide::new().await;
    let Some(app) = spawn_app_with(Backend::Postgres, |c| nats.configure(c, ADMIN_KEY)).await else { return };
    let f = app.fixture().await;
    let own = format!("{}.lab.inbox", nats.prefix);
    let client = async_nats::connect(crate::bridges::brokers::SHARED_NATS).await.unwrap();
    let mut mine = client.subscribe(own.clone()).await.unwrap();
    client.flush().await.unwrap();
    let mut event: serde_json::Value = serde_json::from_slice(&payment("to-me-1", &f.patient, 5)).unwrap();
    event["replyto"] = json!(own);
    nats.send(&f.practice, serde_json::to_vec(&event).unwrap()).await;
    let message = tokio::time::timeout(super::support::WITHIN, futures_util::StreamExt::next(&mut mine)).await;
    let reply: serde_json::Value =
        serde_json::from_slice(&message.expect("a reply on replyto").unwrap().payload).unwrap();
    assert_eq!(reply["subject"], "to-me-1", "{reply}");
    assert!(nats.no_reply_within(Duration::from_millis(300)).await, "nothing on the default reply subject");
    nats.delete().await;
}
