//! `export --to s3://…` against a real S3-compatible server: moto's (PyPI `moto[server]`,
//! pinned) on a free port; read back by downloading the objects with boto3 and reading
//! them with DuckDB and pyarrow. Incremental there too: the second run lists the bucket.

use std::process::{Command, Stdio};
use std::time::Duration;

use super::export::{app_db, tempdir};
use super::support::{Process, exported, logs, python_with, read, readers, write_events};
use crate::bridges::brokers::free_port;
use crate::helpers::{Backend, spawn_app};

const DOWNLOAD: &str = r#"
import os, sys, boto3
endpoint, bucket, prefix, into = sys.argv[1:5]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
if sys.argv[5:] == ["create"]:
    s3.create_bucket(Bucket=bucket)
    sys.exit(0)
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
    for obj in page.get("Contents", []):
        path = os.path.join(into, obj["Key"][len(prefix) + 1:])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.download_file(bucket, obj["Key"], path)
"#;

fn s3(endpoint: &str, bucket: &str, prefix: &str, into: &std::path::Path, create: bool) {
    let mut command = Command::new("python3");
    command.args(["-c", DOWNLOAD, endpoint, bucket, prefix]).arg(into);
    if create {
        command.arg("create");
    }
    let output = command.output().expect("python3 runs");
    assert!(output.status.success(), "boto3: {}", String::from_utf8_lossy(&output.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_to_s3_is_read_back_whole_and_a_second_run_adds_only_the_new_events() {
    if !readers() || !python_with("moto, boto3", &["moto[server]==5.1.16"]) {
        return;
    }
    let Some(app) = spawn_app(Backend::Postgres).await else { return };
    let port = free_port();
    let _moto = Process(
        Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto starts"),
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let up = async || reqwest::get(&endpoint).await.is_ok();
    assert!(crate::helpers::eventually(Duration::from_secs(30), up, |up| *up).await.is_ok(), "moto is up");
    s3(&endpoint, "lake", "", &tempdir(), true);

    let (a, b) = (app.fixture().await, app.fixture().await);
    write_events(&app, &a, 20).await;
    write_events(&app, &b, 10).await;
    let run = || {
        let output = Command::new(env!("CARGO_BIN_EXE_clinicstream"))
            .args(["export", "--to", "s3://lake/events"])
            .env("DATABASE_URL", app_db(&app))
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT", &endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .output()
            .expect("the binary runs");
        exported(&output)
    };
    run();
    write_events(&app, &b, 5).await;
    let out = run();
    let want = logs(&app, &[&a.practice, &b.practice]).await;
    let added = 1 + 5 + 5 + 1 + 1; // update, 5 appointments and payments, a cancel, a charge
    assert!(out.contains(&format!("exported {added} rows in 1 files")), "{out}");
    let local = tempdir();
    s3(&endpoint, "lake", "events", &local, false);
    read(&local).assert_equals(&want);
}
