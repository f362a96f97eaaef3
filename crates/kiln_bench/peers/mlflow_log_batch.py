#!/usr/bin/env python3
"""MLflow's metric logging and history read on a SQLite tracking store (or a tracking server on PostgreSQL), for BENCHMARKS.md.

Logs POINTS metric points with MlflowClient.log_batch (at most 1,000 metrics per call, MLflow's limit)
over the same four metric names and step pattern as `kiln_bench metrics`, then reads back a run whose
one metric has HISTORY points with get_metric_history. Prints one JSON document.

    python3 crates/kiln_bench/peers/mlflow_log_batch.py --points 200000 --history 20000

With --postgres URL (an empty database, e.g. postgresql+psycopg2://user:pw@127.0.0.1:5432/mlflow;
needs psycopg2-binary) it starts `mlflow server --backend-store-uri URL` on loopback and logs through it over
HTTP, as a team would share MLflow.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import mlflow
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=200_000)
    ap.add_argument("--history", type=int, default=20_000)
    ap.add_argument("--postgres", help="log through an MLflow tracking server on this PostgreSQL database")
    args = ap.parse_args()
    names = ["train_step_loss", "train_accuracy", "val_loss", "val_accuracy"]
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            server = subprocess.Popen(
                [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", args.postgres,
                 "--default-artifact-root", os.path.join(tmp, "artifacts"),
                 "--host", "127.0.0.1", "--port", str(port)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}"
            for _ in range(240):
                try:
                    urllib.request.urlopen(url + "/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            mlflow.set_tracking_uri(url)
        else:
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
        if server:
            server.terminate()
            server.wait()
        print(json.dumps({
            "mlflow": mlflow.__version__,
            "store": "tracking server on PostgreSQL" if args.postgres else "SQLite",
            "points": args.points,
            "log_s": round(log_s, 3),
            "points_per_s": round(args.points / log_s, 1),
            "history_points": args.history,
            "history_read_ms_best": round(min(reads) * 1000, 2),
        }, indent=2))


if __name__ == "__main__":
    main()
