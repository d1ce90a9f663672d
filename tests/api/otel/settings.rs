//! The `OTEL_*` settings: a value the SDK would quietly replace by its default is refused,
//! naming the setting; and with tracing off (no endpoint) nothing is stored or carried.

use sea_orm::EntityTrait;
use serde_json::json;
use std::process::{Command, Stdio};

use crate::helpers::{ADMIN_KEY, Backend, spawn_app};

#[test]
fn the_binary_refuses_bad_tracing_settings_and_says_which() {
    let cases = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318", "--otel-exporter-otlp-endpoint"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://collector", "--otel-exporter-otlp-endpoint"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector/?token=x", "--otel-exporter-otlp-endpoint"),
        ("OTEL_TRACES_SAMPLER", "xray", "--otel-traces-sampler"),
        ("OTEL_TRACES_SAMPLER_ARG", "1.5", "--otel-traces-sampler-arg"),
        ("OTEL_TRACES_SAMPLER_ARG", "ten percent", "--otel-traces-sampler-arg"),
        ("OTEL_BSP_SCHEDULE_DELAY", "0", "--otel-bsp-schedule-delay"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-1", "--otel-exporter-otlp-timeout"),
    ];
    for (name, value, flag) in cases {
        let output = Command::new(env!("CARGO_BIN_EXE_clinicstream"))
            .arg("serve")
            .env("DATABASE_URL", "sqlite::memory:")
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("ADMIN_KEY", ADMIN_KEY)
            .env(name, value)
            .stdin(Stdio::null())
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}={value} is refused");
        assert!(stderr.contains(flag) && stderr.contains(value), "{name}={value}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tracing_off_a_traceparent_is_neither_stored_nor_an_error() {
    let Some(app) = spawn_app(Backend::Sqlite).await else { return };
    let f = app.fixture().await;
    let pay = json!({
        "query": "mutation($p: ID!) { postPayment(input: {patientId: $p, amountCents: 100, method: CARD}) { id } }",
        "variables": { "p": f.patient },
    });
    for traceparent in ["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "garbage"] {
        let response = app
            .http()
            .post(app.url("/graphql"))
            .bearer_auth(&f.backoffice)
            .header("traceparent", traceparent)
            .json(&pay)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");
    }
    let rows = clinicstream::db::entities::event::Entity::find().all(&app.state().services.domain.db).await.unwrap();
    assert!(rows.len() >= 3, "the patient and both payments are in the log");
    assert!(rows.iter().all(|row| row.trace_context.is_none()), "untraced: nothing stored");
}
