#!/bin/bash
# Run `kiln_bench large` inside a cgroup-v1 memory group limited to LIMIT_MB (default 2048), so the kernel
# must keep the whole process — heap and the page cache of the files it maps — under that limit; the
# bench reports the group's limit, peak usage and how often it hit the limit.
#   crates/kiln_bench/large_in_cgroup.sh [kiln_bench large arguments…]
# e.g. crates/kiln_bench/large_in_cgroup.sh --size-mb 30720 --budget-mb 1024 --dir /data --skip train --drop-csv
# Needs root and /sys/fs/cgroup/memory (cgroup v1); the release binary must be built.
set -euo pipefail
limit_mb="${LIMIT_MB:-2048}"
group=/sys/fs/cgroup/memory/kiln-bench
target="${CARGO_TARGET_DIR:-target}/release"
mkdir -p "$group"
echo $((limit_mb * 1024 * 1024)) > "$group/memory.limit_in_bytes"
echo 0 > "$group/memory.max_usage_in_bytes"
echo $$ > "$group/cgroup.procs"
exec "$target/kiln_bench" --json large "$@"
