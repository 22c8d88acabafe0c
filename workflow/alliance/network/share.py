"""`make share`: this site's bundle of aggregates from a finished run, results/share/<site>.zip, and beside
it the plain-words list of what leaves the site (`alliance.network.bundle`).

    python -m alliance.network.share [--results results] [--site clinic_a]
    python -m alliance.network.share --check-site [--config my.yaml] [--site clinic_a]

`--check-site` checks the site's label before the run (`make share` runs it first): from `--site`, or
`network.site` of config.yaml with `--config` merged over it as Snakemake merges `--configfile`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from alliance.errors import USER_ERRORS
from alliance.network.aggregates import AGGREGATES, SENT, WITHHELD_REASONS
from alliance.network.bundle import SUMMARY, build_bundle, check_site, remember_sent, write_bundle

ROOT_CONFIG = Path("config.yaml")


def configured_site(config: Path | None, root_config: Path = ROOT_CONFIG) -> str:
    """`network.site` of `root_config` with `config` merged over it (a mapping replaces key by key, as
    Snakemake merges --configfile; anything else replaces the whole value)."""
    def merged(base: dict, over: dict) -> dict:
        return base | {key: merged(base[key], value) if isinstance(value, dict) and isinstance(
            base.get(key), dict) else value for key, value in over.items()}

    settings = (yaml.safe_load(root_config.read_text()) or {}) if root_config.exists() else {}
    if config is not None:
        settings = merged(settings, yaml.safe_load(config.read_text()) or {})
    return str((settings.get("network") or {}).get("site") or "")


def main(argv: list[str] | None = None) -> int:
    """Build and write the bundle; a problem the user must fix is one message and exit status 1."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results"), help="the finished run's results/")
    parser.add_argument("--plan", type=Path, default=Path("ANALYSIS_PLAN.md"), help="the analysis plan")
    parser.add_argument("--site", default="", help="the site's label (default: the run's network.site)")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: <results>/share)")
    parser.add_argument("--one-stage", action="store_true",
                        help="send the one-stage sums (aggregates.json) whatever network.one_stage says")
    parser.add_argument("--check-site", action="store_true",
                        help="only check the site's label, before the run")
    parser.add_argument("--config", type=Path, default=None, help="with --check-site: the run's config file")
    args = parser.parse_args(argv)
    if args.check_site:  # before the run: a missing label costs a whole run to find otherwise
        try:
            check_site(args.site or configured_site(args.config))
        except USER_ERRORS as error:
            print(f"\n{error}\n", file=sys.stderr)
            return 1
        return 0
    try:
        site, files = build_bundle(args.results, args.plan, args.site or None, one_stage=args.one_stage)
        remember_sent(args.results, files)
        path = write_bundle(site, files, args.out or args.results / "share")
    except USER_ERRORS as error:
        print(f"\n{error}\n", file=sys.stderr)
        return 1
    summary = path.parent / f"{site}_{SUMMARY}"
    print(f"Bundle: {path} (aggregates only; what leaves the site, in words: {summary})")
    for line in one_stage_lines(json.loads(files[AGGREGATES])):
        print(line)
    return 0


def one_stage_lines(aggregates: dict) -> list[str]:
    """What became of each primary model's one-stage sums where the site sends them: withheld with the
    reason, or sent with a small category counted with the largest (`WITHHELD_REASONS`,
    `alliance.network.aggregates.collapsed_design`); nothing where they are off."""
    lines = []
    for outcome, entry in aggregates.items():
        said = f"One-stage sums of the {outcome} model:"
        if entry["status"] == SENT and entry["merged"]:
            lines.append(f"{said} sent, a category of fewer than 10 patients (or the minimum cell size) of "
                         f"{', '.join(entry['merged'])} counted with the largest.")
        elif entry["status"] != SENT and entry["reason"] != "not_enabled":
            lines.append(f"{said} not sent, {WITHHELD_REASONS[entry['reason']]}.")
    return lines


if __name__ == "__main__":
    sys.exit(main())
