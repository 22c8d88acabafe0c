"""Running the whole workflow from tests: in a temporary folder, on a small cohort, with light settings."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from alliance.ingest.validation import run_validation
from alliance.instruments import load_configured
from alliance.io import write_parquet
from alliance.simulation.synthetic import synthesize

SNAKEMAKE = Path(sys.executable).parent / "snakemake"
TABLES = ("patients", "sessions", "outcomes")


# Fewer bootstrap draws and imputations than the defaults: the tests check the plumbing and the values
# of the primary models, not the precision of these CIs; H4c's RI-CLPM over sessions 1-3 (0.8 s on 600
# patients, against 3.8 s over the 6 of `auto`); no PDF. The default run keeps `auto` and prints the PDF
# (a test may override any block).
LIGHT = {"psychometrics": {"bootstrap": 20}, "sensitivity": {"bootstrap": 30, "imputations": 3},
         "dimensions": {"bootstrap": 20}, "early_warning": {"bootstrap": 20}, "models": {"riclpm_waves": 3},
         "report": {"pdf": False}}


def workflow_command(root: Path, work: Path, *extra: str) -> list[str]:
    """Snakemake on the workflow in `work` with its test_config.yaml (targets and flags first:
    --configfile takes every word after it)."""
    return [str(SNAKEMAKE), *extra, "--snakefile", str(root / "Snakefile"), "--directory", str(work),
            "--cores", "2", "--configfile", str(work / "test_config.yaml")]


def write_config(work: Path, config: dict) -> None:
    """`work`/test_config.yaml: the light settings, then `config` (block by block)."""
    (work / "test_config.yaml").write_text(yaml.safe_dump(LIGHT | config))


def run_workflow(root: Path, work: Path, config: dict, *extra: str) -> subprocess.CompletedProcess:
    write_config(work, config)
    return subprocess.run(workflow_command(root, work, *extra), capture_output=True, text=True, timeout=900)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


COMPARED = (".csv", ".parquet", ".json", ".html", ".png", ".svg")  # tables, figures, report, manifest


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every compared file under `folder` (logs and benchmark timings are not compared)."""
    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix in COMPARED and not p.name.startswith(".")}


def assert_recovers_truth(effects: pd.DataFrame, truth: dict) -> None:
    primary = effects[effects["analysis"] == "primary"].set_index("outcome")
    assert list(primary.index) == ["attendance", "dropout", "satisfaction"]
    assert list(primary["predictor"]) == ["alliance_early", "alliance_early", "alliance_mean"]
    numbers = primary.select_dtypes("number").to_numpy(dtype=float)
    assert np.isfinite(numbers).all()
    for true in truth["effects"]:
        if true["outcome"] not in primary.index:  # the truth also holds secondary (symptom) estimands
            continue
        row = primary.loc[true["outcome"]]
        assert row["scale"] == true["scale"]
        assert abs(row["estimate"] - true["estimand"]) < 3 * row["std_error"], (true, row.to_dict())


SMALL = {"synthetic": {"n_patients": 600, "n_therapists": 40, "truth_multiplier": 10, "seed": 5}}
# The shared default run: the small cohort, H4c over the sessions `auto` takes, and the one run that
# prints the PDF.
DEFAULT_RUN = SMALL | {"models": {"riclpm_waves": "auto"}, "report": {"pdf": True}}


def validated_as_csv(default_config: dict, tables: tuple, folder: Path) -> dict[str, pd.DataFrame]:
    """The three `tables` written as plain CSV files in `folder` and validated in this process (the default
    reading settings, instruments and privacy block), each read back from Parquet as the jobs read it: what
    the workflow's validation of the same data in any other form must equal, table for table."""
    folder.mkdir()
    data = default_config["data"] | {name: str(folder / f"{name}.csv") for name in TABLES}
    for name, table in zip(TABLES, tables, strict=True):
        table.to_csv(data[name], index=False)
    outcome = run_validation(data, default_config["privacy"], load_configured(default_config["instruments"]))
    assert outcome.passed, outcome.problems
    for name in TABLES:
        write_parquet(getattr(outcome.validated, name), folder / f"{name}.parquet")
    return {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}


def assert_validated_equal(work: Path, expected: dict[str, pd.DataFrame]) -> None:
    """The workflow's validated tables in `work` equal `expected` (`validated_as_csv`), value for value and
    type for type: every later job reads only these tables, so the run from here on is the plain one."""
    for name, table in expected.items():
        pd.testing.assert_frame_equal(pd.read_parquet(work / f"results/validated/{name}.parquet"), table,
                                      check_exact=True, obj=name)


def synthetic_tables(default_config, **changes) -> tuple:
    cfg = default_config["synthetic"] | {"n_patients": 300, "n_therapists": 24, "truth_multiplier": 1}
    return synthesize(cfg | changes, 3, ["baseline_severity", "discipline"])[:3]
