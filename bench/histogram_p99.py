"""Reads Prometheus text on stdin and prints, per label set of histogram NAME (argv[1]),
the count and the upper bound of the bucket holding the 50th and 99th percentiles (a
conservative reading: the true value is at most that bound)."""
import re
import sys

name = sys.argv[1]
buckets = {}
for line in sys.stdin:
    m = re.match(re.escape(name) + r"_bucket\{([^}]*)\} (\S+)", line)
    if not m:
        continue
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
    le = labels.pop("le")
    key = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    buckets.setdefault(key, []).append((float(le), float(m.group(2))))
for key, rows in sorted(buckets.items()):
    rows.sort()
    total = rows[-1][1]

    def at(q):
        for le, count in rows:
            if count >= q * total:
                return le
        return float("inf")

    print(f"{name}{{{key}}}: count {int(total)}, p50 <= {at(0.5) * 1000:.1f} ms, p99 <= {at(0.99) * 1000:.1f} ms")
