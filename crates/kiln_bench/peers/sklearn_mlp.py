#!/usr/bin/env python3
"""scikit-learn's MLPClassifier on exactly the splits Kiln draws, for BENCHMARKS.md.

For each split seed it asks the `kiln` binary for the stratified 80/20 split of digits
(`kiln datasets split … --seed N`) and exports that version (`kiln datasets export`), so both sides
train and test on the same rows. Then it fits MLPClassifier(hidden_layer_sizes=(128,)) on the train
rows' pixels / 16 with each random_state, timing `fit` alone, and prints one JSON line per fit plus a
summary line.

    python3 crates/kiln_bench/peers/sklearn_mlp.py --kiln target/release/kiln
"""

import argparse
import csv
import json
import os
import subprocess
import tempfile
import time

import numpy as np
from sklearn.neural_network import MLPClassifier


def kiln(binary, workspace, *args):
    out = subprocess.run(
        [binary, "--workspace", workspace, *args, "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def load(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    pixels = [f"column_{i}" for i in range(1, 65)]
    x = np.array([[float(r[p]) for p in pixels] for r in rows]) / 16.0
    y = np.array([int(r["column_65"]) for r in rows])
    part = np.array([r["split"] for r in rows])
    return x, y, part


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kiln", default="target/release/kiln", help="the kiln binary")
    ap.add_argument(
        "--digits",
        default=os.path.join(here, "../../../assets/demo/digits.csv"),
        help="digits.csv (no header, 64 pixel columns then the class)",
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="split seeds")
    ap.add_argument(
        "--random-states", type=int, nargs="+", default=[0, 1, 2], help="MLP random_state values"
    )
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = os.path.join(tmp, "ws")
        kiln(args.kiln, ws, "import", args.digits, "--name", "digits", "--no-header")
        for seed in args.seeds:
            v = kiln(
                args.kiln, ws, "datasets", "split", "digits@1", "--ratios", "0.8,0,0.2",
                "--seed", str(seed), "--stratify", "column_65",
            )
            path = os.path.join(tmp, f"split-{seed}.csv")
            kiln(args.kiln, ws, "datasets", "export", f"digits@{v['version']}", "--out", path)
            x, y, part = load(path)
            train, test = part == "train", part == "test"
            for rs in args.random_states:
                clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=200, random_state=rs)
                t = time.perf_counter()
                clf.fit(x[train], y[train])
                fit_s = time.perf_counter() - t
                acc = float((clf.predict(x[test]) == y[test]).mean())
                r = {
                    "split_seed": seed, "random_state": rs, "fit_s": round(fit_s, 4),
                    "test_accuracy": round(acc, 4), "train_rows": int(train.sum()),
                    "test_rows": int(test.sum()),
                }
                results.append(r)
                print(json.dumps(r), flush=True)
    fits = [r["fit_s"] for r in results]
    accs = [r["test_accuracy"] for r in results]
    print(json.dumps({
        "summary": "sklearn MLPClassifier(128)",
        "fit_s_min": min(fits), "fit_s_max": max(fits),
        "test_accuracy_mean": round(sum(accs) / len(accs), 4),
    }))


if __name__ == "__main__":
    main()
