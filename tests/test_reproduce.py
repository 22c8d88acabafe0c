"""The run manifest and `make reproduce` on a whole workflow run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from workflow_runs import (
    digest,
)

pytestmark = pytest.mark.slow


def test_manifest_and_reproduce(root, default_run):
    manifest = json.loads((default_run / "results/manifest.json").read_text())
    outputs = manifest["outputs"]
    expected = {"effects.csv", "report.html", "figures/forest_plot.png", "models/multiplicity.csv"}
    assert expected <= set(outputs)
    assert not any(path.startswith(("logs/", "benchmarks/")) for path in outputs)
    assert outputs["effects.csv"]["sha256"] == digest(default_run / "results/effects.csv")
    assert set(manifest["inputs"]) == {"patients", "sessions", "outcomes", "truth"}
    assert manifest["config"]["synthetic"]["seed"] == 5
    assert manifest["environment"]["packages"]["statsmodels"]
    done = subprocess.run(
        [sys.executable, "-m", "alliance.reproduce", "--directory", str(default_run), "--snakefile",
         str(root / "Snakefile"), "--cores", "2", "--configfile", str(default_run / "test_config.yaml")],
        capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    (line,) = done.stdout.splitlines()
    assert line.startswith(f"Reproduced: all {len(outputs)} outputs byte-identical (")
    assert not (default_run / "results.previous").exists()
