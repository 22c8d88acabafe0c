"""`make pool BUNDLES="a.zip b.zip ..."`: pool the sites' bundles (`alliance.network.pooling`) into
results/pooled/: effects.csv (one row per effect), sites.csv (each site's row behind it), benchmarks.csv,
one_stage.csv (the primary effects' analysis of all sites' patients together, from the aggregates the
sites sent: `alliance.network.aggregates`) and report.html. Incompatible bundles are refused with the
reason and nothing is written; the outputs are written to a temporary folder and moved into place whole.

    python -m alliance.network.pool a.zip b.zip ... [--out results/pooled] [--language es]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from alliance.errors import USER_ERRORS
from alliance.i18n import LANGUAGES, SOURCE_LANGUAGE, use_language
from alliance.io import write_csv, write_text
from alliance.network.bundle import read_bundle
from alliance.network.pooling import one_stage_table, pool_benchmarks, pool_bundles
from alliance.network.report import pooled_report, unpooled_primaries


def pool(paths: list[Path], out: Path, language: str = SOURCE_LANGUAGE) -> str:
    """Pool the bundles at `paths` into `out` (replaced whole), the report in `language`; a one-line
    summary."""
    bundles = [read_bundle(path) for path in paths]
    pooled, sites = pool_bundles(bundles)
    benchmarks, benchmark_sites = pool_benchmarks(bundles)
    one_stage = one_stage_table(bundles)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # a folder like any other (mkdtemp's is private)
    try:
        write_csv(pooled, staging / "effects.csv")
        write_csv(sites, staging / "sites.csv")
        write_csv(benchmarks, staging / "benchmarks.csv")
        write_csv(one_stage, staging / "one_stage.csv")
        with use_language(language):
            page = pooled_report(bundles, pooled, sites, benchmarks, benchmark_sites, one_stage)
        write_text(page, staging / "report.html")
        previous = out.with_name(f".{out.name}.previous")
        if out.exists():
            out.rename(previous)
        staging.rename(out)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    primary = pooled[pooled["analysis"] == "primary"]
    nowhere = ", ".join(unpooled_primaries(bundles, pooled))
    return (f"Pooled {len(bundles)} bundle{'s' if len(bundles) != 1 else ''}: {len(pooled)} effects "
            f"({len(primary)} primary{'; estimated at no site: ' + nowhere if nowhere else ''}) in "
            f"{out}/effects.csv; report {out}/report.html")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundles", nargs="*", type=Path, help="the sites' bundles (results/share/<site>.zip)")
    parser.add_argument("--out", type=Path, default=Path("results/pooled"))
    parser.add_argument("--language", choices=LANGUAGES, default=SOURCE_LANGUAGE,
                        help="the pooled report's language (the tables keep English names)")
    args = parser.parse_args(argv)
    try:
        if not args.bundles:
            print("\nNo bundles given: make pool BUNDLES=\"a.zip b.zip ...\"\n", file=sys.stderr)
            return 1
        print(pool(args.bundles, args.out, args.language))
    except USER_ERRORS as error:
        print(f"\n{error}\n", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
