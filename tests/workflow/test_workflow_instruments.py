"""The workflow on other instruments: the SRS with a concern cut-off, and a pre-scored alliance with a
therapist-rated form (the other inputs: test_workflow_inputs.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from workflow_runs import TABLES, run_workflow, synthetic_tables

pytestmark = pytest.mark.slow


def test_srs_cohort_with_a_concern_cut_off(root, default_config, tmp_path, wai_sr):
    """The SRS (decimal items 0-10) as the alliance instrument, 36 itself flagged; a degenerate trial as
    well: two arms as the only clusters and no satisfaction measure at all (issue 12)."""
    patients, sessions, outcomes = synthetic_tables(default_config, seed=21)
    arms = {t: f"arm_{i % 2 + 1}" for i, t in enumerate(sorted(patients["therapist_id"].unique()))}
    patients["therapist_id"] = patients["therapist_id"].map(arms)
    outcomes = outcomes[["patient_id", "dropout"]]
    wai = sessions[wai_sr.item_columns].astype(float)
    for i, members in enumerate(([1, 2], [3, 5], [4, 6], [7, 8, 9]), start=1):
        columns = [wai_sr.item_column(m) for m in members]
        sessions[f"srs_{i:02d}"] = (wai[columns].mean(axis=1) * 2).round(1)
    sessions = sessions.drop(columns=wai_sr.item_columns)
    for name, table in zip(TABLES, (patients, sessions, outcomes), strict=True):
        table.to_csv(tmp_path / f"{name}.csv", index=False)
    config = {"data": {name: str(tmp_path / f"{name}.csv") for name in TABLES},
              "instruments": {"alliance": "srs", "cutoff_inclusive": True}}
    work = tmp_path / "work"
    work.mkdir()
    done = run_workflow(root, work, config)
    assert done.returncode == 0, done.stderr[-3000:]
    scores = pd.read_parquet(work / "results/scores/session_scores.parquet")
    scored = scores[scores["alliance_total"].notna()]
    assert scored["alliance_total"].between(0, 40).all()
    assert (scored["alliance_concern"] == (scored["alliance_total"].round(6) <= 36)).all()
    summary = yaml.safe_load((work / "results/scores/scoring_summary.json").read_text())
    assert summary["alliance"]["cutoff"] == {"value": 36.0, "inclusive": True,
                                             "sessions_flagged": int(scored["alliance_concern"].sum())}
    effects = pd.read_csv(work / "results/effects.csv")
    assert list(effects.loc[effects["analysis"] == "primary", "outcome"]) == ["attendance", "dropout"]
    assert np.isfinite(effects.select_dtypes("number").to_numpy(dtype=float)).all()
    status = pd.read_csv(work / "results/models/status.csv", keep_default_na=False).set_index("key")
    assert (status.loc["H3", "status"], status.loc["H3", "reason"]) == (
        "not_estimable", "no satisfaction measure in the data")
    assert status.loc["H1", "flags"] == ("Few clusters: 2 therapists (fewer than 50); bias-reduced "
                                         "(Mancl-DeRouen) cluster-robust standard errors, with t(1) "
                                         "intervals and p-values.")
    unreported = status[~status["status"].isin(["fitted", "boundary"])]
    assert (unreported["reason"].str.len() > 10).all()
    report = (work / "results/report.html").read_text()
    assert "No estimate (not estimable): No satisfaction measure in the data." in report
    assert ("Session Rating Scale (SRS v3): item 4 belongs to none of the three dimensions; it counts in "
            "the alliance total but in no dimension score.") in report  # the overall item, said
    assert 'id="truth"' not in report  # no truth table for a user's data
    assert "<th>&alpha;</th>" not in report  # H5's table: one item per dimension, no column of NA alphas
    assert "what the three explain together and its reliability" not in report  # nor in its caption
    assert "Traceback" not in done.stderr and "Traceback" not in report


def test_prescored_alliance_with_a_therapist_rater(root, default_config, tmp_path, wai_sr):
    """Pre-scored alliance with a therapist-rated form, in a clinic where nobody dropped out (issue 12)."""
    patients, sessions, outcomes = synthetic_tables(default_config, seed=22)
    outcomes["dropout"] = 0
    spec = yaml.safe_load((root / "workflow/alliance/instruments/wai_sr.yaml").read_text())
    (tmp_path / "wai_sr_t.yaml").write_text(yaml.safe_dump(spec | {"key": "wai_sr_t"}))
    items = sessions[wai_sr.item_columns].astype(float)
    for item in range(1, 13):  # therapists rate one point lower, within the scale
        sessions[f"wai_sr_t_{item:02d}"] = (items[wai_sr.item_column(item)] - 1).clip(1, 5)
    for name, members in wai_sr.subscales.items():
        sessions[f"alliance_{name}"] = items[[wai_sr.item_column(m) for m in members]].mean(axis=1)
    sessions["alliance_total"] = sessions[[f"alliance_{n}" for n in wai_sr.subscales]].mean(axis=1)
    sessions = sessions.drop(columns=wai_sr.item_columns)
    for name, table in zip(TABLES, (patients, sessions, outcomes), strict=True):
        table.to_csv(tmp_path / f"{name}.csv", index=False)
    config = {"data": {name: str(tmp_path / f"{name}.csv") for name in TABLES},
              "instruments": {"alliance_therapist": str(tmp_path / "wai_sr_t.yaml")}}
    work = tmp_path / "work"
    work.mkdir()
    done = run_workflow(root, work, config)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = yaml.safe_load((work / "results/scores/scoring_summary.json").read_text())
    assert not summary["alliance"]["item_level"] and summary["alliance"]["sessions_pre_scored"] > 1000
    assert summary["therapist_alliance"]["item_level"]
    notes = pd.read_csv(work / "results/psychometrics/notes.csv")
    assert notes["note"].str.contains("not possible").any()
    status = pd.read_csv(work / "results/models/status.csv", keep_default_na=False).set_index("key")
    for key, patients in (("H2", "no analysed patient"), ("H2c", "no patient")):
        assert (status.loc[key, "status"], status.loc[key, "reason"]) == (
            "not_estimable", f"{patients} dropped out after the early window")
    assert (status.loc["H2: cluster bootstrap (B = 30)", "status"] == "refused")
    effects = pd.read_csv(work / "results/effects.csv")
    assert "dropout" not in set(effects["outcome"]) and np.isfinite(effects["estimate"]).all()
    sensitivity = pd.read_csv(work / "results/models/sensitivity/sensitivity.csv")
    assert "dropout" not in set(sensitivity["outcome"])
    report = (work / "results/report.html").read_text()
    assert "No estimate (not estimable): No analysed patient dropped out after the early window." in report
    agreement = pd.read_csv(work / "results/psychometrics/agreement.csv").iloc[0]
    assert agreement["mean_difference"] == pytest.approx(1.0, abs=0.1)
    assert agreement["patient_level_r"] > 0.8 and agreement["patient_level_status"] == "fitted"
    assert agreement["rm_r"] > 0.5 and agreement["rm_status"] == "fitted"
    assert agreement["loa_low"] < 1.0 < agreement["loa_high"]
    assert "not possible" in (work / "results/report.html").read_text()
