//! Bad bridge settings: malformed ones stop the start with a message naming the setting;
//! ones only the broker can judge (an exchange RabbitMQ refuses) are reported in the log
//! and the `bridges` query while the API goes on.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::brokers::{SHARED_AMQP, shared_amqp, unique};
use super::support::{bridge_until, fast, pay, ready};
use crate::helpers::{ADMIN_KEY, Backend, fresh_db, spawn_app_with, test_config};

/// A change to a test app's settings.
type Adjust = Box<dyn FnOnce(&mut clinicstream::Config)>;

async fn build_error(adjust: impl FnOnce(&mut clinicstream::Config)) -> String {
    let db = fresh_db(Backend::Sqlite).await.unwrap();
    let mut config = test_config(&db.url);
    adjust(&mut config);
    match clinicstream::App::build(config).await {
        Ok(_) => panic!("the app must not start with these settings"),
        Err(err) => format!("{err:#}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bridge_settings_stop_the_start_with_a_message_naming_the_setting() {
    let cases: Vec<(Adjust, &[&str])> = vec![
        (
            Box::new(|c| {
                c.bridges.amqp_url = Some(SHARED_AMQP.into());
                c.bridges.amqp_exchange = "bad exchange!".into();
            }),
            &["BRIDGE_AMQP_EXCHANGE", "bad exchange!"],
        ),
        (Box::new(|c| c.bridges.nats_url = Some("tls://127.0.0.1:4222".into())), &["BRIDGE_NATS_URL", "TLS"]),
        (Box::new(|c| c.bridges.mqtt_url = Some("127.0.0.1:1883".into())), &["BRIDGE_MQTT_URL", "not a URL"]),
        (
            Box::new(|c| {
                c.bridges.nats_url = Some("nats://127.0.0.1:4222".into());
                c.bridges.nats_types = "PAYMENT_POSTED,PAYMENTS".into();
            }),
            &["BRIDGE_NATS_TYPES", "PAYMENTS", "PAYMENT_POSTED"],
        ),
        (
            Box::new(|c| {
                c.bridges.nats_url = Some("nats://127.0.0.1:4222".into());
                c.bridges.nats_prefix = "acme.*".into();
            }),
            &["BRIDGE_NATS_PREFIX"],
        ),
        (
            Box::new(|c| {
                c.bridges.mqtt_url = Some("mqtt://127.0.0.1:1883".into());
                c.bridges.mqtt_prefix = "acme/#".into();
            }),
            &["BRIDGE_MQTT_PREFIX"],
        ),
        (Box::new(|c| c.bridges.kafka.brokers = Some("kafka://127.0.0.1:9092".into())), &["BRIDGE_KAFKA_BROKERS", "URL"]),
        (Box::new(|c| c.bridges.kafka.brokers = Some("127.0.0.1:90x2".into())), &["BRIDGE_KAFKA_BROKERS", "90x2"]),
        (Box::new(|c| c.bridges.kafka.brokers = Some("k1:9092,,k2:9092".into())), &["BRIDGE_KAFKA_BROKERS"]),
        (Box::new(|c| c.bridges.kafka.brokers = Some(vec!["k:9092"; 500].join(","))), &["BRIDGE_KAFKA_BROKERS", "more than"]),
        (
            Box::new(|c| c.bridges.kafka.brokers = Some(format!("{}:9092", "h".repeat(100_000)))),
            &["BRIDGE_KAFKA_BROKERS", "not a host name"],
        ),
        (
            Box::new(|c| {
                c.bridges.kafka.brokers = Some("127.0.0.1:9092".into());
                c.bridges.kafka.topic = "events/../etc".into();
            }),
            &["BRIDGE_KAFKA_TOPIC", "events/../etc"],
        ),
        (
            Box::new(|c| {
                c.bridges.kafka.brokers = Some("127.0.0.1:9092".into());
                c.bridges.kafka.topic = "t".repeat(250);
            }),
            &["BRIDGE_KAFKA_TOPIC"],
        ),
        (
            Box::new(|c| {
                c.bridges.kafka.brokers = Some("127.0.0.1:9092".into());
                c.bridges.kafka.client_id = "bad\nid".into();
            }),
            &["BRIDGE_KAFKA_CLIENT_ID"],
        ),
        (
            Box::new(|c| {
                c.bridges.kafka.brokers = Some("127.0.0.1:9092".into());
                c.bridges.kafka.sasl_username = Some("clinicstream".into());
            }),
            &["BRIDGE_KAFKA_SASL_PASSWORD", "BRIDGE_KAFKA_SASL_USERNAME"],
        ),
        (
            Box::new(|c| {
                c.bridges.kafka.brokers = Some("127.0.0.1:9092".into());
                c.bridges.kafka.partitions = 0;
            }),
            &["BRIDGE_KAFKA_PARTITIONS"],
        ),
        (
            Box::new(|c| {
                c.bridges.kafka.brokers = Some("127.0.0.1:9092".into());
                c.bridges.kafka.types = "PAYMENT_POSTED,NOPE".into();
            }),
            &["BRIDGE_KAFKA_TYPES", "NOPE"],
        ),
    ];
    for (adjust, words) in cases {
        let error = build_error(adjust).await;
        for word in words {
            assert!(error.contains(word), "{error:?} should mention {word:?}");
        }
    }
    // A bridge whose URL is not set is not checked (nor run): its other settings may be anything.
    let db = fresh_db(Backend::Sqlite).await.unwrap();
    let mut config = test_config(&db.url);
    config.bridges.amqp_exchange = "not checked!".into();
    assert!(clinicstream::App::build(config).await.is_ok());
}

#[test]
fn the_binary_refuses_a_bad_bridge_setting_from_the_environment_and_says_which() {
    let db = std::env::temp_dir().join(format!("{}.sqlite", unique("cs-bridge-settings-")));
    let run = |env: &[(&str, &str)]| {
        let output = Command::new(env!("CARGO_BIN_EXE_clinicstream"))
            .arg("serve")
            .env("DATABASE_URL", format!("sqlite://{}?mode=rwc", db.display()))
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("ADMIN_KEY", ADMIN_KEY)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("the binary runs");
        (output.status.success(), String::from_utf8_lossy(&output.stderr).to_string())
    };
    let (ok, stderr) = run(&[("BRIDGE_MQTT_URL", "mqtt://127.0.0.1:notaport")]);
    assert!(!ok);
    assert!(stderr.contains("BRIDGE_MQTT_URL") && stderr.contains("notaport"), "{stderr}");
    let (ok, stderr) = run(&[("BRIDGE_KAFKA_BROKERS", "kafka://127.0.0.1:9092")]);
    assert!(!ok);
    assert!(stderr.contains("BRIDGE_KAFKA_BROKERS") && stderr.contains("host:port"), "{stderr}");
    let (ok, stderr) = run(&[("BRIDGE_KAFKA_BROKERS", "127.0.0.1:9092"), ("BRIDGE_KAFKA_SASL_PASSWORD", "secret")]);
    assert!(!ok);
    assert!(stderr.contains("BRIDGE_KAFKA_SASL_USERNAME") && !stderr.contains("secret"), "{stderr}");
    let (ok, stderr) = run(&[("BRIDGE_PAYLOAD", "some")]);
    assert!(!ok);
    assert!(stderr.contains("BRIDGE_PAYLOAD") || stderr.contains("--bridge-payload"), "{stderr}");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exchange_rabbitmq_refuses_is_reported_and_the_api_keeps_working() {
    if !shared_amqp() {
        return;
    }
    // Well-formed, but `amq.` names are reserved: only RabbitMQ can say no.
    let exchange = unique("amq.cstest");
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        fast(c);
        c.bridges.amqp_url = Some(SHARED_AMQP.into());
        c.bridges.amqp_exchange = exchange.clone();
    })
    .await
    else {
        return;
    };
    let f = app.fixture().await;
    pay(&app, &f.backoffice, &f.patient, 2).await;
    assert!(ready(&app).await);
    let status = bridge_until(&app, "AMQP", Duration::from_secs(20), |b| {
        b["state"] == "FAILING" && b["lag"].as_i64() >= Some(3)
    })
    .await;
    assert_eq!(status["state"], "FAILING", "{status}");
    let error = status["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains(&exchange) && error.contains("ACCESS_REFUSED"),
        "the error says what RabbitMQ refused: {error}"
    );
    assert!(!error.contains("guest:guest"), "no password in the error: {error}");
    assert!(status["lag"].as_i64().unwrap() >= 3, "nothing was skipped: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_kafka_is_reported_and_the_api_keeps_working() {
    // A port nobody listens on: librdkafka cannot connect.
    let port = super::brokers::free_port();
    let Some(app) = spawn_app_with(Backend::Sqlite, |c| {
        fast(c);
        c.bridges.kafka.brokers = Some(format!("127.0.0.1:{port}"));
    })
    .await
    else {
        return;
    };
    let f = app.fixture().await;
    pay(&app, &f.backoffice, &f.patient, 2).await;
    assert!(ready(&app).await);
    let status = bridge_until(&app, "KAFKA", Duration::from_secs(30), |b| b["state"] == "FAILING").await;
    assert_eq!(status["state"], "FAILING", "{status}");
    let error = status["lastError"].as_str().unwrap_or_default();
    assert!(error.contains(&format!("127.0.0.1:{port}")), "the error names the brokers: {error}");
    assert!(status["lag"].as_i64().unwrap() >= 3, "nothing was skipped: {status}");
}
