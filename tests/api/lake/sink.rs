//! The `LAKE_URL` sink under live writes, run by two replicas: one holds each practice;
//! when it is SIGKILLed (the real binary) the other takes its practices over from the
//! durable cursor and the files already written — DuckDB then reads every event exactly
//! once. And the sink's line in the `bridges` status.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::export::tempdir;
use super::support::{Process, logs, read, readers};
use crate::bridges::brokers::free_port;
use crate::bridges::support::{bridge, bridge_until};
use crate::helpers::{ADMIN_KEY, Backend, TestApp, fresh_db, spawn_app_on};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_practices_are_taken_over_and_the_lake_holds_each_event_once() {
    if !readers() {
        return;
    }
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let dir = tempdir();
    let lake = dir.join("lake");
    let url = format!("file://{}", lake.display());
    let port = free_port();
    let mut a = Process(
        Command::new(env!("CARGO_BIN_EXE_clinicstream"))
            .arg("serve")
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", &db.url)
            .env("ADMIN_KEY", ADMIN_KEY)
            .env("LAKE_URL", &url)
            .env("LAKE_FLUSH_ROWS", "7")
            .env("LAKE_FLUSH_INTERVAL", "200ms")
            .env("BRIDGE_LEASE", "2s")
            .env("BRIDGE_POLL", "50ms")
            .env("RATE_LIMIT_PER_SEC", "100000")
            .env("RATE_LIMIT_BURST", "100000")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts"),
    );
    let replica_a = TestApp::external(format!("127.0.0.1:{port}").parse().unwrap());
    let ready = async || super::super::bridges::support::ready(&replica_a).await;
    assert!(crate::helpers::eventually(Duration::from_secs(15), ready, |up| *up).await.is_ok(), "A is ready");
    let fixtures = [replica_a.fixture().await, replica_a.fixture().await];
    let held = bridge_until(&replica_a, "LAKE", Duration::from_secs(10), |s| s["practicesHeld"] == 2).await;
    assert_eq!(held["practicesHeld"], 2, "{held}");
    assert_eq!(held["destination"], url.as_str());

    let b = spawn_app_on(&db, |c| {
        c.lake.url = Some(url.clone());
        c.lake.flush_rows = 7;
        c.lake.flush_interval = Duration::from_millis(200);
        c.bridges.lease = Duration::from_secs(2);
        c.bridges.poll = Duration::from_millis(50);
    })
    .await;
    const ROUNDS: usize = 40;
    for round in 0..ROUNDS {
        if round == ROUNDS / 2 {
            assert_eq!(bridge(&b, "LAKE").await["practicesHeld"], 0, "one replica per practice");
            let _ = a.0.kill(); // SIGKILL, while it has files in flight or buffered
            let _ = a.0.wait();
        }
        let writer = if round < ROUNDS / 2 { &replica_a } else { &b };
        for f in &fixtures {
            let body = writer.post_payment(&f.backoffice, &f.patient, 1 + round as i64).await;
            assert!(body.get("errors").is_none(), "{body}");
        }
    }
    let practices: Vec<&str> = fixtures.iter().map(|f| f.practice.as_str()).collect();
    let want = logs(&b, &practices).await;
    let status = bridge_until(&b, "LAKE", Duration::from_secs(30), |s| s["practicesHeld"] == 2 && s["lag"] == 0).await;
    assert_eq!((status["practicesHeld"].as_i64(), status["lag"].as_i64()), (Some(2), Some(0)), "{status}");
    assert!(status["published"].as_i64().unwrap() > 0, "B wrote rows: {status}");
    read(&lake).assert_equals(&want);
}

/// A replica that wrote files and died before its cursor moved, made exact: the files are
/// there (written by `export`), the sink's cursors are at 0. The sink goes on after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sink_goes_on_after_files_written_before_its_cursor_moved() {
    if !readers() {
        return;
    }
    let Some(db) = fresh_db(Backend::Postgres).await else { return };
    let dir = tempdir();
    let lake = dir.join("lake");
    let writer = spawn_app_on(&db, |_| {}).await;
    let f = writer.fixture().await;
    super::support::write_events(&writer, &f, 6).await;
    super::support::exported(&super::support::export(&db.url, &["--to", lake.to_str().unwrap(), "--file-rows", "4"]));
    let sink = spawn_app_on(&db, |c| {
        c.lake.url = Some(lake.display().to_string());
        c.lake.flush_interval = Duration::from_millis(100);
        c.bridges.poll = Duration::from_millis(50);
    })
    .await;
    let seen = bridge_until(&sink, "LAKE", Duration::from_secs(10), |s| s["practicesHeld"] == 1 && s["lag"] == 0).await;
    assert_eq!(seen["published"], 0, "nothing written again: {seen}");
    super::support::write_events(&writer, &f, 3).await;
    let want = logs(&writer, &[&f.practice]).await;
    let done = bridge_until(&sink, "LAKE", Duration::from_secs(10), |s| s["lag"] == 0).await;
    assert_eq!(done["lag"], 0, "{done}");
    read(&lake).assert_equals(&want);
}
