"""Benchmark: the whole workflow on synthetic cohorts of growing size, timed per rule and end to end.

Run with `make bench`; writes `results/bench/bench.csv` (one row per rule and cohort size: wall seconds
and peak memory from Snakemake's `benchmark:` files, plus an `end_to_end` row) and `bench.md`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

from alliance.io import write_csv, write_text


def collect(benchmark_dir: Path) -> pd.DataFrame:
    """Per-rule wall time (s) and peak resident memory (MB) from Snakemake benchmark files."""
    rows = []
    for path in sorted(benchmark_dir.glob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        rows.append({"rule": path.stem, "seconds": float(table["s"].iloc[0]),
                     "max_rss_mb": float(table["max_rss"].iloc[0])})
    return pd.DataFrame(rows, columns=["rule", "seconds", "max_rss_mb"])


def run(root: Path, out: Path, sizes: list[int], cores: int) -> pd.DataFrame:
    """Run the workflow from scratch in a scratch folder for each cohort size."""
    snakemake = Path(sys.executable).parent / "snakemake"
    frames = []
    for n in sizes:
        work = out / f"n{n}"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        config = {"synthetic": {"n_patients": n, "n_therapists": max(8, n // 12)}}
        (work / "config.yaml").write_text(yaml.safe_dump(config))
        start = time.perf_counter()
        subprocess.run([str(snakemake), "--quiet", "--snakefile", str(root / "Snakefile"),
                        "--directory", str(work), "--cores", str(cores),
                        "--configfile", str(work / "config.yaml")], check=True)
        wall = time.perf_counter() - start
        sessions = len(pd.read_parquet(work / "results/validated/sessions.parquet", columns=["session"]))
        table = collect(work / "results/benchmarks")
        table.loc[len(table)] = {"rule": "end_to_end", "seconds": wall, "max_rss_mb": float("nan")}
        frames.append(table.assign(n_patients=n, n_sessions=sessions))
    return pd.concat(frames, ignore_index=True)[
        ["n_patients", "n_sessions", "rule", "seconds", "max_rss_mb"]]


def main() -> None:
    """Command-line entry point (`python -m alliance.bench`)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[400, 4000])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("results/bench"))
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[2]
    table = run(root, args.out.resolve(), args.sizes, args.cores)
    write_csv(table.round(3), args.out / "bench.csv")
    write_text("# Benchmark\n\n" + table.round(2).to_markdown(index=False) + "\n", args.out / "bench.md")
    print(table.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
