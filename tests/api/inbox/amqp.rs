//! Commands on RabbitMQ: a redelivered command applies once and answers the same, to the
//! reply exchange or to the message's own `reply_to`.

use super::support::{AmqpSide, metric, payment, payments};
use crate::bridges::brokers::shared_amqp;
use crate::helpers::{ADMIN_KEY, Backend, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_command_sent_three_times_on_rabbitmq_applies_once_with_three_identical_replies() {
    if !shared_amqp() {
        return;
    }
    let mut amqp = AmqpSide::new().await;
    let Some(app) = spawn_app_with(Backend::Postgres, |c| amqp.configure(c, ADMIN_KEY)).await else { return };
    let f = app.fixture().await;
    let before = payments(&app, &f.practice).await;
    let command = payment("amqp-once-1", &f.patient, 777);
    // Twice through the reply exchange, once to the message's own reply_to queue.
    amqp.send(&command, None).await;
    amqp.send(&command, Some(&amqp.reply_queue)).await;
    amqp.send(&command, None).await;
    let replies = [amqp.reply().await, amqp.reply().await, amqp.reply().await];
    assert_eq!(replies[0]["type"], "clinicstream.command.result", "{}", replies[0]);
    assert_eq!(replies[0]["subject"], "amqp-once-1");
    assert_eq!(replies[0]["data"]["data"]["postPayment"]["amountCents"], 777, "{}", replies[0]);
    assert_eq!(replies[0], replies[1], "a redelivery answers the first result");
    assert_eq!(replies[1], replies[2]);
    assert_eq!(payments(&app, &f.practice).await, before + 1, "one event in the log");
    assert_eq!(metric(&app, "clinicstream_commands_applied_total{door=\"amqp\"}").await, 1.0);
    assert_eq!(metric(&app, "clinicstream_commands_replayed_total{door=\"amqp\"}").await, 2.0);
    drop(app);
    amqp.delete().await;
}
