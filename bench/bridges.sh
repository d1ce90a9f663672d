#!/usr/bin/env bash
# The bridge benchmark (BENCHMARKS.md, "Bridges"): one release server on a fresh Postgres
# database with the JetStream and RabbitMQ bridges on, `bridgebench` consuming both brokers,
# and `loadgen` posting payments round-robin over its practices. Appends bridgebench's JSON
# line to bench/results/<label>.jsonl and prints the server's own histogram p99 and lag.
#
#   bench/bridges.sh LABEL [-- LOADGEN_FLAGS...]
#
# RUNS (default 3) runs. OUTAGE=S (default 0) runs JetStream on a nats-server of the
# script's own (free port, store in a temp dir), SIGKILLs it OUTAGE_AT seconds (default 10)
# into the run and restarts it S seconds later; otherwise the shared NATS on 4222 is used
# (the shared brokers are never stopped). RabbitMQ is the shared one on 5672. IDLE (default
# 15) is how many quiet seconds end bridgebench. IN_FLIGHT (default 1) is BRIDGE_MAX_IN_FLIGHT.
# DATABASE (default postgres://postgres@127.0.0.1:5432/bench_bridges) is dropped and
# created anew before each run. Expects
# `cargo build --release -p loadgen -p clinicstream -p bridgebench`. SERVER_BIN picks another
# server build (default ./target/release/clinicstream).
set -euo pipefail
cd "$(dirname "$0")/.."
label=$1
shift
[[ ${1:-} == -- ]] && shift
RUNS=${RUNS:-3}
PORT=${PORT:-18090}
OUTAGE=${OUTAGE:-0}
OUTAGE_AT=${OUTAGE_AT:-10}
DATABASE=${DATABASE:-postgres://postgres@127.0.0.1:5432/bench_bridges}
ADMIN_KEY=${ADMIN_KEY:-loadgen-admin-key-0123456789abcdef}
AMQP=amqp://guest:guest@127.0.0.1:5672/%2f
mkdir -p bench/results
out=bench/results/$label.jsonl
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

for run in $(seq 1 "$RUNS"); do
  tag="bench$RANDOM$RANDOM"
  stream="BENCH_$tag" prefix="bench$tag" exchange="bench.$tag"
  name=${DATABASE##*/}
  psql "${DATABASE%/*}/postgres" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
  nats_pid=""
  nats=nats://127.0.0.1:4222
  if ((OUTAGE > 0)); then
    nats_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    nats=nats://127.0.0.1:$nats_port
    start_nats() {
      nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$tmp/nats$run" >"$tmp/nats$run.log" 2>&1 &
      nats_pid=$!
      pids+=("$nats_pid")
      for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && break; sleep 0.05; done
    }
    start_nats
  fi
  ./target/release/bridgebench --nats-url "$nats" --nats-stream "$stream" --nats-prefix "$prefix" \
    --amqp-url "$AMQP" --amqp-exchange "$exchange" --idle "${IDLE:-15}" --cleanup --label "$label" >"$tmp/bench$run.txt" 2>&1 &
  bench_pid=$!
  pids+=("$bench_pid")
  for _ in $(seq 1 100); do grep -q READY "$tmp/bench$run.txt" 2>/dev/null && break; sleep 0.1; done
  RUST_LOG=warn BRIDGE_MAX_IN_FLIGHT=${IN_FLIGHT:-1} BRIDGE_NATS_URL=$nats BRIDGE_NATS_STREAM=$stream BRIDGE_NATS_PREFIX=$prefix \
    BRIDGE_AMQP_URL=$AMQP BRIDGE_AMQP_EXCHANGE=$exchange \
    "${SERVER_BIN:-./target/release/clinicstream}" serve --database-url "$DATABASE" --listen-addr "127.0.0.1:$PORT" \
    --admin-key "$ADMIN_KEY" --rate-limit-per-sec 1000000 --rate-limit-burst 1000000 \
    --max-connections-per-key 1000000 >"$tmp/server$run.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  if ((OUTAGE > 0)); then
    (
      sleep "$OUTAGE_AT"
      kill -KILL "$nats_pid"
      echo "$(date +%T) nats-server killed for ${OUTAGE}s"
      sleep "$OUTAGE"
      nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$tmp/nats$run" >>"$tmp/nats$run.log" 2>&1 &
      echo "$! " >"$tmp/nats$run.pid"
      echo "$(date +%T) nats-server restarted"
    ) &
    pids+=($!)
  fi
  ./target/release/loadgen --target "127.0.0.1:$PORT" --server-pid "$server_pid" --admin-key "$ADMIN_KEY" \
    --label "$label" "$@" >"$tmp/loadgen$run.txt"
  grep -E '^(posted|payments|delivered)' "$tmp/loadgen$run.txt" || true
  wait "$bench_pid" || true
  cat "$tmp/bench$run.txt"
  grep '^JSON ' "$tmp/bench$run.txt" | sed 's/^JSON //' >>"$out"
  committed=$(psql "$DATABASE" -Atc "SELECT sum(last_seq) FROM practices")
  echo "events committed: $committed"
  curl -fs "http://127.0.0.1:$PORT/metrics" | python3 bench/histogram_p99.py clinicstream_bridge_ack_latency_seconds
  curl -fs "http://127.0.0.1:$PORT/metrics" | grep -E '^clinicstream_bridge_(lag_events|publishes_total|failures_total)'
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  if [[ -n ${KEEP_LOGS:-} ]]; then cp "$tmp/server$run.log" "$KEEP_LOGS/$label-server$run.log"; fi
  [[ -f $tmp/nats$run.pid ]] && kill "$(cat "$tmp/nats$run.pid")" 2>/dev/null || true
  [[ -n $nats_pid ]] && kill "$nats_pid" 2>/dev/null || true
done
