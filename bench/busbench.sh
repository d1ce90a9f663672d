#!/usr/bin/env bash
# Publish throughput of the bus: events/s Redis confirms, one Redis vs a 3-shard
# Redis Cluster (3 masters + 3 replicas), pipelined publisher (--batch 256) vs the old
# one-at-a-time (--batch 1). Starts its own redis-servers on free ports under a temporary
# directory and kills them. RUNS (default 3) runs each, interleaved; prints medians.
#
#   bench/busbench.sh [BUSBENCH_FLAGS...]      (default: --events 50000 --practices 30)
#
# BIN picks the binary (default target/release/busbench: cargo build --release -p busbench).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/busbench}
flags=("$@")
((${#flags[@]})) || flags=(--events 50000 --practices 30)
source bench/redis_cluster.sh
start_redis_cluster "${BASE_PORT:-27100}"
out=$redis_tmp/results.jsonl
for _ in $(seq 1 "${RUNS:-3}"); do
  for batch in 1 256; do
    "$bin" --redis-url "redis://127.0.0.1:$single" --batch "$batch" --label "single-batch$batch" "${flags[@]}" | tee -a "$out"
    "$bin" --cluster-nodes "$cluster" --batch "$batch" --label "cluster-batch$batch" "${flags[@]}" | tee -a "$out"
  done
done
python3 - "$out" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    runs.setdefault(r["label"], []).append(r["published_per_s"])
for label, rates in runs.items():
    print(f"{label:20s} median {statistics.median(rates):10.0f} published/s  runs {[round(x) for x in rates]}")
PY
