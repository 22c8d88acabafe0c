"""The fingerprint of the package's code, so that a run redoes the jobs whose code changed.

Snakemake re-runs a job when its script, inputs or parameters change, but not when a module the script
imports does: after `git pull`, `make run` would keep results that the new code would not give, or
crash on an output the new code reads differently. Each job of the main run takes `code_fingerprint()`
as a parameter (workflow/rules/common.smk), which changes with any source file of the `alliance`
package, its templates or its message catalogues.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
SOURCES = (".py", ".yaml", ".po", ".html")  # code, instrument definitions, catalogues, report templates


def code_fingerprint(package: Path = PACKAGE) -> str:
    """SHA-256 over the package's source files, each by its path within `package` and its bytes, in
    sorted order (compiled files and documentation left out)."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in SOURCES and path.is_file() and "__pycache__" not in path.parts:
            digest.update(f"{path.relative_to(package).as_posix()}\n{path.stat().st_size}\n".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()
