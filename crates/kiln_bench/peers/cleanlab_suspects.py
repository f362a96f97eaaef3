#!/usr/bin/env python3
"""Suspect labels on digits with 5% of the labels flipped: Kiln's `labels suspects` against cleanlab's
`find_label_issues` on exactly the same flips, for BENCHMARKS.md.

    python3 crates/kiln_bench/peers/cleanlab_suspects.py --kiln target/release/kiln [--seed 0]

It imports assets/demo/digits.csv into a scratch workspace, flips 5% of the labels at random (seeded;
each flipped row gets a different digit drawn uniformly) and commits the flips as a version with `kiln
label`. Kiln: `kiln labels suspects digits@2 --column column_65 --folds 5` (default MLP), with its default
filter and with `--filter prune-by-noise-rate` and `--filter predicted-neq-given`. cleanlab: 5-fold
stratified out-of-sample probabilities from scikit-learn's MLPClassifier(hidden_layer_sizes=(128,)) on
pixels / 16 (`cross_val_predict`), then `cleanlab.filter.find_label_issues(..., return_indices_ranked_by=
"self_confidence")` — its default filter, `prune_by_noise_rate` — and with `filter_by="confident_learning"`, the
rule Kiln follows, and with `filter_by="predicted_neq_given"`. Every list is cut at the number of flips; precision = flipped rows among them /
their length, recall = flipped rows among them / flips. Prints one JSON line.
"""

import argparse
import csv
import json
import os
import subprocess
import tempfile
import time

import numpy as np
from cleanlab.filter import find_label_issues
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neural_network import MLPClassifier

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def kiln(binary, ws, *args):
    out = subprocess.run([binary, "--workspace", ws, *args, "--json"], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def score(ranked, flipped, n):
    top = list(ranked)[:n]
    hits = len(set(top) & flipped)
    return {"returned": len(top), "hits": hits, "precision": hits / max(1, len(top)), "recall": hits / n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rate", type=float, default=0.05)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = os.path.join(tmp, "ws")
        src = os.path.join(ROOT, "assets", "demo", "digits.csv")
        kiln(args.kiln, ws, "import", src, "--name", "digits", "--no-header")
        with open(src, newline="") as f:
            rows = [[int(float(v)) for v in r] for r in csv.reader(f) if r]
        x = np.array([r[:64] for r in rows], dtype=float) / 16.0
        y_true = np.array([r[64] for r in rows])
        # Row ids are positions in an imported version.
        rng = np.random.default_rng(args.seed)
        n = round(len(rows) * args.rate)
        flipped = rng.choice(len(rows), size=n, replace=False)
        y = y_true.copy()
        for i in flipped:
            y[i] = rng.choice([c for c in range(10) if c != y_true[i]])
        sets = []
        for i in flipped:
            sets += ["--set", f"{i}={y[i]}"]
        kiln(args.kiln, ws, "label", "digits", "--column", "column_65", *sets, "-m", "flip 5% of the labels")
        t = time.perf_counter()
        report = kiln(args.kiln, ws, "labels", "suspects", "digits@2", "--column", "column_65", "--folds", "5",
                      "--seed", str(args.seed))
        kiln_wall = time.perf_counter() - t
        flips = set(int(i) for i in flipped)
        kiln_ranked = [s["row_id"] for s in report["suspects"]]
        pruned = kiln(args.kiln, ws, "labels", "suspects", "digits@2", "--column", "column_65", "--folds", "5",
                      "--seed", str(args.seed), "--filter", "prune-by-noise-rate")
        pruned_ranked = [s["row_id"] for s in pruned["suspects"]]
        disagree = kiln(args.kiln, ws, "labels", "suspects", "digits@2", "--column", "column_65", "--folds", "5",
                        "--seed", str(args.seed), "--filter", "predicted-neq-given")
        disagree_ranked = [s["row_id"] for s in disagree["suspects"]]

        t = time.perf_counter()
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=args.seed)
        probs = cross_val_predict(MLPClassifier(hidden_layer_sizes=(128,), random_state=args.seed, max_iter=200),
                                  x, y, cv=folds, method="predict_proba")
        ranked = find_label_issues(labels=y, pred_probs=probs, return_indices_ranked_by="self_confidence")
        cleanlab_s = time.perf_counter() - t
        # The rule Kiln follows (off-diagonal of the confident joint) is cleanlab's `confident_learning`
        # filter; its default `prune_by_noise_rate` also takes rows no other class clears.
        same_rule = find_label_issues(labels=y, pred_probs=probs, filter_by="confident_learning",
                                      return_indices_ranked_by="self_confidence")
        neq = find_label_issues(labels=y, pred_probs=probs, filter_by="predicted_neq_given",
                                return_indices_ranked_by="self_confidence")
        print(json.dumps({
            "rows": len(rows),
            "flips": n,
            "seed": args.seed,
            "kiln": {**score(kiln_ranked, flips, n), "suspects": len(kiln_ranked), "seconds": report["seconds"],
                     "wall_s": kiln_wall, "estimated_errors": report["estimated_errors"]},
            "kiln_prune_by_noise_rate": {**score(pruned_ranked, flips, n), "suspects": len(pruned_ranked),
                                         "seconds": pruned["seconds"]},
            "kiln_predicted_neq_given": {**score(disagree_ranked, flips, n), "suspects": len(disagree_ranked),
                                         "seconds": disagree["seconds"]},
            "cleanlab": {**score(ranked, flips, n), "suspects": len(ranked), "seconds": cleanlab_s},
            "cleanlab_confident_learning": {**score(same_rule, flips, n), "suspects": len(same_rule)},
            "cleanlab_predicted_neq_given": {**score(neq, flips, n), "suspects": len(neq)},
        }))


if __name__ == "__main__":
    main()
