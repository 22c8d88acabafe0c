"""`make share`: this site's bundle of aggregates from a finished run, results/share/<site>.zip, and beside
it the plain-words list of what leaves the site (`alliance.network.bundle`).

    python -m alliance.network.share [--results results] [--site clinic_a]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alliance.errors import USER_ERRORS
from alliance.network.bundle import SUMMARY, build_bundle, write_bundle


def main(argv: list[str] | None = None) -> int:
    """Build and write the bundle; a problem the user must fix is one message and exit status 1."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results"), help="the finished run's results/")
    parser.add_argument("--plan", type=Path, default=Path("ANALYSIS_PLAN.md"), help="the analysis plan")
    parser.add_argument("--site", default="", help="the site's label (default: the run's network.site)")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: <results>/share)")
    args = parser.parse_args(argv)
    try:
        site, files = build_bundle(args.results, args.plan, args.site or None)
        path = write_bundle(site, files, args.out or args.results / "share")
    except USER_ERRORS as error:
        print(f"\n{error}\n", file=sys.stderr)
        return 1
    summary = path.parent / f"{site}_{SUMMARY}"
    print(f"Bundle: {path} (aggregates only; what leaves the site, in words: {summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
