"""Read a finished run's outputs, for notebooks and other analyses that start where the pipeline stopped.

    from alliance.runtime.results import load_results
    run = load_results("results")
    run.features.head(); run.effects; run.models["dropout"]["extra"]["logrank"]
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from alliance.errors import InputError


@dataclass
class Results:
    """The tables of one run (see results/README.md for what each holds)."""

    directory: Path
    features: pd.DataFrame
    sessions: pd.DataFrame
    session_scores: pd.DataFrame
    ruptures: pd.DataFrame
    effects: pd.DataFrame
    models: dict[str, dict]
    config: dict = field(default_factory=dict)

    @property
    def min_cell_size(self) -> int:
        """The run's minimum cell size (10 when the run has no manifest)."""
        return int(self.config.get("privacy", {}).get("min_cell_size", 10))

    @property
    def covariates(self) -> list[str]:
        """The run's model covariates."""
        return list(self.config.get("models", {}).get("covariates", ["baseline_severity", "discipline"]))


def results_directory(default: str | Path = "results") -> Path:
    """`ALLIANCE_RESULTS` if set, else `default`."""
    return Path(os.environ.get("ALLIANCE_RESULTS", default))


def load_results(directory: str | Path | None = None) -> Results:
    """The outputs of a finished run in `directory` (default: `results_directory()`)."""
    root = results_directory() if directory is None else Path(directory)
    needed = ["features/patients.parquet", "features/sessions.parquet", "scores/session_scores.parquet",
              "features/ruptures.parquet", "effects.csv"]
    missing = [name for name in needed if not (root / name).exists()]
    if missing:
        raise InputError(f"{root} has no finished run ({', '.join(missing)} missing): run `make run` first "
                         "or set ALLIANCE_RESULTS to a results folder")
    models = {path.parent.name: json.loads(path.read_text())
              for path in sorted((root / "models").glob("*/result.json"))}
    manifest = root / "manifest.json"
    config = json.loads(manifest.read_text())["config"] if manifest.exists() else {}
    return Results(
        directory=root,
        features=pd.read_parquet(root / "features/patients.parquet"),
        sessions=pd.read_parquet(root / "features/sessions.parquet"),
        session_scores=pd.read_parquet(root / "scores/session_scores.parquet"),
        ruptures=pd.read_parquet(root / "features/ruptures.parquet"),
        effects=pd.read_csv(root / "effects.csv"),
        models=models,
        config=config,
    )
