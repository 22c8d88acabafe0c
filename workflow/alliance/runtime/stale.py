"""A failed run leaves no stale result: when a run stops early (invalid data, a crash), the final outputs it
did not rewrite are an earlier run's, so they are moved to `results/stale/` where they cannot be mistaken
for this run's. Called by the workflow's `onerror` handler; light imports (the Snakefile imports it).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from alliance.outputs import FIGURES

STALE = "stale"
README = "README.txt"
FIGURE_FILES = tuple(f"figures/{name}.{ext}" for name in FIGURES for ext in ("png", "svg"))
# The outputs a reader takes as the run's results, relative to results/; models/, early_warning/,
# psychometrics/ and feedback/ are folders, each written whole by one job (a stale clinic list of risks
# above all must go; a reviewer's failed run had left the models' results and summaries of the last run).
# The scores and features are the validated data's intermediates, rebuilt before any of these.
FOLDERS = ("models", "early_warning", "psychometrics", "feedback")
FINAL_OUTPUTS = ("effects.csv", "report.html", "report.pdf", "methods.md", "manifest.json", *FIGURE_FILES,
                 *FOLDERS)


def set_aside_stale_outputs(results: Path, started: float, logs: Sequence[str] = ()) -> str:
    """Move the final outputs under `results` last modified before `started` (so not written by the run
    that started then) to `results/stale/`, replacing older stale copies, with a README.txt naming the
    failed run (its start and Snakemake's `logs`); return the console message, or "" (nothing touched)
    when there was nothing to move."""
    moved = [name for name in FINAL_OUTPUTS
             if (results / name).exists() and _last_modified(results / name) < started]
    if not moved:
        return ""
    stale = results / STALE
    if stale.exists():
        shutil.rmtree(stale)
    for name in moved:
        (stale / name).parent.mkdir(parents=True, exist_ok=True)
        (results / name).rename(stale / name)
    (stale / README).write_text(_readme(moved, started, logs))
    return (f"This run stopped before it finished; the outputs of the previous run were moved to {stale}/ "
            f"so that they cannot be mistaken for this run's: {_describe(moved)}. Fix the problem reported "
            f"above and run the workflow again to rebuild them (see {stale / README}).")


def _last_modified(path: Path) -> float:
    """A file's modification time; a folder's is that of its newest file (or its own when empty)."""
    if path.is_file():
        return path.stat().st_mtime
    return max((p.stat().st_mtime for p in path.rglob("*") if p.is_file()), default=path.stat().st_mtime)


def _describe(moved: list[str]) -> str:
    figures = [name for name in moved if name in FIGURE_FILES]
    named = [name + ("/" if name in FOLDERS else "") for name in moved if name not in FIGURE_FILES]
    if figures:
        named.append(f"{len(figures)} figure files (figures/)")
    return ", ".join(named)


def _readme(moved: list[str], started: float, logs: Sequence[str]) -> str:
    run = f"the run started at {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(started))}"
    return (f"These files are the outputs of an earlier run of the workflow. They were moved here because\n"
            f"{run} stopped before it finished, so that they cannot\n"
            "be mistaken for that run's results: they do not reflect its data or configuration. A later\n"
            "run that stops early replaces this folder; a run that finishes rebuilds every output in\n"
            "results/.\n"
            + "".join(f"The failed run's Snakemake log: {log}\n" for log in logs)
            + "\nMoved (paths relative to results/):\n" + "".join(f"  {name}\n" for name in moved))
