#!/usr/bin/env python3
"""Why the confident-learning rule cannot reach 0.90 recall of 5% flipped digits, whatever the model.

    python3 crates/kiln_bench/peers/suspect_rule_study.py        (needs numpy scikit-learn)

Same flips as cleanlab_suspects.py (numpy RNG, seeds 0/1/2). For each model, 5-fold out-of-sample
probabilities (`cross_val_predict`), then, cut at the number of flips:
- `rule`: the off-diagonal rule of the labeling spec (another class clears its threshold — the mean
  probability of that class over the rows labelled with it — with more probability than the given label),
  ranked by the given label's probability; how many rows it lists and the recall of its top rows;
- `all_ranked`: every row ranked by the given label's probability.
Prints one JSON line per seed and model.
"""

import csv
import json
import os
import warnings

import numpy as np
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neural_network import MLPClassifier
from sklearn.svm import SVC

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
warnings.filterwarnings("ignore")


def rule(p, y, n, flipped):
    k = p.shape[1]
    t = np.array([p[y == c, c].mean() for c in range(k)])
    sus = []
    for i, g in enumerate(y):
        if any(c != g and p[i, c] >= t[c] and p[i, c] > p[i, g] for c in range(k)):
            sus.append((p[i, g], i))
    sus.sort()
    top = [i for _, i in sus][:n]
    return len(sus), len(set(top) & flipped) / n


def all_ranked(p, y, n, flipped):
    top = np.argsort(p[np.arange(len(y)), y], kind="stable")[:n]
    return len(set(top.tolist()) & flipped) / n


def main():
    with open(os.path.join(ROOT, "assets", "demo", "digits.csv"), newline="") as f:
        rows = [[int(float(v)) for v in r] for r in csv.reader(f) if r]
    x = np.array([r[:64] for r in rows], dtype=float) / 16.0
    y_true = np.array([r[64] for r in rows])
    models = {
        "mlp128": lambda s: MLPClassifier(hidden_layer_sizes=(128,), random_state=s, max_iter=200),
        "mlp128_l2_0.1": lambda s: MLPClassifier(hidden_layer_sizes=(128,), alpha=0.1, random_state=s, max_iter=300),
        "mlp128_l2_1": lambda s: MLPClassifier(hidden_layer_sizes=(128,), alpha=1.0, random_state=s, max_iter=300),
        "mlp128_early_stopping": lambda s: MLPClassifier(hidden_layer_sizes=(128,), early_stopping=True,
                                                         random_state=s, max_iter=300),
        "svc_rbf": lambda s: SVC(probability=True, random_state=s),
    }
    for seed in (0, 1, 2):
        rng = np.random.default_rng(seed)
        n = round(len(rows) * 0.05)
        flipped = rng.choice(len(rows), size=n, replace=False)
        y = y_true.copy()
        for i in flipped:
            y[i] = rng.choice([c for c in range(10) if c != y_true[i]])
        flips = set(int(i) for i in flipped)
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        probs = {name: cross_val_predict(m(seed), x, y, cv=folds, method="predict_proba") for name, m in models.items()}
        # Ensembles: the MLP with 2, 3 and 5 training seeds per fold, probabilities averaged.
        members = [probs["mlp128"]] + [
            cross_val_predict(MLPClassifier(hidden_layer_sizes=(128,), random_state=seed * 10 + j, max_iter=200),
                              x, y, cv=folds, method="predict_proba") for j in range(1, 5)]
        for m in (2, 3, 5):
            probs[f"mlp128_ensemble_{m}"] = np.mean(members[:m], axis=0)
        for name, p in probs.items():
            listed, recall = rule(p, y, n, flips)
            print(json.dumps({"seed": seed, "model": name, "rule_listed": listed, "rule_recall": recall,
                              "all_ranked_recall": all_ranked(p, y, n, flips), "flips": n}), flush=True)


if __name__ == "__main__":
    main()
