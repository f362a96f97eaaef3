#!/usr/bin/env bash
# Every figure of BENCHMARKS.md in one go: builds the release binaries, runs each benchmark and the
# peers' scripts, and writes one JSON file per command into OUT (default: bench-results/).
#   crates/kiln_bench/run_all.sh [OUT]
# The peers need Python 3 with scikit-learn, numpy, mlflow and cleanlab (pip install scikit-learn mlflow
# cleanlab), and Evidently 0.7.23 with pandas < 3 — in its own environment if need be, named by
# PY_EVIDENTLY (default python3; PY_PEERS likewise for the others).
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
bench compare compare
bench drift drift --write "$out/drift-frames"
bench serve serve --connections 32,1000
bench loadgen loadgen --rate 2000 --seconds 10 --connections 32
bench replay replay --requests 100000
bench shadow shadow --seconds 10 --rounds 3
if command -v wrk >/dev/null; then bench http-floor http-floor --seconds 10 --rounds 3; fi
for seed in 0 1 2; do
  bench "suspects-seed$seed" suspects --seed "$seed"
  bench "suspects-pruned-seed$seed" suspects --seed "$seed" --filter prune-by-noise-rate
  bench "suspects-neq-seed$seed" suspects --seed "$seed" --filter predicted-neq-given
done
# A dataset larger than memory (30 GB of CSV, ~45 GB of disk at the peak, ~40 minutes): only when asked.
if [ -n "${KILN_BENCH_LARGE:-}" ]; then
  bench large-30gb large --size-mb 30720 --budget-mb 1024 --dir "$KILN_BENCH_LARGE" --skip train --drop-csv
  bench large-train large --size-mb 10240 --budget-mb 1024 --dir "$KILN_BENCH_LARGE" --skip filter,sort,stats --drop-csv
fi
py="${PY_PEERS:-python3}"
echo "== scikit-learn on the same splits" >&2
"$py" crates/kiln_bench/peers/sklearn_mlp.py --kiln "$target/kiln" > "$out/sklearn.jsonl"
echo "== MLflow on the same number of points" >&2
"$py" crates/kiln_bench/peers/mlflow_log_batch.py --points 200000 --history 20000 > "$out/mlflow.json"
echo "== mlflow models serve under the same load" >&2
"$py" crates/kiln_bench/peers/mlflow_serve.py --bench "$target/kiln_bench" --connections 32 > "$out/mlflow-serve.json"
echo "== cleanlab and Kiln on the same flipped labels" >&2
for seed in 0 1 2; do
  "$py" crates/kiln_bench/peers/cleanlab_suspects.py --kiln "$target/kiln" --seed "$seed" > "$out/cleanlab-seed$seed.json"
done
"$py" crates/kiln_bench/peers/suspect_rule_study.py > "$out/suspect-rule-study.json"
echo "== Evidently on the same drift frames" >&2
"${PY_EVIDENTLY:-python3}" crates/kiln_bench/peers/evidently_drift.py "$out/drift-frames" > "$out/evidently.json"
echo "results in $out/" >&2
