#!/usr/bin/env python3
"""Python polars reading a PostgreSQL or MySQL/MariaDB query with connectorx, then writing it as Parquet,
for BENCHMARKS.md.

The peer of `kiln_bench db-import`: the same table (`bench_rows`, which `kiln_bench db-import --url URL
--rows N` creates), read with `polars.read_database_uri(query, uri, engine="connectorx")` and written with
`DataFrame.write_parquet` (LZ4, statistics, like Kiln's object). Prints one JSON document with the seconds of
each step and the process's peak resident memory.

    python3 crates/kiln_bench/peers/polars_connectorx.py --uri postgresql://USER:PW@127.0.0.1:5432/DB
    python3 crates/kiln_bench/peers/polars_connectorx.py --uri mysql://USER:PW@127.0.0.1:3306/DB

Needs `pip install polars connectorx pyarrow`.
"""

import argparse
import json
import os
import resource
import tempfile
import time

import connectorx
import polars as pl


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--uri", "--postgres", dest="uri", required=True,
                   help="postgresql://user:password@host:port/db or mysql://…")
    p.add_argument("--query", default="SELECT * FROM bench_rows")
    args = p.parse_args()
    t = time.perf_counter()
    df = pl.read_database_uri(args.query, args.uri, engine="connectorx")
    read_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "version.parquet")
        t = time.perf_counter()
        df.write_parquet(out, compression="lz4", statistics=True, row_group_size=64 * 1024)
        write_s = time.perf_counter() - t
        size = os.path.getsize(out)
    print(json.dumps({
        "peer": "polars read_database_uri (connectorx) + write_parquet",
        "polars": pl.__version__,
        "connectorx": connectorx.__version__,
        "rows": df.height,
        "read_s": round(read_s, 3),
        "write_s": round(write_s, 3),
        "total_s": round(read_s + write_s, 3),
        "parquet_bytes": size,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
