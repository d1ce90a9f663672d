#!/usr/bin/env bash
# Insert cost of the events table, empty and at 10 million rows: the writer's
# statements (lock the practice's counter row, append an event and move the counter in
# one statement, commit) driven by pgbench over 100 practices, before and after a bulk
# load of 10,000,000 events (100,000 per practice, ~250-byte payloads).
#
#   bench/events_10m.sh [postgres://postgres@127.0.0.1:5432/clinicstream_10m]
#
# Prints pgbench's summary for each phase. Needs pgbench, psql and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
url=${1:-postgres://postgres@127.0.0.1:5432/clinicstream_10m}
name=${url##*/}
admin=${url%/*}/postgres
CLIENTS=${CLIENTS:-4}
SECS=${SECS:-20}
psql "$admin" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
DATABASE_URL=$url ./target/release/clinicstream migrate >/dev/null
psql "$url" -qc "INSERT INTO practices (id, name, timezone, currency, last_seq, created_at)
  SELECT 'prc_' || p, 'bench ' || p, 'UTC', 'USD', 0, 0 FROM generate_series(0, 99) p"
script=$(mktemp)
trap 'rm -f "$script"' EXIT
cat >"$script" <<'SQL'
\set p random(0, 99)
BEGIN;
SELECT last_seq FROM practices WHERE id = 'prc_' || :p FOR UPDATE;
WITH e AS (INSERT INTO events (practice_id, seq, type, occurred_at, payload)
  SELECT id, last_seq + 1, 'PAYMENT_POSTED', 0, repeat('x', 250) FROM practices WHERE id = 'prc_' || :p)
UPDATE practices SET last_seq = last_seq + 1 WHERE id = 'prc_' || :p;
COMMIT;
SQL
run() {
  echo "== $1: $(psql "$url" -Atc "SELECT count(*) FROM events") events"
  pgbench -n -c "$CLIENTS" -j 2 -T "$SECS" -f "$script" "$url" | grep -E "^(latency|tps|number of transactions)"
}
run "empty table"
echo "== loading 10,000,000 events"
start=$(date +%s)
psql "$url" -qc "INSERT INTO events (practice_id, seq, type, occurred_at, payload)
  SELECT p.id, p.last_seq + s, 'PAYMENT_POSTED', 0, repeat('x', 250)
  FROM practices p, generate_series(1, 100000) s" \
  -c "UPDATE practices SET last_seq = last_seq + 100000" -c "VACUUM ANALYZE events"
echo "   loaded in $(( $(date +%s) - start )) s; table + index: $(psql "$url" -Atc "SELECT pg_size_pretty(pg_total_relation_size('events'))")"
run "10M rows"
