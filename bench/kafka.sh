#!/usr/bin/env bash
# The Kafka bridge benchmark (BENCHMARKS.md, "Kafka bridge"): one server on a fresh Postgres
# database with only the Kafka bridge on, a tansu of the script's own (free port, SQLite
# storage in a temp dir), and `loadgen` posting payments round-robin over its practices.
# Prints the server's own commit → broker-acknowledged histogram p99 (a batch counts as
# acknowledged when its transaction committed), the events published and the events/s.
#
#   bench/kafka.sh LABEL [-- LOADGEN_FLAGS...]
#
# RUNS (default 3) runs. PROFILE (default release) picks target/<profile>/ binaries;
# TANSU (default target/tools/bin/tansu) the broker. DATABASE (default
# postgres://postgres@127.0.0.1:5432/bench_kafka) is dropped and created anew each run.
# Expects `cargo build --release -p loadgen -p clinicstream`; SERVER_BIN picks another server.
set -euo pipefail
cd "$(dirname "$0")/.."
label=$1
shift
[[ ${1:-} == -- ]] && shift
RUNS=${RUNS:-3}
PORT=${PORT:-18091}
PROFILE=${PROFILE:-release}
TANSU=${TANSU:-target/tools/bin/tansu}
DATABASE=${DATABASE:-postgres://postgres@127.0.0.1:5432/bench_kafka}
ADMIN_KEY=${ADMIN_KEY:-loadgen-admin-key-0123456789abcdef}
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
metric() { curl -fs "http://127.0.0.1:$PORT/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

for run in $(seq 1 "$RUNS"); do
  name=${DATABASE##*/}
  psql "${DATABASE%/*}/postgres" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
  kport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  # tansu takes the SQLite path relative to its working directory.
  tansu=$(realpath "$TANSU")
  (cd "$tmp" && exec "$tansu" broker --listener-url "tcp://127.0.0.1:$kport" --advertised-listener-url "tcp://127.0.0.1:$kport" \
    --storage-engine "sqlite://tansu$run.db" >"$tmp/tansu$run.log" 2>&1) &
  tansu_pid=$!
  pids+=("$tansu_pid")
  for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$kport") 2>/dev/null && break; sleep 0.05; done
  RUST_LOG=warn BRIDGE_KAFKA_BROKERS=127.0.0.1:$kport BRIDGE_KAFKA_TOPIC=bench.events \
    "${SERVER_BIN:-./target/$PROFILE/clinicstream}" serve --database-url "$DATABASE" --listen-addr "127.0.0.1:$PORT" \
    --admin-key "$ADMIN_KEY" --rate-limit-per-sec 1000000 --rate-limit-burst 1000000 \
    --max-connections-per-key 1000000 >"$tmp/server$run.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  start=$(date +%s.%N)
  ./target/$PROFILE/loadgen --target "127.0.0.1:$PORT" --server-pid "$server_pid" --admin-key "$ADMIN_KEY" \
    --label "$label" "$@" >"$tmp/loadgen$run.txt"
  grep -E '^(posted|payments)' "$tmp/loadgen$run.txt" || true
  # Until the bridge has caught up (lag 0), or 60 s.
  for _ in $(seq 1 600); do [[ $(metric 'clinicstream_bridge_lag_events{bridge="kafka"}') == 0 ]] && break; sleep 0.1; done
  end=$(date +%s.%N)
  committed=$(psql "$DATABASE" -Atc "SELECT sum(last_seq) FROM practices")
  published=$(metric 'clinicstream_bridge_publishes_total{bridge="kafka"}')
  echo "events committed: $committed, published to Kafka: $published"
  python3 -c "print(f'events/s from the first post to lag 0: {float($published) / ($end - $start):.0f}')"
  curl -fs "http://127.0.0.1:$PORT/metrics" | python3 bench/histogram_p99.py clinicstream_bridge_ack_latency_seconds
  curl -fs "http://127.0.0.1:$PORT/metrics" | grep -E '^clinicstream_bridge_(lag_events|failures_total)'
  if [[ -n ${KEEP_LOGS:-} ]]; then cp "$tmp/server$run.log" "$KEEP_LOGS/$label-server$run.log"; fi
  kill "$server_pid" "$tansu_pid" 2>/dev/null || true
  wait "$server_pid" "$tansu_pid" 2>/dev/null || true
done
