#!/usr/bin/env bash
# The lake's export rate: 1,000,000 PAYMENT_POSTED events (10 practices × 100,000, one a
# second, so each practice spans two UTC days) bulk-loaded into Postgres, then
# `clinicstream export` to a fresh directory, three times (each into a new directory);
# prints each run's wall time, rows/s, and the files' count and size.
#
#   cargo build --release --bin clinicstream
#   bench/lake.sh [postgres://postgres@127.0.0.1:5432/clinicstream_lake]
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:-postgres://postgres@127.0.0.1:5432/clinicstream_lake}
name=${url##*/}
admin=${url%/*}/postgres
RUNS=${RUNS:-3}
psql "$admin" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
DATABASE_URL=$url ./target/release/clinicstream migrate >/dev/null
start=$(date +%s)
psql "$url" -q <<'SQL'
INSERT INTO practices (id, name, timezone, currency, last_seq, created_at)
  SELECT 'prc_' || p, 'bench ' || p, 'UTC', 'USD', 100000, 0 FROM generate_series(0, 9) p;
INSERT INTO events (practice_id, seq, type, occurred_at, payload)
  SELECT 'prc_' || p, s, 'PAYMENT_POSTED', 1796601600000 + s * 1000,
    json_build_object(
      'payment', json_build_object('id', 'pay_' || p || '_' || s, 'practiceId', 'prc_' || p,
        'patientId', 'pat_' || p || '_' || (s % 500), 'amountCents', 100 + s % 9000, 'method', 'CARD',
        'reference', 'ref ' || s, 'postedAt', to_char(to_timestamp(1796601600 + s) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
      'patient', json_build_object('id', 'pat_' || p || '_' || (s % 500), 'practiceId', 'prc_' || p,
        'firstName', 'Maria', 'lastName', 'Lopez', 'email', 'maria@example.com', 'phone', '+1 555 0100',
        'dateOfBirth', null, 'balanceCents', -(s % 9000), 'createdAt', '2026-12-01T00:00:00Z'))::text
  FROM generate_series(0, 9) p, generate_series(1, 100000) s;
VACUUM ANALYZE events;
SQL
echo "loaded $(psql "$url" -Atc "SELECT count(*) FROM events") events in $(( $(date +%s) - start )) s; events table + index: $(psql "$url" -Atc "SELECT pg_size_pretty(pg_total_relation_size('events'))")"
for run in $(seq 1 "$RUNS"); do
  dir=$(mktemp -d)
  t0=$(date +%s.%N)
  DATABASE_URL=$url RUST_LOG=warn ./target/release/clinicstream export --to "$dir/lake" >/dev/null
  t1=$(date +%s.%N)
  files=$(find "$dir/lake" -name '*.parquet' | wc -l)
  bytes=$(find "$dir/lake" -name '*.parquet' -printf '%s\n' | awk '{s+=$1} END {print s}')
  python3 - "$t0" "$t1" "$files" "$bytes" <<'PY'
import sys
t0, t1, files, size = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f"export: {t1 - t0:.1f} s, {1_000_000 / (t1 - t0):,.0f} rows/s, {files} files, {size / 1e6:.1f} MB ({size / 1_000_000:.0f} B/row)")
PY
  rm -rf "$dir"
done
psql "$admin" -qc "DROP DATABASE IF EXISTS $name"
