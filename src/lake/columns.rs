//! The lake's columns: a run of one practice's events as an Arrow record batch, and as
//! the bytes of one Parquet file (Snappy). The envelope is typed (`cursor`, `seq`,
//! `type`, `occurred_at` a UTC timestamp, `practice_id`), so are the snapshot's common
//! fields (ids, `amount_cents` as integer cents, statuses, times), and `data` is the JSON
//! text of the webhook body's `data` for the same event (or its thin form).

use arrow_array::builder::{Int64Builder, StringBuilder, StringDictionaryBuilder, TimestampMicrosecondBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::sync::{Arc, LazyLock};

use crate::bridges::{PayloadMode, data_of};
use crate::events::{Payload, StoredEvent};

/// The schema of every file (adding a column is fine for readers; renaming one is not).
pub static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let text = |name: &str, nullable| Field::new(name, DataType::Utf8, nullable);
    let time = |name: &str, nullable| {
        Field::new(name, DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), nullable)
    };
    Arc::new(Schema::new(vec![
        text("cursor", false),
        Field::new("seq", DataType::Int64, false),
        text("type", false),
        time("occurred_at", false),
        // Dictionary-encoded, as pyarrow types the `practice_id=` partition it infers from
        // the path: `pyarrow.parquet.read_table(root)` (and so pandas) merges the two.
        Field::new("practice_id", DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8)), false),
        text("patient_id", false),
        text("appointment_id", true),
        text("provider_id", true),
        text("payment_id", true),
        text("charge_id", true),
        Field::new("amount_cents", DataType::Int64, true),
        text("appointment_status", true),
        text("payment_method", true),
        time("starts_at", true),
        time("ends_at", true),
        time("posted_at", true),
        text("data", false),
    ]))
});

/// One row's typed snapshot fields; `thin` keeps the ids only.
#[derive(Default)]
struct Snapshot<'a> {
    appointment_id: Option<&'a str>,
    provider_id: Option<&'a str>,
    payment_id: Option<&'a str>,
    charge_id: Option<&'a str>,
    amount_cents: Option<i64>,
    appointment_status: Option<&'static str>,
    payment_method: Option<&'static str>,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    posted_at: Option<DateTime<Utc>>,
}

fn snapshot(payload: &Payload, mode: PayloadMode) -> Snapshot<'_> {
    let full = mode == PayloadMode::Full;
    match payload {
        Payload::Appointment { appointment: a } => Snapshot {
            appointment_id: Some(&a.id),
            provider_id: Some(&a.provider.id),
            appointment_status: full.then(|| a.status.as_str()),
            starts_at: full.then_some(a.starts_at),
            ends_at: full.then_some(a.ends_at),
            ..Default::default()
        },
        Payload::Payment { payment: p, .. } => Snapshot {
            payment_id: Some(&p.id),
            amount_cents: full.then_some(p.amount_cents),
            payment_method: full.then(|| p.method.as_str()),
            posted_at: full.then_some(p.posted_at),
            ..Default::default()
        },
        Payload::Charge { charge: c, .. } => Snapshot {
            charge_id: Some(&c.id),
            appointment_id: c.appointment_id.as_deref(),
            amount_cents: full.then_some(c.amount_cents),
            posted_at: full.then_some(c.posted_at),
            ..Default::default()
        },
        Payload::Patient { .. } => Snapshot::default(),
    }
}

/// The events (of one practice, in seq order) as one record batch.
pub fn batch(events: &[StoredEvent], mode: PayloadMode) -> Result<RecordBatch, String> {
    let n = events.len();
    let texts = || StringBuilder::with_capacity(n, n * 32);
    let times = || TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let (mut cursor, mut kind, mut patient) = (texts(), texts(), texts());
    let mut practice = StringDictionaryBuilder::<Int32Type>::new();
    let (mut appointment, mut provider, mut payment, mut charge) = (texts(), texts(), texts(), texts());
    let (mut status, mut method, mut data) = (texts(), texts(), StringBuilder::with_capacity(n, n * 512));
    let (mut occurred, mut starts, mut ends, mut posted) = (times(), times(), times(), times());
    let (mut seq, mut amount) = (Int64Builder::with_capacity(n), Int64Builder::with_capacity(n));
    let micros = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_micros());
    for event in events {
        cursor.append_value(event.cursor());
        seq.append_value(event.seq);
        kind.append_value(event.event_type.as_str());
        occurred.append_value(event.occurred_at.timestamp_micros());
        practice.append_value(&event.practice_id);
        patient.append_value(event.payload.patient_id());
        let s = snapshot(&event.payload, mode);
        appointment.append_option(s.appointment_id);
        provider.append_option(s.provider_id);
        payment.append_option(s.payment_id);
        charge.append_option(s.charge_id);
        amount.append_option(s.amount_cents);
        status.append_option(s.appointment_status);
        method.append_option(s.payment_method);
        starts.append_option(micros(s.starts_at));
        ends.append_option(micros(s.ends_at));
        posted.append_option(micros(s.posted_at));
        let json = data_of(event, mode).map_err(|e| format!("could not encode event {}: {e}", event.seq))?;
        data.append_value(serde_json::Value::Object(json).to_string());
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(cursor.finish()),
        Arc::new(seq.finish()),
        Arc::new(kind.finish()),
        Arc::new(occurred.finish()),
        Arc::new(practice.finish()),
        Arc::new(patient.finish()),
        Arc::new(appointment.finish()),
        Arc::new(provider.finish()),
        Arc::new(payment.finish()),
        Arc::new(charge.finish()),
        Arc::new(amount.finish()),
        Arc::new(status.finish()),
        Arc::new(method.finish()),
        Arc::new(starts.finish()),
        Arc::new(ends.finish()),
        Arc::new(posted.finish()),
        Arc::new(data.finish()),
    ];
    RecordBatch::try_new(SCHEMA.clone(), columns).map_err(|e| format!("could not build the columns: {e}"))
}

/// Rows per row group: small enough to write in bounded memory, large enough to scan fast.
pub const ROW_GROUP: usize = 64 * 1024;

/// A Parquet writer of the lake's schema into memory (Snappy).
pub fn writer() -> Result<ArrowWriter<Vec<u8>>, String> {
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP))
        .set_created_by(format!("clinicstream {}", env!("CARGO_PKG_VERSION")))
        .build();
    ArrowWriter::try_new(Vec::new(), SCHEMA.clone(), Some(props)).map_err(|e| format!("could not write Parquet: {e}"))
}

/// The UTC day of an event, as its `date=` partition names it.
pub fn day(event: &StoredEvent) -> String {
    event.occurred_at.format("%Y-%m-%d").to_string()
}
