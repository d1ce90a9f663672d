#!/usr/bin/env bash
# Where the machine's CPU went during a benchmark: samples every process's CPU time at the
# start and after SECONDS, and prints the CPU seconds per program (clinicstream, postgres,
# loadgen, the brokers, ...) and each one's share of the machine (2 cores = 200 %).
# Processes that start or end in between count from their first or to their last sample.
#
#   bench/cpu_split.sh SECONDS [DELAY]   (DELAY: seconds to wait before the first sample)
set -euo pipefail
secs=$1
sleep "${2:-0}"
ticks=$(getconf CLK_TCK)
sample() {
  for stat in /proc/[0-9]*/stat; do
    # comm may hold spaces: take what follows the last ')'.
    read -r line <"$stat" 2>/dev/null || continue
    comm=${line#*(}
    comm=${comm%)*}
    rest=${line##*) }
    read -r -a f <<<"$rest"
    echo "${stat//[^0-9]/} $comm $((f[11] + f[12]))"
  done
}
before=$(sample)
sleep "$secs"
after=$(sample)
python3 - "$secs" "$ticks" <(echo "$before") <(echo "$after") <<'PY'
import sys
secs, ticks = float(sys.argv[1]), int(sys.argv[2])
def load(path):
    out = {}
    for line in open(path):
        parts = line.split()
        if len(parts) >= 3:
            out[parts[0]] = (" ".join(parts[1:-1]), int(parts[-1]))
    return out
before, after = load(sys.argv[3]), load(sys.argv[4])
groups = {}
for pid, (comm, t) in after.items():
    start = before.get(pid, (comm, 0))[1]
    name = comm.split(":")[0].split("/")[0]
    for known in ("postgres", "beam", "clinicstream", "loadgen", "bridgebench", "nats-server", "redis-server", "tansu", "python"):
        if name.startswith(known):
            name = known
    groups[name] = groups.get(name, 0) + (t - start) / ticks
total = sum(groups.values())
print(f"CPU over {secs:.0f} s: {total:.1f} s of {2 * secs:.0f} s available ({100 * total / secs:.0f} % of 200 %)")
for name, cpu in sorted(groups.items(), key=lambda kv: -kv[1])[:10]:
    if cpu > 0.05:
        print(f"  {name:<16} {cpu:7.1f} s  {100 * cpu / secs:5.0f} %")
PY
