"""The workflow on another cohort in other formats, and on bad inputs and configs (other instruments:
test_workflow_instruments.py)."""

from __future__ import annotations

import os
import time

import pytest
import yaml
from workflow_runs import (
    TABLES,
    assert_validated_equal,
    run_workflow,
    validated_as_csv,
)

from alliance.simulation.synthetic import synthesize

pytestmark = pytest.mark.slow


def test_another_cohort_in_other_formats(root, default_config, tmp_path):
    """Parquet, tab-separated and Excel files, yes/no attendance and a column outside the contract: the
    validated tables equal those of the same cohort given as plain CSV files, value for value (every job
    after the validation reads only those; the plain cohort's whole run is test_workflow.py's)."""
    cfg = default_config["synthetic"] | {"n_patients": 500, "n_therapists": 36, "seed": 99,
                                         "truth_multiplier": 1}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, ["baseline_severity", "discipline"])
    expected = validated_as_csv(default_config, (patients, sessions, outcomes), tmp_path / "plain")
    data = tmp_path / "clinic_export"
    data.mkdir()
    sessions = sessions.assign(attended=sessions["attended"].map({1: "yes", 0: "no"}),
                               room="A")  # "room": outside the contract, ignored
    patients.to_parquet(data / "patients.parquet", index=False)
    sessions.to_csv(data / "sessions.tsv", sep="\t", index=False)
    outcomes.to_excel(data / "outcomes.xlsx", index=False)
    config = {"data": {"patients": str(data / "patients.parquet"),
                       "sessions": str(data / "sessions.tsv"),
                       "outcomes": str(data / "outcomes.xlsx")}}
    work = tmp_path / "work"
    work.mkdir()
    done = run_workflow(root, work, config, "results/validated/validation_summary.json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (work / "data/synthetic").exists()  # nothing synthesised for a user's data
    assert_validated_equal(work, expected)
    summary = yaml.safe_load((work / "results/validated/validation_summary.json").read_text())
    assert summary["tables"]["sessions"]["ignored_columns"] == ["room"]


def test_bad_input_stops_with_a_clear_message_and_writes_nothing(root, default_config, tmp_path):
    cfg = default_config["synthetic"] | {"n_patients": 60, "n_therapists": 6, "truth_multiplier": 1}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, ["baseline_severity"])
    sessions = sessions.astype({"wai_sr_05": "float"})
    sessions.loc[4, "wai_sr_05"] = 7
    patients["contact_email"] = "someone@example.org"
    for name, table in zip(TABLES, (patients, sessions, outcomes), strict=True):
        table.to_csv(tmp_path / f"{name}.csv", index=False)
    config = {"data": {name: str(tmp_path / f"{name}.csv") for name in TABLES}}
    work = tmp_path / "work"
    previous = {"effects.csv": "outcome,estimate\nattendance,0.3\n", "report.html": "<html>earlier</html>"}
    for name, text in previous.items():  # an earlier successful run's outputs, a day old
        (work / "results" / name).parent.mkdir(parents=True, exist_ok=True)
        (work / "results" / name).write_text(text)
        os.utime(work / "results" / name, (time.time() - 86400,) * 2)
    done = run_workflow(root, work, config)
    assert done.returncode != 0
    message = done.stderr
    assert "Input validation failed" in message
    assert "sessions.csv" in message and "wai_sr_05" in message
    assert f"rows 5 (patient_id {sessions.loc[4, 'patient_id']})" in message
    assert "contact_email" in message and "e-mail" in message
    assert "someone@example.org" not in message
    assert "someone@example.org" not in (work / "results/logs/validate.log").read_text()
    assert not (work / "results/effects.csv").exists()
    assert not (work / "results/report.html").exists()
    assert not list((work / "results").glob("validated/*.parquet"))
    for name, text in previous.items():
        assert (work / "results/stale" / name).read_text() == text
    assert "earlier run" in (work / "results/stale/README.txt").read_text()
    assert ("the outputs of the previous run were moved to results/stale/ so that they cannot be mistaken "
            "for this run's: effects.csv, report.html.") in " ".join(message.split())


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"synthetic": {"sessions_planned": [3, 10]}}, "synthetic.sessions_planned starts at 3"),
        ({"privacy": {"min_cell_size": 0}}, "min_cell_size"),
        ({"models": {"covariate": ["discipline"]}}, "covariate"),
        ({"ruptures": {"criterion": "2sd"}}, "criterion"),
        # an instrument that cannot be loaded stops the run at its start, not in the validation job with
        # only "CalledProcessError" on the console (a reviewer's probe)
        ({"instruments": {"alliance": "wai_s"}}, "Invalid instrument: shipped instrument 'wai_s'"),
        ({"instruments": {"alliance": "srs", "cutoff_value": 50}},
         "instruments.cutoff_value 50 lies outside the total's range"),
    ],
)
def test_bad_config_stops_with_a_clear_message(root, tmp_path, config, message):
    done = run_workflow(root, tmp_path, config)
    assert done.returncode != 0
    assert message in done.stderr
    assert not (tmp_path / "results/effects.csv").exists()
