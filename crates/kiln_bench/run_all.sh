#!/usr/bin/env bash
# Every figure of BENCHMARKS.md in one go: builds the release binaries, runs each benchmark and the
# peers' scripts, and writes one JSON file per command into OUT (default: bench-results/).
#   crates/kiln_bench/run_all.sh [OUT]
# The peers need Python 3 with scikit-learn, numpy and mlflow (pip install scikit-learn mlflow).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${1:-bench-results}"
mkdir -p "$out"
cargo build --release -p kiln -p kiln_bench
target="${CARGO_TARGET_DIR:-target}/release"
bench() { local name="$1"; shift; echo "== $name: kiln_bench $*" >&2; "$target/kiln_bench" "$@" --json > "$out/$name.json"; }

bench import import --size-mb 1024 --repeat 2
bench table table
bench stats stats
bench label label --rows 100000
bench versions versions --diff-rows 1000000
bench metrics metrics
bench metrics-200k metrics --points 200000 --history 20000
for seed in 0 1 2; do
  bench "train-mlp-split$seed" train --seed "$seed"
  bench "train-cnn-split$seed" train --seed "$seed" --model cnn
done
for ts in 1 2; do
  bench "train-cnn-split0-seed$ts" train --seed 0 --train-seed "$ts" --model cnn
done
echo "== scikit-learn on the same splits" >&2
python3 crates/kiln_bench/peers/sklearn_mlp.py --kiln "$target/kiln" > "$out/sklearn.jsonl"
echo "== MLflow on the same number of points" >&2
python3 crates/kiln_bench/peers/mlflow_log_batch.py --points 200000 --history 20000 > "$out/mlflow.json"
echo "results in $out/" >&2
