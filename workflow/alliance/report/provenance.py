"""Provenance of a report: package versions, Python, git commit, seed and input hashes; embedded PNGs."""

from __future__ import annotations

import base64
import platform
import subprocess
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]


PACKAGES = ("snakemake", "pandas", "numpy", "scipy", "statsmodels", "lifelines", "pingouin", "semopy",
            "pandera", "matplotlib", "seaborn", "pyarrow", "jinja2", "alliance")


def git_commit(root: Path = REPO_ROOT) -> str:
    """`git rev-parse HEAD` of the repository, "unknown" when it cannot be read."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip() or "unknown"


def package_version(name: str) -> str:
    """Installed version of a distribution, "not installed" when absent."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance(config: dict, validation: dict) -> dict:
    """Versions, Python, git commit, seed and input hashes: everything needed to re-run the report."""
    return {
        "versions": {name: package_version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "commit": git_commit(),
        "seed": config["synthetic"]["seed"],
        "inputs": {table: dict(info) for table, info in sorted(validation["inputs"].items())},
    }


def embed_png(path: str | Path) -> str:
    """A PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
