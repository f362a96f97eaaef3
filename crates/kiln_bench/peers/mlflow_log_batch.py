#!/usr/bin/env python3
"""MLflow's metric logging and history read on a SQLite tracking store, for BENCHMARKS.md.

Logs POINTS metric points with MlflowClient.log_batch (at most 1,000 metrics per call, MLflow's limit)
over the same four metric names and step pattern as `kiln_bench metrics`, then reads back a run whose
one metric has HISTORY points with get_metric_history. Prints one JSON document.

    python3 crates/kiln_bench/peers/mlflow_log_batch.py --points 200000 --history 20000
"""

import argparse
import json
import os
import tempfile
import time

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--history", type=int, default=20_000)
    args = ap.parse_args()
    names = ["train_step_loss", "train_accuracy", "val_loss", "val_accuracy"]
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri("sqlite:///" + os.path.join(tmp, "mlflow.db"))
        client = MlflowClient()
        exp = client.create_experiment("bench", artifact_location=os.path.join(tmp, "artifacts"))
        run = client.create_run(exp).info.run_id
        now = int(time.time() * 1000)
        t = time.perf_counter()
        written = 0
        while written < args.points:
            end = min(written + 1000, args.points)
            batch = [
                Metric(names[i % 4], i * 1e-6, now, i // 4) for i in range(written, end)
            ]
            client.log_batch(run, metrics=batch)
            written = end
        log_s = time.perf_counter() - t
        small = client.create_run(exp).info.run_id
        for start in range(0, args.history, 1000):
            batch = [
                Metric("loss", 1.0 / (i + 1), now, i)
                for i in range(start, min(start + 1000, args.history))
            ]
            client.log_batch(small, metrics=batch)
        reads = []
        for _ in range(5):
            t = time.perf_counter()
            h = client.get_metric_history(small, "loss")
            reads.append(time.perf_counter() - t)
            assert len(h) == args.history, len(h)
        print(json.dumps({
            "mlflow": mlflow.__version__,
            "points": args.points,
            "log_s": round(log_s, 3),
            "points_per_s": round(args.points / log_s, 1),
            "history_points": args.history,
            "history_read_ms_best": round(min(reads) * 1000, 2),
        }, indent=2))


if __name__ == "__main__":
    main()
