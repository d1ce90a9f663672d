"""Reads Prometheus text on stdin and prints, per label set of histogram NAME (argv[1]),
the count and the upper bound of the bucket holding the 50th and 99th percentiles (a
conservative reading: the true value is at most that bound)."""
import re
import sys

name = sys.argv[1]
buckets = {}
for line in sys.stdin:
    m = re.match(name + r'_bucket\{(.*)le="([^"]+)"\} (\S+)', line)
    if m:
        labels = m.group(1).rstrip(",")
        buckets.setdefault(labels, []).append((float(m.group(2)), float(m.group(3))))
for labels, rows in buckets.items():
    rows.sort()
    total = rows[-1][1]
    def at(q):
        for le, count in rows:
            if count >= q * total:
                return le
        return float("inf")
    print(f"{name}{{{labels}}}: count {int(total)}, p50 <= {at(0.5) * 1000:.1f} ms, p99 <= {at(0.99) * 1000:.1f} ms")
