//! `clinicstream export` against Postgres: two practices' mixed logs read back by DuckDB
//! and pyarrow equal the logs, with `data` equal to the webhooks' `data`; a second run
//! writes only what is new; a run SIGKILLed mid-way and run again leaves the same rows.

use serde_json::json;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::support::{exported, logs, read, readers, webhook_data, write_events};
use crate::helpers::{Backend, spawn_app_with};
use crate::webhooks::receiver::Receiver;
use crate::webhooks::support::create_endpoint;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_read_by_duckdb_and_pyarrow_equals_the_logs_and_the_webhooks() {
    if !readers() {
        return;
    }
    let Some(app) = spawn_app_with(Backend::Postgres, crate::webhooks::support::fast).await else { return };
    let receiver = Receiver::start().await;
    let (a, b) = (app.fixture().await, app.fixture().await);
    for f in [&a, &b] {
        create_endpoint(&app, &f.backoffice, &f.practice, &receiver.url("/hook"), json!(null)).await;
    }
    write_events(&app, &a, 60).await;
    write_events(&app, &b, 45).await;
    let want = logs(&app, &[&a.practice, &b.practice]).await;
    let events: usize = want.values().map(Vec::len).sum();
    assert!(events > 250, "a few hundred events: {events}");
    // Every event but each practice's first (PATIENT_CREATED, before its endpoint).
    let delivered = receiver.wait_for(Duration::from_secs(60), |r| webhook_data(r).len() >= events - 2).await;

    let dir = tempdir();
    let state = dir.join("state.json");
    let lake = dir.join("lake");
    let out = exported(&super::support::export(
        app_db(&app),
        &["--to", lake.to_str().unwrap(), "--state", state.to_str().unwrap()],
    ));
    assert!(out.contains(&format!("exported {events} rows")), "{out}");
    let read = read(&lake);
    read.assert_equals(&want);
    let data = read.data();
    let hooks = webhook_data(&delivered);
    assert!(hooks.len() >= events - 2);
    for (event, body) in &hooks {
        assert_eq!(data.get(event), Some(body), "the data column is the webhook's data for {event:?}");
    }
    // Integer cents where the snapshot has an amount, as the webhook says.
    for row in &read.rows {
        if row[2] == "PAYMENT_POSTED" {
            let data: serde_json::Value = serde_json::from_str(row[3].as_str().unwrap()).unwrap();
            assert_eq!(row[4], data["payment"]["amountCents"], "{row}");
            assert!(row[4].is_i64());
        }
    }
    assert_eq!(read.rows.iter().filter(|r| r[2] == "PATIENT_UPDATED").count(), 2);

    // Incremental: append, export again with the state: only what is new is written.
    write_events(&app, &a, 7).await;
    let want = logs(&app, &[&a.practice, &b.practice]).await;
    let added = want[&a.practice].len() - read.seqs()[&a.practice].len();
    let out = exported(&super::support::export(
        app_db(&app),
        &["--to", lake.to_str().unwrap(), "--state", state.to_str().unwrap()],
    ));
    assert!(out.contains(&format!("exported {added} rows in 1 files")), "{out}");
    read_and_check(&lake, &want);
    // A run with nothing new writes nothing, even without the state (the files say where
    // the lake reaches).
    let out = exported(&super::support::export(app_db(&app), &["--to", lake.to_str().unwrap()]));
    assert!(out.contains("exported 0 rows in 0 files"), "{out}");
    read_and_check(&lake, &want);
    let state: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    assert_eq!(state["practices"].as_object().unwrap().len(), 2, "{state}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_killed_mid_way_and_run_again_leaves_each_row_once() {
    if !readers() {
        return;
    }
    let Some(app) = spawn_app_with(Backend::Postgres, |_| {}).await else { return };
    let (a, b) = (app.fixture().await, app.fixture().await);
    write_events(&app, &a, 50).await;
    write_events(&app, &b, 50).await;
    let want = logs(&app, &[&a.practice, &b.practice]).await;
    let dir = tempdir();
    let (lake, state) = (dir.join("lake"), dir.join("state.json"));
    // One row per file: hundreds of files and state writes, so the kill lands mid-way.
    let args = ["export", "--to", lake.to_str().unwrap(), "--state", state.to_str().unwrap(), "--file-rows", "1"];
    let mut child = Command::new(env!("CARGO_BIN_EXE_clinicstream"))
        .args(args)
        .env("DATABASE_URL", app_db(&app))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let some_files = async || count_parts(&lake);
    let started = crate::helpers::eventually(Duration::from_secs(30), some_files, |n| *n >= 20).await;
    assert!(started.is_ok(), "the export wrote files");
    let running = child.try_wait().unwrap().is_none();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(running, "the kill landed while the export was running");
    let partial = count_parts(&lake);
    assert!(partial < want.values().map(Vec::len).sum(), "killed before the end: {partial} files");
    exported(&super::support::export(
        app_db(&app),
        &["--to", lake.to_str().unwrap(), "--state", state.to_str().unwrap(), "--file-rows", "1"],
    ));
    read_and_check(&lake, &want);
}

fn read_and_check(lake: &std::path::Path, want: &std::collections::BTreeMap<String, Vec<i64>>) {
    read(lake).assert_equals(want);
}

/// Finished part files under `lake`.
pub fn count_parts(lake: &std::path::Path) -> usize {
    fn walk(dir: &std::path::Path, n: &mut usize) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, n);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(lake, &mut n);
    n
}

/// A fresh directory under the temp dir, removed with what is in it when dropped.
pub struct TempDir(std::path::PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;

    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn tempdir() -> TempDir {
    let dir = std::env::temp_dir().join(format!("clinicstream-lake-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    TempDir(dir)
}

/// The in-process app's database URL.
pub fn app_db(app: &crate::helpers::TestApp) -> &str {
    &app.state().config.db.database_url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thin_export_carries_ids_and_types_but_no_snapshot() {
    if !readers() {
        return;
    }
    let Some(app) = crate::helpers::spawn_app(Backend::Postgres).await else { return };
    let f = app.fixture().await;
    write_events(&app, &f, 5).await;
    let want = logs(&app, &[&f.practice]).await;
    let dir = tempdir();
    let lake = dir.join("lake");
    exported(&super::support::export(app_db(&app), &["--to", lake.to_str().unwrap(), "--payload", "thin"]));
    let read = read(&lake);
    read.assert_equals(&want);
    for row in &read.rows {
        assert!(row[4].is_null(), "no amounts: {row}");
        let data: serde_json::Value = serde_json::from_str(row[3].as_str().unwrap()).unwrap();
        for snapshot in ["patient", "payment", "appointment", "charge"] {
            assert!(data.get(snapshot).is_none(), "no {snapshot} snapshot: {data}");
        }
        assert_eq!((&data["seq"], &data["patientId"], &data["cursor"]), (&row[1], &row[8], &row[7]));
    }
}
