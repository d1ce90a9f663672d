#!/usr/bin/env bash
# The lake sink's lag at a steady write rate: a release server with LAKE_URL on a fresh
# directory, pgbench appending PAYMENT_POSTED events to 10 practices at RATE events/s
# (default 2000) for SECS seconds (the writer's statements, as bench/events_10m.sh),
# then the lag of every row: its file's mtime (a file is renamed into place whole, so
# that is when the row became visible) minus the event's occurred_at; p50/p99/max.
#
#   cargo build --release --bin clinicstream
#   LAKE_FLUSH_INTERVAL=1s bench/lake_sink_lag.sh [postgres://postgres@127.0.0.1:5432/clinicstream_lake_lag]
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:-postgres://postgres@127.0.0.1:5432/clinicstream_lake_lag}
name=${url##*/}
admin=${url%/*}/postgres
RATE=${RATE:-2000}
SECS=${SECS:-30}
CLIENTS=${CLIENTS:-10}
export LAKE_FLUSH_INTERVAL=${LAKE_FLUSH_INTERVAL:-1s} LAKE_FLUSH_ROWS=${LAKE_FLUSH_ROWS:-10000}
export BRIDGE_POLL=${BRIDGE_POLL:-100ms}
psql "$admin" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
DATABASE_URL=$url ./target/release/clinicstream migrate >/dev/null
psql "$url" -qc "INSERT INTO practices (id, name, timezone, currency, last_seq, created_at)
  SELECT 'prc_' || p, 'bench ' || p, 'UTC', 'USD', 0, 0 FROM generate_series(0, 9) p"
dir=$(mktemp -d)
script=$(mktemp)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATABASE_URL=$url LAKE_URL="$dir/lake" LISTEN_ADDR=127.0.0.1:$port RUST_LOG=warn ./target/release/clinicstream serve &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$dir" "$script"' EXIT
cat >"$script" <<'SQL'
\set p random(0, 9)
BEGIN;
SELECT last_seq FROM practices WHERE id = 'prc_' || :p FOR UPDATE;
WITH e AS (INSERT INTO events (practice_id, seq, type, occurred_at, payload)
  SELECT id, last_seq + 1, 'PAYMENT_POSTED', (extract(epoch from clock_timestamp()) * 1000)::bigint,
  '{"payment":{"id":"pay_1","practiceId":"prc_0","patientId":"pat_1","amountCents":4500,"method":"CARD","reference":null,"postedAt":"2026-12-06T10:00:00Z"},"patient":{"id":"pat_1","practiceId":"prc_0","firstName":"Maria","lastName":"Lopez","email":null,"phone":null,"dateOfBirth":null,"balanceCents":0,"createdAt":"2026-12-01T00:00:00Z"}}'
  FROM practices WHERE id = 'prc_' || :p)
UPDATE practices SET last_seq = last_seq + 1 WHERE id = 'prc_' || :p;
COMMIT;
SQL
sleep 3 # timing: the server starts and claims the practices before the load begins
pgbench -n -c "$CLIENTS" -j 2 -R "$RATE" -T "$SECS" -f "$script" "$url" | grep -E "^(tps|latency|number of transactions)"
total=$(psql "$url" -Atc "SELECT count(*) FROM events")
for _ in $(seq 1 60); do
  behind=$(psql "$url" -Atc "SELECT COALESCE(SUM(p.last_seq - COALESCE(c.seq, 0)), 0) FROM practices p LEFT JOIN bridge_cursors c ON c.practice_id = p.id AND c.bridge LIKE 'lake/%'")
  [ "$behind" = 0 ] && break
  sleep 1
done
python3 - "$dir/lake" "$total" <<'PY'
import os, sys, duckdb
root, total = sys.argv[1], int(sys.argv[2])
rows = duckdb.sql(f"select filename, epoch_ms(occurred_at) from read_parquet('{root}/**/*.parquet', filename=true)").fetchall()
lags = sorted(os.stat(f).st_mtime * 1000 - t for f, t in rows)
q = lambda p: lags[min(len(lags) - 1, int(p * len(lags)))]
files = len({f for f, _ in rows})
print(f"rows {len(rows)} of {total} events, {files} files; lag p50 {q(0.5):.0f} ms, p99 {q(0.99):.0f} ms, max {lags[-1]:.0f} ms")
PY
kill $server; wait $server || true
psql "$admin" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true
