//! What the lake tests share: the readers (DuckDB and pyarrow, installed pinned with pip
//! when missing), the real binary's `export`, writing a mixed log, and the checks of what
//! was read against the log.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use crate::helpers::{Fixture, TestApp, unavailable};

/// A process the test started (the server binary, moto), killed when the test ends.
pub struct Process(pub std::process::Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The pinned readers.
pub const PACKAGES: &[&str] = &["duckdb==1.4.2", "pyarrow==21.0.0"];

fn importable(modules: &str) -> bool {
    Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure `modules` import, installing `packages` with pip if not; false (skipped,
/// or failed under CI) when they cannot be had.
pub fn python_with(modules: &str, packages: &[&str]) -> bool {
    if importable(modules) {
        return true;
    }
    let _ = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check"])
        .args(packages)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if importable(modules) {
        return true;
    }
    unavailable(&format!("python3 with {}", packages.join(" ")), "`python3 -m pip install` failed");
    false
}

pub fn readers() -> bool {
    python_with("duckdb, pyarrow", PACKAGES)
}

/// Reads every file under `root` with DuckDB (Hive partitioning on) and with pyarrow's
/// `parquet.read_table(root)` (as pandas does).
const READ: &str = r#"
import json, os, sys, duckdb, pyarrow.parquet as pq
root = sys.argv[1]
files = []
for d, _, names in os.walk(root):
    files += [os.path.relpath(os.path.join(d, n), root) for n in names]
parts = [f for f in files if f.endswith(".parquet")]
out = {"files": sorted(files), "types": {}, "rows": [], "pyarrow_types": {}, "pyarrow_rows": []}
if parts:
    src = f"read_parquet('{root}/**/*.parquet', hive_partitioning=true)"
    rel = duckdb.sql(f"select * from {src}")
    out["types"] = {c: str(t) for c, t in zip(rel.columns, rel.types)}
    out["rows"] = duckdb.sql(f"""select practice_id, seq, type, data, amount_cents, cast(date as varchar),
        strftime(occurred_at at time zone 'UTC', '%Y-%m-%d'), cursor, patient_id from {src} order by practice_id, seq""").fetchall()
    table = pq.read_table(root)
    out["pyarrow_types"] = {f.name: str(f.type) for f in table.schema}
    out["pyarrow_rows"] = sorted(zip([str(p) for p in table.column("practice_id").to_pylist()], table.column("seq").to_pylist()))
print(json.dumps(out))
"#;

/// What the readers found under a lake's root.
pub struct Read {
    pub files: Vec<String>,
    pub types: BTreeMap<String, String>,
    pub pyarrow_types: BTreeMap<String, String>,
    /// (practice, seq, type, data, amount_cents, date partition, UTC day, cursor, patient).
    pub rows: Vec<Value>,
    pub pyarrow_rows: Vec<(String, i64)>,
}

pub fn read(root: &Path) -> Read {
    let output = Command::new("python3").args(["-c", READ]).arg(root).output().expect("python3 runs");
    assert!(output.status.success(), "the readers failed: {}", String::from_utf8_lossy(&output.stderr));
    let v: Value = serde_json::from_slice(&output.stdout).expect("the readers print JSON");
    let map = |v: &Value| -> BTreeMap<String, String> {
        v.as_object().unwrap().iter().map(|(k, t)| (k.clone(), t.as_str().unwrap().to_string())).collect()
    };
    Read {
        files: v["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap().to_string()).collect(),
        types: map(&v["types"]),
        pyarrow_types: map(&v["pyarrow_types"]),
        rows: v["rows"].as_array().unwrap().clone(),
        pyarrow_rows: v["pyarrow_rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_i64().unwrap()))
            .collect(),
    }
}

impl Read {
    /// Each practice's seqs as DuckDB read them, in order (duplicates kept).
    pub fn seqs(&self) -> BTreeMap<String, Vec<i64>> {
        let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for row in &self.rows {
            out.entry(row[0].as_str().unwrap().to_string()).or_default().push(row[1].as_i64().unwrap());
        }
        out
    }

    /// The `data` column of (practice, seq).
    pub fn data(&self) -> BTreeMap<(String, i64), Value> {
        let rows = self.rows.iter();
        rows.map(|r| {
            let data: Value = serde_json::from_str(r[3].as_str().unwrap()).expect("data is JSON text");
            ((r[0].as_str().unwrap().to_string(), r[1].as_i64().unwrap()), data)
        })
        .collect()
    }

    /// The lake holds exactly the logs: per practice each seq once, in order, no gap,
    /// read the same by pyarrow; typed columns; each file under its day's partition; and
    /// nothing but finished files outside `_staging/`.
    pub fn assert_equals(&self, logs: &BTreeMap<String, Vec<i64>>) {
        assert_eq!(&self.seqs(), logs, "DuckDB reads each practice's log once, in order, without a gap");
        let want: BTreeSet<(String, i64)> =
            logs.iter().flat_map(|(p, seqs)| seqs.iter().map(move |s| (p.clone(), *s))).collect();
        let pyarrow: BTreeSet<(String, i64)> = self.pyarrow_rows.iter().cloned().collect();
        assert_eq!(pyarrow.len(), self.pyarrow_rows.len(), "pyarrow reads no row twice");
        assert_eq!(pyarrow, want, "pyarrow reads the same rows");
        for (column, duck, arrow) in [
            ("seq", "BIGINT", "int64"),
            ("amount_cents", "BIGINT", "int64"),
            ("occurred_at", "TIMESTAMP WITH TIME ZONE", "timestamp[us, tz=UTC]"),
            ("starts_at", "TIMESTAMP WITH TIME ZONE", "timestamp[us, tz=UTC]"),
            ("posted_at", "TIMESTAMP WITH TIME ZONE", "timestamp[us, tz=UTC]"),
            ("cursor", "VARCHAR", "string"),
            ("type", "VARCHAR", "string"),
            ("patient_id", "VARCHAR", "string"),
            ("payment_id", "VARCHAR", "string"),
            ("charge_id", "VARCHAR", "string"),
            ("appointment_id", "VARCHAR", "string"),
            ("data", "VARCHAR", "string"),
        ] {
            assert_eq!(self.types.get(column).map(String::as_str), Some(duck), "DuckDB's type of {column}");
            assert_eq!(self.pyarrow_types.get(column).map(String::as_str), Some(arrow), "pyarrow's type of {column}");
        }
        assert_eq!(self.types.get("practice_id").map(String::as_str), Some("VARCHAR"));
        for row in &self.rows {
            assert_eq!(row[5], row[6], "the date= partition is the event's UTC day: {row}");
        }
        for file in &self.files {
            let name = file.rsplit('/').next().unwrap();
            let finished = file.starts_with("practice_id=") && name.starts_with("part-") && name.ends_with(".parquet");
            assert!(finished || file.starts_with("_staging/"), "only finished files are visible: {file}");
        }
    }
}

/// The webhook `data` of each delivered event, by (practice, seq).
pub fn webhook_data(requests: &[crate::webhooks::receiver::Received]) -> BTreeMap<(String, i64), Value> {
    let by_event = requests.iter().filter(|r| r.status == 200).map(|r| {
        let data = r.json()["data"].clone();
        ((data["practiceId"].as_str().unwrap().to_string(), data["seq"].as_i64().unwrap()), data)
    });
    by_event.collect()
}

/// Runs `clinicstream export` (the real binary) on `database_url` with `args`.
pub fn export(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clinicstream"))
        .arg("export")
        .args(args)
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

/// Asserts the export succeeded; returns its stdout.
pub fn exported(output: &Output) -> String {
    assert!(
        output.status.success(),
        "export failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// A mixed log for the fixture's practice: a patient update, then `rounds` of an
/// appointment scheduled and a payment, every 4th appointment cancelled and every 5th
/// round a charge.
pub async fn write_events(app: &TestApp, f: &Fixture, rounds: usize) {
    let ok = async |query: &str, variables: Value| {
        let body = app.gql(Some(&f.backoffice), query, variables).await;
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    };
    ok(
        "mutation($id: ID!) { updatePatient(input: {id: $id, phone: \"+1 555 0199\"}) { id } }",
        json!({ "id": f.patient }),
    )
    .await;
    // Each call's appointments in hours of their own (a provider's may not overlap).
    static NEXT_HOUR: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let first_hour = NEXT_HOUR.fetch_add(rounds, std::sync::atomic::Ordering::Relaxed);
    for i in 0..rounds {
        let starts = chrono::DateTime::parse_from_rfc3339("2030-01-07T09:00:00Z").unwrap()
            + chrono::Duration::hours((first_hour + i) as i64);
        let scheduled = ok(
            "mutation($p: ID!, $v: ID!, $s: DateTime!) { scheduleAppointment(input: {patientId: $p, providerId: $v, startsAt: $s, durationMinutes: 30, reason: \"Checkup\"}) { id } }",
            json!({ "p": f.patient, "v": f.provider, "s": starts.to_rfc3339() }),
        )
        .await;
        let appointment = scheduled["scheduleAppointment"]["id"].as_str().unwrap().to_string();
        if i % 4 == 3 {
            ok(
                "mutation($id: ID!) { cancelAppointment(input: {id: $id, reason: \"sick\"}) { id } }",
                json!({ "id": appointment }),
            )
            .await;
        }
        let body = app.post_payment(&f.backoffice, &f.patient, 100 + i as i64).await;
        assert!(body.get("errors").is_none(), "{body}");
        if i % 5 == 4 {
            ok(
                "mutation($p: ID!, $a: ID!) { postCharge(input: {patientId: $p, amountCents: 2500, description: \"X-ray\", appointmentId: $a}) { id } }",
                json!({ "p": f.patient, "a": appointment }),
            )
            .await;
        }
    }
}

/// The practices' logs as seqs, via the `events` query.
pub async fn logs(app: &TestApp, practices: &[&str]) -> BTreeMap<String, Vec<i64>> {
    let mut out = BTreeMap::new();
    for practice in practices {
        out.insert(practice.to_string(), app.log(practice).await.into_iter().map(|(seq, _)| seq).collect());
    }
    out
}
