"""The run's manifest (`results/manifest.json`): every output with its SHA-256, the inputs' hashes, the
configuration and the software environment, and the comparison of two manifests (`make reproduce`).

Outputs are the files under `results/` except what is expected to differ between identical runs or is
not an output of the default target: logs and benchmark timings, the benchmark and simulation targets,
the network's bundles and pooled results (`make share`, `make pool`: made from the run, after it),
Snakemake's own report zip, an earlier run's outputs set aside by a failed run (`stale/`), READMEs, the
manifest itself, and the browser's renderings of the report (`report.pdf`, `report.png`), whose bytes
depend on the installed browser and fonts (the HTML they render is compared).
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path

from alliance.io import sha256_file

EXCLUDED_DIRS = ("logs", "benchmarks", "bench", "simulation", "reproduce", "stale", "share", "pooled")
EXCLUDED_FILES = ("manifest.json", "snakemake-report.zip", "README.md", "report.pdf", "report.png")
KINDS = {".csv": "table", ".parquet": "table", ".json": "table", ".txt": "table", ".png": "figure",
         ".svg": "figure", ".html": "report", ".md": "report"}


def output_files(results: Path) -> list[Path]:
    """The outputs the manifest lists, sorted by path."""
    files = []
    for path in sorted(results.rglob("*")):
        relative = path.relative_to(results)
        if (path.is_file() and relative.parts[0] not in EXCLUDED_DIRS
                and path.name not in EXCLUDED_FILES and not path.name.startswith(".")):
            files.append(path)
    return files


def environment() -> dict:
    """Python, platform and the version of every installed distribution."""
    packages = {}
    for dist in metadata.distributions():
        fields = dist.metadata  # read and parsed once: `dist.metadata` and `dist.version` parse the file anew
        if fields["Name"]:
            packages[fields["Name"].lower()] = fields["Version"]
    return {"python": platform.python_version(), "platform": platform.platform(),
            "packages": dict(sorted(packages.items()))}


def build_manifest(results: Path, inputs: dict[str, str], config: dict) -> dict:
    """The manifest of the outputs under `results` (see the module docstring for what is left out)."""
    outputs = {}
    for path in output_files(results):
        outputs[path.relative_to(results).as_posix()] = {
            "sha256": sha256_file(path), "bytes": path.stat().st_size,
            "kind": KINDS.get(path.suffix, "other")}
    return {
        "outputs": outputs,
        "inputs": {name: {"path": path, "sha256": sha256_file(path)}
                   for name, path in sorted(inputs.items())},
        "config": config,
        "environment": environment(),
    }


def compare_manifests(previous: dict, current: dict) -> dict:
    """Outputs identical, changed, missing from the current run and new in it; whether the inputs and
    the configuration match; environment differences (reported, not failures)."""
    old, new = previous["outputs"], current["outputs"]
    same = sorted(k for k in old.keys() & new.keys() if old[k]["sha256"] == new[k]["sha256"])
    changed = sorted(k for k in old.keys() & new.keys() if old[k]["sha256"] != new[k]["sha256"])
    old_env, new_env = previous["environment"]["packages"], current["environment"]["packages"]
    return {
        "identical": same, "changed": changed,
        "missing": sorted(old.keys() - new.keys()), "new": sorted(new.keys() - old.keys()),
        "inputs_match": {k: v["sha256"] for k, v in previous["inputs"].items()}
                        == {k: v["sha256"] for k, v in current["inputs"].items()},
        "config_match": previous["config"] == current["config"],
        "environment_changes": sorted(k for k in old_env.keys() | new_env.keys()
                                      if old_env.get(k) != new_env.get(k)),
    }


def verdict(comparison: dict, current: dict) -> tuple[bool, str]:
    """Whether the run reproduced the previous one, in one line."""
    n_old = len(comparison["identical"]) + len(comparison["changed"]) + len(comparison["missing"])
    problems = [f"{len(comparison[k])} {k}" for k in ("changed", "missing", "new") if comparison[k]]
    if not comparison["inputs_match"]:
        problems.append("inputs differ")
    if not comparison["config_match"]:
        problems.append("configuration differs")
    env = comparison["environment_changes"]
    note = f"; environment differs in {len(env)} packages" if env else ""
    if problems:
        listed = ", ".join((comparison["changed"] + comparison["missing"] + comparison["new"])[:5])
        return False, f"NOT reproduced ({n_old} outputs): {', '.join(problems)}{note}. {listed}".strip()
    kinds = [current["outputs"][k]["kind"] for k in comparison["identical"]]
    counts = ", ".join(f"{kinds.count(kind)} {kind}{'s' if kinds.count(kind) > 1 else ''}"
                       for kind in ("table", "figure", "report", "other") if kind in kinds)
    return True, (f"Reproduced: all {n_old} outputs byte-identical ({counts}); same inputs and "
                  f"configuration{note}.")
