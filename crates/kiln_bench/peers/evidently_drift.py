#!/usr/bin/env python3
"""Evidently's data drift report on the frames `kiln_bench drift --write DIR` saves, for BENCHMARKS.md.

    cargo run --release -p kiln_bench -- drift --write /tmp/drift
    python3 crates/kiln_bench/peers/evidently_drift.py /tmp/drift [--repeat 3]

Needs evidently 0.7.23 (and pandas < 3, which that release requires). Times `Report([DataDriftPreset()])
.run(current, reference)` — Evidently's default method choice, the same rule Kiln follows — best of
`--repeat`, and prints one JSON line with the seconds and the columns it found drifted.
"""

import argparse
import json
import os
import time

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def drifted_columns(result):
    found = []
    for m in result.dict().get("metrics", []):
        name = m.get("metric_name", "")
        if name.startswith("ValueDrift"):
            column = m.get("config", {}).get("column")
            threshold = m.get("config", {}).get("threshold")
            value = m.get("value")
            method = m.get("config", {}).get("method", "")
            # Tests with a p-value drift below the threshold; distances drift at or above it.
            is_p = "p_value" in method or method in ("K-S p_value", "chi-square p_value", "Z-test p_value")
            if value is not None and threshold is not None:
                if (value < threshold) if is_p else (value >= threshold):
                    found.append(column)
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    reference = pd.read_parquet(os.path.join(args.dir, "reference.parquet"))
    current = pd.read_parquet(os.path.join(args.dir, "current.parquet"))
    times = []
    result = None
    for _ in range(max(1, args.repeat)):
        t = time.perf_counter()
        report = Report([DataDriftPreset()])
        result = report.run(current, reference)
        times.append(time.perf_counter() - t)
    print(
        json.dumps(
            {
                "peer": "evidently",
                "rows": len(reference),
                "cols": reference.shape[1],
                "drift_s": min(times),
                "all_s": times,
                "drifted_columns": drifted_columns(result),
            }
        )
    )


if __name__ == "__main__":
    main()
