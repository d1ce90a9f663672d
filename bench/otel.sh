#!/usr/bin/env bash
# Tracing's cost per delivery (BENCHMARKS.md, "Tracing"): S2-style runs of bench/run.sh,
# alternating tracing off and on (OTLP/HTTP to the test suite's receiver,
# tests/support/otel/receiver.py, its spans counted), so both sides see the same
# machine. Appends to bench/results/<label>-off.jsonl and <label>-on.jsonl and prints the
# server CPU per delivery of each run and the medians.
#
#   bench/otel.sh LABEL DATABASE_URL -- LOADGEN_FLAGS...
#
# PAIRS (default 3) off/on pairs. SAMPLER (default parentbased_traceidratio) and RATIO
# (default 0.1) set the sampling when on. Needs python3 with opentelemetry-proto (the
# tests install it in target/otel-venv: `cargo test --test api otel` once) and
# `cargo build --release -p loadgen -p clinicstream`.
set -euo pipefail
cd "$(dirname "$0")/.."
label=$1 db=$2
shift 2
[[ ${1:-} == -- ]] && shift
PAIRS=${PAIRS:-3}
PYTHON=${PYTHON:-target/otel-venv/bin/python}
port_file=$(mktemp) spans_file=$(mktemp)
"$PYTHON" tests/support/otel/receiver.py > >(head -1 >"$port_file"; wc -l >"$spans_file") &
receiver=$!
trap 'kill $receiver 2>/dev/null || true; rm -f "$port_file" "$spans_file"' EXIT
for _ in $(seq 1 100); do [[ -s $port_file ]] && break; sleep 0.1; done
port=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["port"])' "$port_file")
for pair in $(seq 1 "$PAIRS"); do
  RUNS=1 bench/run.sh "$label-off" "$db" -- "$@"
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$port OTEL_TRACES_SAMPLER=${SAMPLER:-parentbased_traceidratio} \
    OTEL_TRACES_SAMPLER_ARG=${RATIO:-0.1} RUNS=1 bench/run.sh "$label-on" "$db" -- "$@"
done
kill $receiver
for _ in $(seq 1 50); do [[ -s $spans_file ]] && break; sleep 0.1; done
echo "the receiver got $(cat "$spans_file") spans"
python3 - "bench/results/$label-off.jsonl" "bench/results/$label-on.jsonl" <<'PY'
import json, statistics, sys
for path in sys.argv[1:]:
    runs = [json.loads(line) for line in open(path) if line.strip()]
    us = [r["server"]["cpu_secs"] / r["deliveries"]["delivered"] * 1e6 for r in runs if r["deliveries"]["delivered"]]
    lost = [r["deliveries"]["lost"] for r in runs]
    print(f"{path}: µs CPU per delivery {[round(u, 2) for u in us]} median {statistics.median(us):.2f}; lost {lost}")
PY
