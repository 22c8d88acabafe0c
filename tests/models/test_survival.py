"""Dropout over sessions: the at-risk rows, the Cox fit against lifelines' Rossi values, recovery."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from lifelines.datasets import load_rossi

from alliance import errors
from alliance.errors import NotEstimable
from alliance.models.common import Design, fit_binary_logit, fit_logit_glm
from alliance.models.survival import (
    cox_frame,
    fit_cox_time_varying,
    fit_rupture_hazard,
    kaplan_meier_by_tertile,
    session_risk_design,
)

ROSSI_COVARIATES = ["fin", "age", "race", "wexp", "mar", "paro", "prio"]
FIXED_SCALE = {"alliance_prev": 0.0}  # the predictor is taken as given: no sample SD scales it


def rossi_design(predictor: str) -> Design:
    """The Rossi recidivism data as (0, week] rows, `predictor` in the alliance slot."""
    rossi = load_rossi()
    data = rossi.rename(columns={predictor: "alliance_prev_z"}).assign(
        start=0, stop=rossi["week"], event=rossi["arrest"], patient_id=range(len(rossi)),
        therapist_id=[f"T{i}" for i in range(len(rossi))])
    covariates = [c for c in ROSSI_COVARIATES if c != predictor]
    return Design("arrest", "alliance_prev", data, "", covariates, scale_variance=FIXED_SCALE)


@pytest.mark.parametrize(("predictor", "coefficient"), [("fin", -0.3794), ("prio", 0.0915)])
def test_cox_fit_reproduces_the_rossi_analysis(predictor, coefficient):
    """lifelines' documented Cox model of week/arrest on all covariates (matches the published R run)."""
    (row,) = fit_cox_time_varying(rossi_design(predictor))
    assert row["estimate"] == pytest.approx(coefficient, abs=5e-5)
    assert row["scale"] == "log_hazard" and row["n_patients"] == 432


def sessions_and_patients():
    sessions = pd.DataFrame({
        "patient_id": ["A"] * 4 + ["B"] * 3 + ["C"] * 2,
        "session": [1, 2, 3, 4, 1, 2, 3, 1, 2],
        "alliance_prev": [np.nan, 4.0, 3.5, 3.0, np.nan, 4.5, 4.5, np.nan, np.nan],
        "alliance_running_mean": [np.nan, 4.0, 3.75, 3.5, np.nan, 4.5, 4.5, np.nan, np.nan],
    })
    patients = pd.DataFrame({"patient_id": ["A", "B", "C"], "therapist_id": ["T1", "T1", "T2"],
                             "dropout": [True, False, True], "last_session": [4, 3, 2],
                             "baseline_severity": [20.0, 25.0, 30.0]})
    return sessions, patients


def test_a_covariate_that_separates_the_dropouts_makes_the_cox_model_separated_in_words():
    """Every dropout at 0 of a covariate in its own units, every other patient at 10-30: the partial
    likelihood has no maximum, Newton's method stops at its limit with a warning, and the covariate's
    coefficient (-2.8, SE 61,000) stays under the |15| backstop; the fit once read `fitted` with the
    alliance at 0.19 (SE 0.27). It is now refused as a monotone likelihood."""
    rng = np.random.default_rng(0)
    n = 200
    count = rng.integers(10, 30, size=n).astype(float)
    count[:15] = 0.0
    event = np.zeros(n)
    event[:15] = 1
    data = pd.DataFrame({"patient_id": range(n), "therapist_id": [f"T{i % 60}" for i in range(n)],
                         "start": 0.0, "stop": rng.integers(1, 12, size=n).astype(float), "event": event,
                         "alliance_prev_z": rng.normal(size=n), "practice_count": count})
    design = Design("dropout", "alliance_prev", data, "", ["practice_count"], scale_variance=FIXED_SCALE)
    with pytest.raises(NotEstimable) as refused:
        fit_cox_time_varying(design)
    assert refused.value.status == errors.SEPARATION
    assert str(refused.value) == ("monotone likelihood: the Cox coefficients grow without bound (the dropout "
                                  "events are separated by the predictors)")


def test_rows_at_risk_and_the_event_at_the_last_session():
    sessions, patients = sessions_and_patients()
    design = session_risk_design(patients, sessions, ["baseline_severity"])
    data = design.data.set_index(["patient_id", "session"])
    # C never scored; B completed treatment, so B's last session is not at risk (no dropout can follow)
    assert list(data.index) == [("A", 2), ("A", 3), ("A", 4), ("B", 2)]
    assert data["event"].tolist() == [0, 0, 1, 0]
    assert (data["stop"] - data["start"] == 1).all()
    steps = {step["step"]: step["n"] for step in design.flow}
    assert steps["excluded sessions: a completer's last scheduled session (no dropout can follow)"] == 1
    assert steps["excluded sessions: no earlier scored session"] == 4
    # the split without look-ahead: A's previous total minus its mean over the scored sessions so far
    assert data["alliance_prev_deviation"].tolist()[:3] == [0.0, -0.25, -0.5]
    assert steps["patients analysed"] == 2
    assert design.formula == 'event ~ alliance_prev_z + Q("baseline_severity")'


def test_kaplan_meier_landmark_and_log_rank():
    """Six patients past the window: time is the number of sessions after it; tertiles by early alliance."""
    features = pd.DataFrame({
        "patient_id": list("ABCDEFG"), "ended_in_window": [False] * 6 + [True],
        "alliance_early": [2.0, 2.5, 3.5, 3.6, 4.5, 4.8, 1.0],
        "scheduled_after_window": [2, 4, 5, 5, 6, 6, 0],
        "dropout": [True, True, False, True, False, False, True],
    })
    curves, logrank = kaplan_meier_by_tertile(features)
    low = curves[curves["tertile"] == "low"].set_index("sessions_after_window")["survival"]
    assert low.loc[2] == pytest.approx(0.5) and low.loc[4] == pytest.approx(0.0)  # 1 of 2, then 0 of 1
    middle = curves[curves["tertile"] == "middle"].set_index("sessions_after_window")["survival"]
    assert middle.loc[5] == pytest.approx(0.5)  # tied times: one event among two at risk
    assert (curves[curves["tertile"] == "high"]["survival"] == 1).all()
    assert logrank["n_patients"] == 6 and logrank["events"] == 3 and logrank["df"] == 2
    assert 0 < logrank["p_value"] < 1


def session_intervals(n_patients: int = 300, seed: int = 3) -> Design:
    """Patients followed over 2-9 one-session intervals from session 2, with ties at every session and a
    hazard that falls with x; therapists of 5 patients each."""
    rng = np.random.default_rng(seed)
    length = rng.integers(2, 9, n_patients)
    patient = np.repeat(np.arange(n_patients), length)
    session = np.concatenate([np.arange(2, 2 + k) for k in length])
    x = rng.normal(size=len(patient))
    last = session == np.repeat(2 + length - 1, length)
    event = (last & (rng.random(len(patient)) < 1 / (1 + np.exp(1 + 0.5 * x)))).astype(int)
    data = pd.DataFrame({"patient_id": patient, "therapist_id": patient // 5, "start": session - 1,
                         "stop": session, "event": event, "alliance_prev_z": x,
                         "baseline_severity": rng.normal(size=len(patient))})
    return Design("dropout", "alliance_prev", data, "", ["baseline_severity"], scale_variance=FIXED_SCALE)


def test_cox_on_session_intervals_equals_lifelines_counting_process_estimate():
    """Strata by session (statsmodels) = lifelines' delayed-entry fit of the same rows: same Efron estimate.
    (lifelines' robust SEs ignore delayed entry in the risk sets, so they are no reference here.)"""
    design = session_intervals()
    (row,) = fit_cox_time_varying(design)
    reference = CoxPHFitter().fit(cox_frame(design), duration_col="stop", event_col="event",
                                  entry_col="start", cluster_col="cluster")
    assert row["estimate"] == pytest.approx(reference.params_["alliance_prev_z"], abs=1e-6)


@pytest.mark.parametrize("cluster_size", [1, 4])
def test_cox_sandwich_matches_lifelines_without_ties(cluster_size):
    """Untied times and no delayed entry, where lifelines' score residuals are exact: the clustered
    (and, with clusters of one, the robust) SE equals lifelines'."""
    rng = np.random.default_rng(11)
    n = 400
    x, z = rng.normal(size=n), rng.normal(size=n)
    time = rng.exponential(np.exp(-0.5 * x))
    data = pd.DataFrame({"patient_id": range(n), "therapist_id": np.arange(n) // cluster_size,
                         "start": 0.0, "stop": time, "event": (rng.random(n) < 0.7).astype(int),
                         "alliance_prev_z": x, "severity": z})
    design = Design("dropout", "alliance_prev", data, "", ["severity"], scale_variance=FIXED_SCALE)
    (row,) = fit_cox_time_varying(design)
    frame = cox_frame(design)
    reference = CoxPHFitter().fit(frame.drop(columns="start"), duration_col="stop", event_col="event",
                                  cluster_col="cluster")
    assert row["estimate"] == pytest.approx(reference.params_["alliance_prev_z"], abs=1e-6)
    g = n // cluster_size  # the pipeline's sandwich carries the CR1 factor G / (G - 1), lifelines' not
    assert row["std_error"] == pytest.approx(reference.standard_errors_["alliance_prev_z"]
                                             * np.sqrt(g / (g - 1)), rel=1e-4)


def test_binary_logit_equals_the_binomial_glm():
    """Newton's Logit (session-level designs) gives the GLM's estimates and clustered SEs."""
    design = replace(session_intervals(n_patients=600), formula="event ~ alliance_prev_z + baseline_severity")
    logit, glm = fit_binary_logit(design), fit_logit_glm(design)
    assert logit.params.to_numpy() == pytest.approx(glm.params.to_numpy(), abs=1e-8)
    assert logit.bse.to_numpy() == pytest.approx(glm.bse.to_numpy(), rel=1e-6)
    assert logit.params["alliance_prev_z"] < 0  # the hazard falls with x
    with pytest.raises(NotEstimable, match="takes a single value"):
        fit_binary_logit(replace(design, data=design.data.assign(event=0)))


@pytest.mark.parametrize(("exposed", "words"), [
    ("no_event", "no dropout events among the sessions with a rupture before the session"),
    ("only_events", "only dropout events among the sessions with a rupture before the session")])
def test_rupture_hazard_separated_by_the_rupture_says_so_in_words(exposed, words):
    """A rupture indicator that separates (no dropout, or only dropouts, after a rupture) is named as
    such, not as a range of values ("at or below 0")."""
    design = session_intervals(n_patients=400)
    data = design.data.assign(session_band=design.data["stop"].clip(upper=12), ruptures_before=0)
    pool = data.index[data["event"] == (0 if exposed == "no_event" else 1)][:12]
    data.loc[pool, "ruptures_before"] = 1
    design = replace(design, data=data, unit="session", formula="event ~ alliance_prev_z + baseline_severity")
    with pytest.raises(NotEstimable) as refused:
        fit_rupture_hazard(design)
    assert refused.value.status == errors.SEPARATION
    assert str(refused.value.message) == f"quasi-complete separation: {words}"
