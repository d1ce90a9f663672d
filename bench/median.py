#!/usr/bin/env python3
"""Prints the median of every numeric figure over the runs in bench/results/<label>.jsonl."""
import json
import statistics
import sys


def flatten(value, prefix=""):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from flatten(inner, f"{prefix}{key}.")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield prefix[:-1], value


for path in sys.argv[1:]:
    runs = [dict(flatten(json.loads(line))) for line in open(path) if line.strip()]
    print(f"{path}: {len(runs)} runs")
    for key in runs[0]:
        values = [run[key] for run in runs if key in run]
        print(f"  {key:45} median {statistics.median(values):>12}   runs {values}")
