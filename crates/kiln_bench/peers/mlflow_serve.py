#!/usr/bin/env python3
"""`mlflow models serve` (uvicorn, default settings) with scikit-learn's MLPClassifier on digits, under
the same load generator as `kiln_bench serve`, for BENCHMARKS.md.

    cargo build --release -p kiln -p kiln_bench
    python3 crates/kiln_bench/peers/mlflow_serve.py --bench target/release/kiln_bench \
        [--connections 32] [--seconds 10]

It fits MLPClassifier(hidden_layer_sizes=(128,)) on the pixels of assets/demo/digits.csv (scaled by
MaxAbsScaler in a pipeline, so the server takes raw pixels like Kiln's), saves it as an MLflow model,
starts `mlflow models serve --env-manager local`, waits for /ping, and has `kiln_bench load` POST the
first row (`dataframe_split`) to /invocations over keep-alive connections. Prints kiln_bench's JSON.
"""

import argparse
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True, help="path of the kiln_bench binary")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10.0)
    args = ap.parse_args()

    with open(os.path.join(ROOT, "assets", "demo", "digits.csv"), newline="") as f:
        rows = [[float(v) for v in r] for r in csv.reader(f) if r]
    columns = [f"column_{i}" for i in range(1, 65)]
    x = pd.DataFrame([r[:64] for r in rows], columns=columns)
    y = np.array([int(r[64]) for r in rows])
    model = make_pipeline(MaxAbsScaler(), MLPClassifier(hidden_layer_sizes=(128,), random_state=0, max_iter=300))
    model.fit(x, y)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model")
        mlflow.sklearn.save_model(
            model,
            path,
            signature=infer_signature(x, y),
            skops_trusted_types=["sklearn.neural_network._stochastic_optimizers.AdamOptimizer"],
        )
        body = os.path.join(tmp, "row.json")
        with open(body, "w") as f:
            json.dump({"dataframe_split": {"columns": columns, "data": [x.iloc[0].tolist()]}}, f)
        port = free_port()
        mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
        server = subprocess.Popen(
            [mlflow_bin, "models", "serve", "-m", path, "-h", "127.0.0.1", "-p", str(port), "--env-manager", "local"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.time() + 180
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2) as r:
                        if r.status == 200:
                            break
                except OSError:
                    pass
                if time.time() > deadline or server.poll() is not None:
                    sys.exit("mlflow models serve did not come up")
                time.sleep(0.5)
            out = subprocess.run(
                [
                    args.bench,
                    "--json",
                    "load",
                    "--url",
                    f"http://127.0.0.1:{port}/invocations",
                    "--body",
                    body,
                    "--connections",
                    str(args.connections),
                    "--seconds",
                    str(args.seconds),
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            report = json.loads(out.stdout)
            report["peer"] = f"mlflow {mlflow.__version__} models serve (uvicorn), sklearn MLPClassifier(128)"
            print(json.dumps(report))
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
