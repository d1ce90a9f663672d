#!/usr/bin/env bash
# Fan-out through a 3-shard Redis Cluster vs one Redis at the same load (issue 19): two
# replicas, 2,000 subscribers over 30 practices. Starts six redis-server
# --cluster-enabled yes (3 masters + 3 replicas) and one plain redis-server on free
# ports under a temporary directory, runs bench/run.sh against each, and kills them.
#
#   bench/cluster.sh POSTGRES_URL [-- LOADGEN_FLAGS...]
#
# RUNS (default 3) runs each, interleaved; results go to bench/results/cluster-*.jsonl (medians:
# bench/median.py). Needs the release build (cargo build --release --bin loadgen --bin clinicstream).
set -euo pipefail
cd "$(dirname "$0")/.."
db=$1
shift
[[ ${1:-} == -- ]] && shift
flags=("$@")
((${#flags[@]})) || flags=(--connections 2000 --practices 30 --rate 100 --duration 20 --source-addrs 8)
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT
base=${BASE_PORT:-27000}
nodes=()
for i in 0 1 2 3 4 5; do
  port=$((base + i))
  mkdir -p "$tmp/$port"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --cluster-enabled yes \
    --cluster-node-timeout 2000 --dir "$tmp/$port" --cluster-config-file nodes.conf >/dev/null 2>&1 &
  pids+=($!)
  nodes+=("127.0.0.1:$port")
done
single=$((base + 6))
redis-server --port "$single" --bind 127.0.0.1 --save "" --appendonly no >/dev/null 2>&1 &
pids+=($!)
sleep 1
redis-cli --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >/dev/null
until redis-cli -p "$base" cluster info | grep -q cluster_state:ok; do sleep 0.2; done
sleep 2 # the replicas attach
cluster=$(IFS=,; echo "${nodes[*]}")
echo "cluster: $cluster; single Redis: 127.0.0.1:$single"
# Interleaved, so a busy moment of the shared machine does not land on one side only.
for _ in $(seq 1 "${RUNS:-3}"); do
  RUNS=1 REPLICAS=2 REDIS_URL=redis://127.0.0.1:$single bench/run.sh cluster-single-redis "$db" -- "${flags[@]}"
  RUNS=1 REPLICAS=2 CLUSTER_NODES=$cluster bench/run.sh cluster-3-shards "$db" -- "${flags[@]}"
done
python3 bench/median.py bench/results/cluster-single-redis.jsonl bench/results/cluster-3-shards.jsonl
