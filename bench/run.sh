#!/usr/bin/env bash
# Runs one scenario RUNS times, each against a freshly started release server on a fresh
# database, and appends loadgen's JSON lines to bench/results/<label>.jsonl.
#
#   bench/run.sh LABEL DATABASE_URL -- LOADGEN_FLAGS...
#
# DATABASE_URL `sqlite` means a new SQLite file under a temporary directory; a
# `postgres://…/NAME` database NAME is dropped and created anew before each run.
# Expects `cargo build --release --bin loadgen --bin clinicstream` to have been run.
set -euo pipefail
cd "$(dirname "$0")/.."
label=$1 db=$2
shift 2
[[ ${1:-} == -- ]] && shift
RUNS=${RUNS:-3}
PORT=${PORT:-18080}
ADMIN_KEY=${ADMIN_KEY:-loadgen-admin-key-0123456789abcdef}
mkdir -p bench/results
out=bench/results/$label.jsonl
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for run in $(seq 1 "$RUNS"); do
  if [[ $db == sqlite ]]; then
    url="sqlite://$tmp/run$run.sqlite?mode=rwc"
  else
    url=$db
    name=${db##*/}
    admin=${db%/*}/postgres
    psql "$admin" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
  fi
  # The rate limiter and per-key connection cap are not what is measured: lift them.
  RUST_LOG=warn ./target/release/clinicstream serve --database-url "$url" \
    --listen-addr "127.0.0.1:$PORT" --admin-key "$ADMIN_KEY" \
    --rate-limit-per-sec 1000000 --rate-limit-burst 1000000 --max-connections-per-key 1000000 \
    >"$tmp/server$run.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do
    curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  ./target/release/loadgen --target "127.0.0.1:$PORT" --admin-key "$ADMIN_KEY" \
    --server-pid "$server" --label "$label" "$@" | tee "$tmp/loadgen$run.txt"
  grep '^JSON ' "$tmp/loadgen$run.txt" | sed 's/^JSON //' >>"$out"
  kill "$server"
  wait "$server" || true
done
