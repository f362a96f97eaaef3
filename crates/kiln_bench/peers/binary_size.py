#!/usr/bin/env python3
"""Where a binary's size goes: its ELF sections (`size -A`), and its code by crate from the symbol table
(`nm -S --size-sort -C`). A generic function instantiated for a type of another crate (a `drop_in_place`
of a polars type, a rayon closure running polars code) is counted for the first non-standard crate in
its type arguments, so `core`, `alloc`, `std`, `rayon` and `hashbrown` keep only what they do for
themselves. Needs binutils; run it on a binary that still has its symbols (before `strip`).

    python3 crates/kiln_bench/peers/binary_size.py target/release/kiln
"""
import collections
import re
import subprocess
import sys

GENERIC_HOSTS = {"core", "alloc", "std", "rayon", "rayon_core", "hashbrown", "(other)"}


def crate_of(name: str) -> str:
    name = name.lstrip("<&*")
    name = re.sub(r"^(impl |dyn |mut |const )+", "", name)
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)::", name)
    top = m.group(1) if m else "(other)"
    if top in GENERIC_HOSTS and "<" in name:
        for inner in re.findall(r"(?<![\w:])([A-Za-z_][A-Za-z0-9_]*)::", name[name.index("<"):]):
            if inner not in GENERIC_HOSTS:
                return inner
    return top


def main(path: str) -> None:
    sections = subprocess.run(["size", "-A", path], capture_output=True, text=True, check=True).stdout
    import os
    print(f"file {os.path.getsize(path) / 1e6:.1f} MB; sections:")
    for line in sections.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in (".text", ".eh_frame", ".gcc_except_table", ".rodata", ".rela.dyn", ".data.rel.ro"):
            print(f"{parts[0]:<20} {int(parts[1]) / 1e6:8.1f} MB")
    out = subprocess.run(["nm", "-S", "--size-sort", "-C", path], capture_output=True, text=True, check=True).stdout
    by = collections.Counter()
    total = 0
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4 or parts[2] not in "tTwW":
            continue
        size = int(parts[1], 16)
        by[crate_of(parts[3])] += size
        total += size
    print(f"code in symbols: {total / 1e6:.1f} MB")
    groups = collections.Counter()
    for crate, size in by.items():
        key = crate.split("_")[0] if crate.startswith(("polars", "cubecl", "cubek", "burn", "wgpu", "egui", "epaint")) else crate
        groups[key] += size
    for crate, size in groups.most_common(20):
        print(f"{size / 1e6:8.1f} MB  {crate}{'*' if crate in ('polars', 'cubecl', 'cubek', 'burn', 'wgpu', 'egui', 'epaint') else ''}")
    print("(* all crates of that family together)")


if __name__ == "__main__":
    main(sys.argv[1])
