#!/usr/bin/env bash
# Runs one scenario RUNS times, each against freshly started release servers on a fresh
# database, and appends loadgen's JSON lines to bench/results/<label>.jsonl.
#
#   bench/run.sh LABEL DATABASE_URL -- LOADGEN_FLAGS...
#
# DATABASE_URL `sqlite` means a new SQLite file under a temporary directory; a
# `postgres://…/NAME` database NAME is dropped and created anew before each run.
# REPLICAS=N (default 1) starts N servers on PORT, PORT+1, … sharing the database and a
# Redis bus (REDIS_URL, default redis://127.0.0.1:6379, under a channel prefix of its
# own per run); every server is a `--target` and a `--server-pid` of loadgen. N > 1
# needs Postgres. BUS=redis puts a single replica on Redis too (to compare bus costs).
# CLUSTER_NODES=host:port,… puts the servers on that Redis Cluster instead (sharded
# pub/sub, REDIS_CLUSTER_NODES); bench/cluster.sh starts one.
# SERVER_BIN picks another server build (default ./target/release/clinicstream), LOADGEN_BIN
# another loadgen (default ./target/release/loadgen).
# JWKS=path/to/jwks.json serves that key set on a free loopback port and starts the servers
# trusting it (`--jwt-jwks-url`, audience `clinicstream`), so loadgen's
# `--patient-token-key` sockets can sign in as patients (bench/identity.sh).
# Expects `cargo build --release -p loadgen -p clinicstream` to have been run.
set -euo pipefail
cd "$(dirname "$0")/.."
label=$1 db=$2
shift 2
[[ ${1:-} == -- ]] && shift
RUNS=${RUNS:-3}
PORT=${PORT:-18080}
ADMIN_KEY=${ADMIN_KEY:-loadgen-admin-key-0123456789abcdef}
REPLICAS=${REPLICAS:-1}
BUS=${BUS:-memory}
if ((REPLICAS > 1)); then
  BUS=redis
  [[ $db == postgres://* ]] || { echo "REPLICAS=$REPLICAS needs a postgres:// database" >&2; exit 2; }
fi
[[ $BUS == memory || $BUS == redis ]] || { echo "BUS must be memory or redis" >&2; exit 2; }
mkdir -p bench/results
out=bench/results/$label.jsonl
tmp=$(mktemp -d)
servers=()
stop_servers() {
  for pid in "${servers[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${servers[@]}"; do wait "$pid" 2>/dev/null || true; done
  servers=()
}
identity=()
jwks_server=
if [[ -n ${JWKS:-} ]]; then
  jwks_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  python3 -m http.server "$jwks_port" --bind 127.0.0.1 --directory "$(dirname "$JWKS")" >/dev/null 2>&1 &
  jwks_server=$!
  identity=(--jwt-jwks-url "http://127.0.0.1:$jwks_port/$(basename "$JWKS")" --jwt-audience clinicstream)
fi
trap 'stop_servers; [[ -n $jwks_server ]] && kill "$jwks_server"; rm -rf "$tmp"' EXIT

for run in $(seq 1 "$RUNS"); do
  if [[ $db == sqlite ]]; then
    url="sqlite://$tmp/run$run.sqlite?mode=rwc"
  else
    url=$db
    name=${db##*/}
    admin=${db%/*}/postgres
    psql "$admin" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
  fi
  bus=()
  if [[ -n ${CLUSTER_NODES:-} ]]; then
    bus=(--redis-cluster-nodes "$CLUSTER_NODES" --redis-prefix "bench-$RANDOM$RANDOM")
  elif [[ $BUS == redis ]]; then
    # One prefix per run, shared by its replicas: runs never hear each other's events.
    bus=(--redis-url "${REDIS_URL:-redis://127.0.0.1:6379}" --redis-prefix "bench-$RANDOM$RANDOM")
  fi
  targets=()
  for replica in $(seq 0 $((REPLICAS - 1))); do
    port=$((PORT + replica))
    # The rate limiter and per-key connection cap are not what is measured: lift them.
    RUST_LOG=warn "${SERVER_BIN:-./target/release/clinicstream}" serve --database-url "$url" \
      --listen-addr "127.0.0.1:$port" --admin-key "$ADMIN_KEY" \
      --rate-limit-per-sec 1000000 --rate-limit-burst 1000000 --max-connections-per-key 1000000 \
      "${bus[@]}" "${identity[@]}" >"$tmp/server$run-$replica.log" 2>&1 &
    servers+=($!)
    targets+=(--target "127.0.0.1:$port" --server-pid "$!")
    # One at a time: the first one migrates the fresh database before the others start.
    for _ in $(seq 1 100); do
      curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
      sleep 0.1
    done
  done
  "${LOADGEN_BIN:-./target/release/loadgen}" "${targets[@]}" --admin-key "$ADMIN_KEY" \
    --label "$label" "$@" | tee "$tmp/loadgen$run.txt"
  grep '^JSON ' "$tmp/loadgen$run.txt" | sed 's/^JSON //' >>"$out"
  stop_servers
done
