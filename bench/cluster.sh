#!/usr/bin/env bash
# Fan-out through a 3-shard Redis Cluster vs one Redis at the same load: two
# replicas, 2,000 subscribers over 30 practices. Starts six redis-server
# --cluster-enabled yes (3 masters + 3 replicas) and one plain redis-server on free
# ports under a temporary directory, runs bench/run.sh against each, and kills them.
#
#   bench/cluster.sh POSTGRES_URL [-- LOADGEN_FLAGS...]
#
# RUNS (default 3) runs each, interleaved; results go to bench/results/cluster-*.jsonl (medians:
# bench/median.py). Needs the release build (cargo build --release -p loadgen -p clinicstream).
set -euo pipefail
cd "$(dirname "$0")/.."
db=$1
shift
[[ ${1:-} == -- ]] && shift
flags=("$@")
((${#flags[@]})) || flags=(--connections 2000 --practices 30 --rate 100 --duration 20 --source-addrs 8)
source bench/redis_cluster.sh
start_redis_cluster "${BASE_PORT:-27000}"
# Interleaved, so a busy moment of the shared machine does not land on one side only.
for _ in $(seq 1 "${RUNS:-3}"); do
  RUNS=1 REPLICAS=2 REDIS_URL=redis://127.0.0.1:$single bench/run.sh cluster-single-redis "$db" -- "${flags[@]}"
  RUNS=1 REPLICAS=2 CLUSTER_NODES=$cluster bench/run.sh cluster-3-shards "$db" -- "${flags[@]}"
done
python3 bench/median.py bench/results/cluster-single-redis.jsonl bench/results/cluster-3-shards.jsonl
