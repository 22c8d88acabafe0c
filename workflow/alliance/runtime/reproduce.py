"""`make reproduce`: re-run the workflow from a clean `results/` and compare with the previous run.

The previous `results/` is moved to `results.previous/`, the workflow runs again (Snakemake, same
configuration), and the new `results/manifest.json` is compared with the old one: every table, figure
and the report must be byte-identical. One line says whether they are; exit status 0 if so, 1 if not (the
previous results are then kept in `results.previous/` for inspection). When they are, what the re-run
does not rebuild (the simulation study, the checks' and the benchmarks' outputs, a site's bundle, the
pooled results) is moved back into `results/` before `results.previous/` goes: a reproduction had
deleted them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from alliance.runtime.manifest import compare_manifests, verdict

REPO_ROOT = Path(__file__).resolve().parents[3]
PREVIOUS = "results.previous"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directory", type=Path, default=Path.cwd(), help="the run's working directory")
    parser.add_argument("--snakefile", type=Path, default=REPO_ROOT / "Snakefile")
    parser.add_argument("--configfile", type=Path, default=None)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args(argv)
    results = args.directory / "results"
    manifest = results / "manifest.json"
    if not manifest.exists():
        print(f"No previous run to reproduce: {manifest} is missing. Run `make run` first.", file=sys.stderr)
        return 2
    previous = args.directory / PREVIOUS
    shutil.rmtree(previous, ignore_errors=True)
    results.rename(previous)
    results.mkdir()
    if (previous / "README.md").exists():
        shutil.copy2(previous / "README.md", results / "README.md")
    command = [str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(args.snakefile),
               "--directory", str(args.directory), "--cores", str(args.cores), "--quiet", "all"]
    if args.configfile is not None:  # last: --configfile takes every word after it
        command += ["--configfile", str(args.configfile)]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode != 0:
        print(run.stderr[-3000:], file=sys.stderr)
        print(f"NOT reproduced: the re-run failed (previous results kept in {PREVIOUS}/).")
        return 1
    ok, line = verdict(*_compare(previous / "manifest.json", manifest))
    if ok:
        restore_unbuilt(previous, results)
        shutil.rmtree(previous)
    else:
        line += f" Previous results kept in {PREVIOUS}/."
    print(line)
    return 0 if ok else 1


def restore_unbuilt(previous: Path, results: Path) -> list[Path]:
    """Move every file or folder under `previous` that `results` lacks into its place in `results` (a
    folder both have is merged the same way); return what was moved, relative to `previous`."""
    moved = []
    for entry in sorted(previous.iterdir()):
        target = results / entry.name
        if not target.exists():
            entry.rename(target)
            moved.append(entry.relative_to(previous))
        elif entry.is_dir() and target.is_dir():
            moved += [entry.name / path for path in restore_unbuilt(entry, target)]
    return moved


def _compare(previous: Path, current: Path) -> tuple[dict, dict]:
    old, new = json.loads(previous.read_text()), json.loads(current.read_text())
    return compare_manifests(old, new), new


if __name__ == "__main__":
    sys.exit(main())
