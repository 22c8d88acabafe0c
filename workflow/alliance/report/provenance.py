"""Provenance of a report: package versions, Python, git commit, seed and input hashes; embedded PNGs."""

from __future__ import annotations

import base64
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from alliance.i18n import N_, _

REPO_ROOT = Path(__file__).resolve().parents[3]


# What provenance records when a commit or a version cannot be read; shown in the report's language
# (`shown_provenance`).
UNKNOWN = N_("unknown")
NOT_INSTALLED = N_("not installed")

PACKAGES = ("snakemake", "pandas", "numpy", "scipy", "statsmodels", "lifelines", "pingouin", "semopy",
            "pandera", "matplotlib", "seaborn", "pyarrow", "jinja2", "alliance")


def git_commit(root: Path = REPO_ROOT) -> str:
    """`git rev-parse HEAD` of the repository, "unknown" when it cannot be read."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN
    return done.stdout.strip() or UNKNOWN


def package_version(name: str) -> str:
    """Installed version of a distribution, "not installed" when absent."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return NOT_INSTALLED


def provenance(config: dict, validation: dict) -> dict:
    """Versions, Python, git commit, seed and input hashes: everything needed to re-run the report."""
    return {
        "versions": {name: package_version(name) for name in PACKAGES},
        "python": platform.python_version(),
        "commit": git_commit(),
        "seed": config["synthetic"]["seed"],
        "inputs": {table: dict(info) for table, info in sorted(validation["inputs"].items())},
    }


def shown_provenance(info: dict) -> dict:
    """`provenance` for the report: an unknown commit and packages not installed in the active language."""
    return info | {
        "commit": _(UNKNOWN) if info["commit"] == UNKNOWN else info["commit"],
        "versions": {name: _(NOT_INSTALLED) if version == NOT_INSTALLED else version
                     for name, version in info["versions"].items()},
    }


def embed_png(path: str | Path) -> str:
    """A PNG file as a data URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")
