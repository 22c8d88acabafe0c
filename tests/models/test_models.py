"""The primary models: analysis samples, covariates, and recovery of known effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alliance.features.build import build_features, patient_features, session_features
from alliance.i18n import suppressing_counts, use_language
from alliance.ingest.contract import validate_tables
from alliance.models import fit_family
from alliance.models.adherence import attendance_design, attendance_session_design
from alliance.models.common import varying_bands
from alliance.models.dropout import dropout_design
from alliance.models.levels import PRIMARY
from alliance.models.survival import session_risk_design
from alliance.report.format import format_value
from alliance.scoring.scores import score_patients, score_sessions
from alliance.simulation.synthetic import synthesize

COVARIATES = ["baseline_severity", "discipline"]


def pipeline_features(tables, wai_sr, csq8, early_window=3) -> pd.DataFrame:
    """validate -> score -> features, as the workflow does, without Snakemake."""
    patients, sessions, outcomes = tables
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    v = validate_tables(raw, {k: f"{k}.csv" for k in raw}, wai_sr, satisfaction=csq8)
    return patient_features(v.patients, score_sessions(v.sessions, wai_sr),
                            score_patients(v.outcomes, csq8), outcomes=v.outcomes, early_window=early_window)


@pytest.fixture(scope="module")
def large_cohort(default_config, wai_sr, csq8):
    cfg = default_config["synthetic"] | {"n_patients": 3000, "n_therapists": 120,
                                         "truth_multiplier": 10, "seed": 11}
    *tables, truth = synthesize(cfg, 3, COVARIATES)
    return pipeline_features(tables, wai_sr, csq8), truth


def test_primary_estimates_recover_the_truth(large_cohort):
    features, truth = large_cohort
    estimands = {e["outcome"]: e["estimand"] for e in truth["effects"]}
    for family in PRIMARY:
        (row,) = [r for r in fit_family(family, features, COVARIATES).effects if r["analysis"] == "primary"]
        assert np.isfinite([row["estimate"], row["std_error"], row["r"]]).all()
        assert abs(row["estimate"] - estimands[row["outcome"]]) < 3 * row["std_error"], row
        assert row["ci_low"] < row["estimate"] < row["ci_high"]
        assert row["analysis"] == "primary"


def test_satisfaction_model_finds_the_therapist_variance(large_cohort):
    """Generated with a therapist SD of 0.8 points (variance 0.64, less after CSQ-8 rounding)."""
    result = fit_family("satisfaction", large_cohort[0], COVARIATES)
    assert 0.1 < result.extra["therapist_variance"] < 1.5
    assert 8 < result.extra["residual_variance"] < 20
    assert not any("did not converge" in str(note) for note in result.notes)


def test_flow_counts_every_exclusion(large_cohort):
    features, _ = large_cohort
    design = dropout_design(features, COVARIATES)
    steps = {step["step"]: step["n"] for step in design.flow}
    assert steps["patients in the cohort"] == len(features)
    ended = int(features["ended_in_window"].sum())
    assert steps["excluded: treatment ended within the early window"] == ended
    excluded = sum(n for s, n in steps.items() if s.startswith("excluded"))
    assert steps["analysed"] == len(features) - excluded == len(design.data)
    assert design.data["alliance_early_z"].mean() == pytest.approx(0, abs=1e-12)
    assert design.data["alliance_early_z"].std() == pytest.approx(1)


def test_absent_empty_and_constant_covariates_are_left_out_with_the_reason(large_cohort):
    features, _ = large_cohort
    features = features.assign(gender="female", age_band=np.nan)
    result = fit_family("adherence", features, ["baseline_severity", "not_a_column", "gender", "age_band"])
    notes = {str(note) for note in result.notes}
    assert {"The covariate not_a_column was left out: it is not a column of the data.",
            "The covariate gender was left out: it takes a single value.",
            "The covariate age_band was left out: no patient has a value."} <= notes
    assert result.extra["covariates"] == ["baseline_severity"]


def test_an_empty_sample_says_nothing_false_of_its_covariates(large_cohort):
    """Every questionnaire unscorable (a reviewer's probe): each model's sample was empty, and the report
    said that baseline severity and discipline were "left out: no patient has a value", which every
    patient had. The model says why it is not estimable; its covariates get no note."""
    features, _ = large_cohort
    result = fit_family("dropout", features.assign(alliance_early=np.nan), COVARIATES)
    notes = {str(note) for note in result.notes}
    assert not any("was left out" in note for note in notes), notes
    assert next(s for s in result.statuses if s["key"] == "H2")["status"] == "not_estimable"
    absent = fit_family("dropout", features.assign(alliance_early=np.nan), ["baseline_severity", "nothing"])
    assert "The covariate nothing was left out: it is not a column of the data." in {
        str(note) for note in absent.notes}


def test_missing_covariate_values_are_excluded_and_counted(large_cohort):
    features, _ = large_cohort
    features = features.copy()
    features.loc[features.index[:25], "baseline_severity"] = np.nan
    design = attendance_design(features, COVARIATES)
    counted = next(s["n"] for s in design.flow if s["step"] == "excluded: missing a covariate value")
    assert 0 < counted <= 25
    assert design.data["baseline_severity"].notna().all()
    assert design.flags == []  # 25 of 3,000: complete cases need no flag
    # most patients without a baseline severity (a reviewer's clinic: 66%): the model is flagged, in words
    features.loc[features.index % 3 == 1, "discipline"] = None
    features.loc[features.index % 3 == 2, "baseline_severity"] = np.nan
    design = attendance_design(features, COVARIATES)
    counted = next(s["n"] for s in design.flow if s["step"] == "excluded: missing a covariate value")
    before = counted + len(design.data)  # no category without variation is left out in so large a cohort
    (flag,) = design.flags
    assert str(flag) == (
        f"Complete cases: {counted} ({100 * counted / before:.1f}%) of the {before} patients otherwise "
        "analysed miss a value of baseline severity, discipline and are left out; the multiple imputation "
        "among the sensitivity analyses keeps them.")


def test_a_logistic_model_on_few_events_is_flagged(large_cohort):
    """Fewer dropouts (or patients who stayed) than 10 per coefficient flag a logistic model (Peduzzi et al.
    1996), each model by its own coefficients: 49 dropouts for the alliance, severity and three discipline
    contrasts flag H2, 50 do not, but the split (one more coefficient) and the moderation (a slope per
    discipline: eight) are flagged with 50 too; a count below the minimum cell size is written "<10"."""
    features, _ = large_cohort
    analysed = dropout_design(features, COVARIATES).data
    stayed = analysed.loc[~analysed["dropout"].astype(bool), "patient_id"].iloc[::5].iloc[:400]
    dropped = analysed.loc[analysed["dropout"].astype(bool), "patient_id"].iloc[::3]  # every therapist

    def flags(dropouts: int) -> dict[str, str]:
        ids = set(stayed) | set(dropped.iloc[:dropouts])
        result = fit_family("dropout", features[features["patient_id"].isin(ids)], COVARIATES)
        (row,) = [r for r in result.effects if r["analysis"] == "primary"]
        assert dropouts < 10 or row["n_patients"] == 400 + dropouts
        return {s["key"]: next((f"Few events:{flag}" for flag in s["flags"].split("Few events:")[1:]), "")
                for s in result.statuses if s["key"] in ("H2", "H2-split", "H2-moderation")}

    assert not any("Few events" in s["flags"] for s in fit_family("dropout", features, COVARIATES).statuses)
    assert flags(49)["H2"] == (
        "Few events: the rarer outcome occurs 49 times for 5 coefficients (fewer than 10 per coefficient; "
        "Peduzzi et al., 1996): the estimates may lie further from no effect than the data warrant and their "
        "intervals be too narrow.")
    fifty = flags(50)
    assert fifty["H2"] == ""
    assert "occurs 50 times for 6 coefficients" in fifty["H2-split"]
    assert "occurs 50 times for 8 coefficients" in fifty["H2-moderation"]
    with suppressing_counts(10):
        assert "the rarer outcome occurs <10 times for" in str(flags(7)["H2"])


@pytest.fixture(scope="module")
def session_cohort(default_config, wai_sr, csq8) -> dict[str, pd.DataFrame]:
    """600 patients of 30 therapists through validation, scores and features (patients and sessions), with
    the `sd` rupture criterion, whose patterns are defined for every patient."""
    cfg = default_config["synthetic"] | {"n_patients": 600, "n_therapists": 30, "truth_multiplier": 1}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, COVARIATES)
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    v = validate_tables(raw, {k: f"{k}.csv" for k in raw}, wai_sr, satisfaction=csq8)
    return build_features(v.patients, v.outcomes, score_sessions(v.sessions, wai_sr),
                          patient_scores=score_patients(v.outcomes, csq8), early_window=3,
                          rupture_settings={"criterion": "sd", "c": 2.0, "repair_window": 3,
                                            "reliability": None},
                          total_alpha=None)


def test_rupture_pattern_can_enter_a_model_as_a_covariate(session_cohort):
    tables = session_cohort
    features = tables["patients"]
    assert features["rupture_pattern"].notna().all()
    result = fit_family("dropout", features, ["baseline_severity", "rupture_pattern"])
    assert result.extra["covariates"] == ["baseline_severity", "rupture_pattern"]
    assert 'C(Q("rupture_pattern"))' in result.extra["formula"]
    assert np.isfinite(result.effects[0]["estimate"])
    # With the session features the dropout family adds the time-varying models (secondary).
    result = fit_family("dropout", features, COVARIATES, sessions=tables["sessions"])
    models = [(row["model"], row["analysis"]) for row in result.effects]
    assert models[:8] == [("logistic_glm_cluster_therapist", "primary"),
                          ("discrete_time_hazard_cluster_therapist", "secondary"),
                          *[("discrete_time_hazard_split_cluster_therapist", "secondary")] * 2,
                          ("cox_time_varying_cluster_therapist", "secondary"),
                          *[("cox_time_varying_split_cluster_therapist", "secondary")] * 2,
                          ("rupture_hazard_cluster_therapist", "exploratory")]
    for row in result.effects[1:7]:  # better alliance, less dropout (between patients at least)
        assert row["predictor"] == "alliance_prev_deviation" or row["ci_high"] < 0
        assert row["n_obs"] > row["n_patients"] > 500


def test_session_level_reasons_count_sessions_not_patients(default_config, wai_sr, csq8):
    """H1a and H1b are fitted to session rows: a reason that counts its sample counts sessions. With every
    alliance item answered 4, the within-patient alliance is 0 on every row, and the reason said "(1033
    patients)" of a cohort of 120 patients."""
    cfg = default_config["synthetic"] | {"n_patients": 120, "n_therapists": 12, "truth_multiplier": 1,
                                         "seed": 12}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, COVARIATES)
    items = wai_sr.item_columns
    sessions[items] = sessions[items].where(sessions[items].isna(), 4)
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    v = validate_tables(raw, {k: f"{k}.csv" for k in raw}, wai_sr, satisfaction=csq8)
    scores = score_sessions(v.sessions, wai_sr)
    features = patient_features(v.patients, scores, score_patients(v.outcomes, csq8), outcomes=v.outcomes,
                                early_window=3)
    result = fit_family("adherence", features, COVARIATES, sessions=session_features(scores, v.patients, 3))
    reasons = {s["key"]: s["reason"] for s in result.statuses}
    for key, outcome in (("H1a", "session attendance"), ("H1b", "home practice")):
        rows = next(s["n"] for s in result.flow if s["step"] == f"{outcome}: sessions analysed")
        assert rows > len(features)
        assert reasons[key] == (f"within-patient alliance takes a single value (0) in the {outcome} analysis "
                                f"sample ({rows} sessions)")


def test_unknown_family_is_refused(large_cohort):
    with pytest.raises(ValueError, match="unknown model family"):
        fit_family("not_a_family", large_cohort[0], COVARIATES)


def test_a_covariate_category_without_dropout_is_left_out_at_the_limit_of_the_full_fit(large_cohort):
    """Nutrition patients with no dropout separate the primary logistic model (their intercept goes to
    -inf). They are left out with a flow step and a note, and the alliance slope is then the limit of the
    maximum-likelihood fit on every patient: statsmodels' IRLS on all of them, run to its own convergence,
    gives the same slope per point (to 1e-5). Where the outcome varies in no other category either, the
    data are kept and the fit says separation, as before."""
    import statsmodels.api as sm

    features, _ = large_cohort
    nutrition = features["discipline"] == "nutrition"
    features = features.assign(dropout=features["dropout"].where(~nutrition, False))
    design = dropout_design(features, COVARIATES)
    left_out = next(s["n"] for s in design.flow
                    if s["step"] == "excluded: a covariate category in which the outcome does not vary")
    reached = features[~features["ended_in_window"] & features["alliance_early"].notna()]
    assert left_out == (reached["discipline"] == "nutrition").sum() > 0
    assert "nutrition" not in set(design.data["discipline"])
    assert [str(note) for note in design.notes] == [
        f"discipline = nutrition: no analysed patient dropped out after the early window; its {left_out} "
        "patients were left out, since with an intercept of their own they carry no information on the "
        "alliance effect"]
    with use_language("es"):  # the covariate and its category in the report's words, as the cohort table
        assert design.notes[0].render(format_value).startswith("disciplina = nutrición: ")
    result = fit_family("dropout", features, COVARIATES)
    h2 = next(s for s in result.statuses if s["key"] == "H2")
    assert h2["status"] in ("fitted", "boundary")
    per_sd = next(r for r in result.effects if r["model"] == PRIMARY["dropout"].model)["estimate"]
    formula = "dropout_event ~ alliance_early + baseline_severity + C(discipline, Treatment('psychotherapy'))"
    full = sm.GLM.from_formula(formula,
                               reached.assign(dropout_event=reached["dropout"].astype(int)),
                               family=sm.families.Binomial()).fit(maxiter=200, tol=1e-12)
    assert full.params["C(discipline, Treatment('psychotherapy'))[T.nutrition]"] < -15  # on its way to -inf
    assert per_sd / design.data["alliance_early"].std(ddof=1) == pytest.approx(full.params["alliance_early"],
                                                                              abs=1e-5)
    everyone_else = features.assign(dropout=features["dropout"].where(nutrition, True))
    kept = dropout_design(everyone_else, COVARIATES)
    assert len(kept.data) == len(reached) and not kept.notes
    statuses = fit_family("dropout", everyone_else, COVARIATES).statuses
    assert next(s for s in statuses if s["key"] == "H2")["status"] == "separation"


def test_the_sessions_at_risk_leave_out_a_category_without_dropout_alike(session_cohort):
    """H2's models of the sessions at risk (discrete-time hazard, Cox, rupture hazard) leave out the
    sessions of nutrition patients when none dropped out, with the flow's analysed sessions and patients
    counted after them, instead of reading separation."""
    tables = session_cohort
    features = tables["patients"]
    nutrition = features["discipline"] == "nutrition"
    features = features.assign(dropout=features["dropout"].where(~nutrition, False))
    result = fit_family("dropout", features, COVARIATES, sessions=tables["sessions"])
    for key in ("H2", "H2a", "H2a-split", "H2b", "H2b-split", "H2d"):
        assert next(s for s in result.statuses if s["key"] == key)["status"] in ("fitted", "boundary"), key
    design = session_risk_design(features, tables["sessions"], COVARIATES)
    steps = {s["step"]: s["n"] for s in design.flow}
    assert "nutrition" not in set(design.data["discipline"])
    assert steps["excluded sessions: a covariate category in which the outcome does not vary"] > 0
    assert steps["sessions of patients with an outcome"] - sum(
        n for step, n in steps.items() if step.startswith("excluded sessions: ")) == len(design.data)
    assert (steps["sessions at risk analysed"], steps["patients analysed"]) == (
        len(design.data), design.data["patient_id"].nunique())
    assert [str(note).split(";")[0] for note in design.notes] == [
        "discipline = nutrition: no session at risk ended in dropout"]
    # among the family's notes, the patient-level model's and these, labelled, read as two models' notes
    assert [str(note).split(";")[0] for note in result.notes] == [
        "discipline = nutrition: no analysed patient dropped out after the early window",
        "Sessions at risk: discipline = nutrition: no session at risk ended in dropout"]


def test_varying_bands_pool_a_band_without_variation_by_hand():
    """Bands 1-5 with (events, others): 1 (0, 3) and 2 (2, 2) -> 1 joins the next band, 2; 3 (4, 0) joins
    the band before it, 2; 4 (1, 1) stays; 5 (0, 2) joins 4."""
    bands = pd.Series([1, 2, 3, 4, 5])
    pooled = varying_bands(bands, pd.Series([0, 2, 4, 1, 0]), pd.Series([3, 2, 0, 1, 2]))
    assert pooled.tolist() == [2, 2, 2, 4, 4]


def test_session_attendance_pools_a_session_that_every_patient_attended(session_cohort):
    """Every patient attended session 2 (as in a generated clinic of 66 patients and 4 therapists with
    half the questionnaires missing, where H1a read "the predictors together predict session attendance
    with certainty"): its band is pooled with session 3's, so H1a is fitted."""
    features, sessions = session_cohort["patients"], session_cohort["sessions"]
    sessions = sessions.assign(attended=sessions["attended"] | (sessions["session"] == 2))
    design = attendance_session_design(features, sessions, COVARIATES)
    assert 2 not in set(design.data["session_band"]) and design.data["session"].eq(2).any()
    assert (design.data.loc[design.data["session"] == 2, "session_band"] == 3).all()
    result = fit_family("adherence", features, COVARIATES, sessions=sessions)
    assert next(s for s in result.statuses if s["key"] == "H1a")["status"] in ("fitted", "boundary")


def test_session_attendance_leaves_out_a_category_that_attended_every_session(session_cohort):
    """H1a alike: nutrition patients who attended every scheduled session are left out of the session
    attendance model, their sessions counted in its (prefixed) flow, instead of separation."""
    features, sessions = session_cohort["patients"], session_cohort["sessions"]
    nutrition = set(features.loc[features["discipline"] == "nutrition", "patient_id"])
    sessions = sessions.assign(attended=sessions["attended"] | sessions["patient_id"].isin(nutrition))
    design = attendance_session_design(features, sessions, COVARIATES)
    steps = {s["step"]: s["n"] for s in design.flow}
    assert "nutrition" not in set(design.data["discipline"])
    assert steps["session attendance: excluded sessions: a covariate category in which the outcome does not "
                 "vary"] > 0
    analysed = steps["session attendance: sessions analysed"], steps["session attendance: patients analysed"]
    assert analysed == (len(design.data), design.data["patient_id"].nunique())
    assert [str(note).split(";")[0] for note in design.notes] == [
        "discipline = nutrition: every scheduled session was attended"]
    result = fit_family("adherence", features, COVARIATES, sessions=sessions)
    assert next(s for s in result.statuses if s["key"] == "H1a")["status"] in ("fitted", "boundary")


def odd_shape_features(default_config, wai_sr, csq8, change) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A cohort of 120 patients of 12 therapists whose sessions table `change` edits, through validation,
    scores and features: (patient features, session features)."""
    cfg = default_config["synthetic"] | {"n_patients": 120, "n_therapists": 12, "truth_multiplier": 1,
                                         "seed": 12}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, COVARIATES)
    sessions = change(sessions.sort_values(["patient_id", "session"]).copy(), patients)
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    v = validate_tables(raw, {k: f"{k}.csv" for k in raw}, wai_sr, satisfaction=csq8)
    scores = score_sessions(v.sessions, wai_sr)
    features = patient_features(v.patients, scores, score_patients(v.outcomes, csq8), outcomes=v.outcomes,
                                early_window=3)
    return features, session_features(scores, v.patients, 3)


def test_a_within_patient_alliance_of_rounding_noise_is_not_a_predictor(default_config, wai_sr, csq8):
    """A real-data shape (a reviewer's probe): every patient gives the same answers at every session, which
    differ between patients. Each deviation from the patient's own mean is 0 in exact arithmetic and about
    1e-16 in floating point, which, standardised, had been a predictor of pure noise: H1a and H1b "fitted",
    "within: 0.66 [0.07, 1.26], p = .033" with the SRS. Now not estimable, saying the value is 0."""
    items = wai_sr.item_columns

    def constant(sessions: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
        answered = sessions[items].notna().any(axis=1)
        first = sessions[answered].groupby("patient_id")[items].first()
        for item in items:
            sessions.loc[answered, item] = sessions.loc[answered, "patient_id"].map(first[item])
        return sessions

    features, sessions = odd_shape_features(default_config, wai_sr, csq8, constant)
    assert (sessions["alliance_within"].abs().max() > 0)  # the noise this test is about is there
    result = fit_family("adherence", features, COVARIATES, sessions=sessions)
    reasons = {s["key"]: (s["status"], s["reason"]) for s in result.statuses}
    for key, outcome in (("H1a", "session attendance"), ("H1b", "home practice")):
        status, reason = reasons[key]
        assert status == "not_estimable" and reason.startswith(
            f"within-patient alliance takes a single value (0) in the {outcome} analysis sample ("), reason
    assert reasons["H1"][0] == "fitted" and not any("_within" in row["predictor"] for row in result.effects)


def test_patients_who_answer_as_their_therapists_others_do_have_no_patient_level_slope(
        default_config, wai_sr, csq8):
    """Every patient of a therapist answers alike (alliance varies between therapists only): the patient
    part of the split was rounding noise and its slope read "log OR -100005402.60"; now its reason."""
    items = wai_sr.item_columns
    rng = np.random.default_rng(1)

    def alike(sessions: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
        therapist = sessions["patient_id"].map(patients.set_index("patient_id")["therapist_id"])
        answers = {t: rng.integers(2, 6, size=len(items)) for t in sorted(patients["therapist_id"].unique())}
        answered = sessions[items].notna().any(axis=1)
        for i, item in enumerate(items):
            sessions.loc[answered, item] = therapist[answered].map(lambda t, i=i: int(answers[t][i]))
        return sessions

    features, _ = odd_shape_features(default_config, wai_sr, csq8, alike)
    for family, key in (("adherence", "H1-split"), ("dropout", "H2-split")):
        result = fit_family(family, features, COVARIATES)
        status = next(s for s in result.statuses if s["key"] == key)
        assert (status["status"], status["reason"]) == ("not_estimable", (
            "the patients of each therapist have the same early alliance: there is no patient-level "
            "deviation from the therapist mean to relate to the outcome")), status
        assert not any(row["predictor"].endswith("_patient") for row in result.effects)


def test_a_clinic_that_sets_no_homework_gets_a_reason_not_a_crash(default_config, wai_sr, csq8):
    """Every recorded home-practice share 0 (a reviewer's probe): the REML fit had stopped the whole models
    job ("x fits y exactly"); H1b now says why, and the rest of the family is fitted."""
    def no_homework(sessions: pd.DataFrame, patients: pd.DataFrame) -> pd.DataFrame:
        sessions.loc[sessions["home_practice"].notna(), "home_practice"] = 0.0
        return sessions

    features, sessions = odd_shape_features(default_config, wai_sr, csq8, no_homework)
    result = fit_family("adherence", features, COVARIATES, sessions=sessions)
    statuses = {s["key"]: (s["status"], s["reason"]) for s in result.statuses}
    assert statuses["H1b"] == ("not_estimable",
                               "home practice takes a single value: every analysed session records 0")
    assert statuses["H1"][0] == statuses["H1a"][0] == "fitted"


def test_satisfaction_answered_too_incompletely_to_score_is_not_called_absent(default_config, wai_sr, csq8):
    """A real-data shape: every CSQ-8 misses two items (one may be prorated), so no total can be scored.
    H3 had said "no satisfaction measure in the data"; it says the answers miss too many items, and where
    only some patients' do, their exclusion is a step of the flow of its own."""
    cfg = default_config["synthetic"] | {"n_patients": 120, "n_therapists": 12, "truth_multiplier": 1,
                                         "seed": 12}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, COVARIATES)

    def fitted(incomplete: pd.Series) -> dict:
        changed = outcomes.copy()
        changed.loc[incomplete, csq8.item_columns[:2]] = np.nan
        raw = {"patients": patients, "sessions": sessions, "outcomes": changed}
        v = validate_tables(raw, {k: f"{k}.csv" for k in raw}, wai_sr, satisfaction=csq8)
        features = patient_features(v.patients, score_sessions(v.sessions, wai_sr),
                                    score_patients(v.outcomes, csq8), outcomes=v.outcomes, early_window=3)
        return fit_family("satisfaction", features, COVARIATES)

    answered = outcomes[csq8.item_columns].notna().any(axis=1)
    result = fitted(answered)
    (h3,) = [s for s in result.statuses if s["key"] == "H3"]
    assert (h3["status"], h3["reason"]) == (
        "not_estimable", "no patient's satisfaction answers can be scored: every answered questionnaire "
                         "misses too many items")
    half = answered & (outcomes.index % 2 == 0)
    result = fitted(half)
    steps = {str(step["step"]): step["n"] for step in result.flow}
    assert steps["excluded: satisfaction answered but unscorable (too many items missing)"] == half.sum() > 0
    assert steps["excluded: no satisfaction score"] == (~answered).sum()
    assert [s["status"] for s in result.statuses if s["key"] == "H3"] == ["fitted"]


def test_a_numeric_covariate_that_separates_the_dropouts_is_named(default_config, wai_sr, csq8):
    """A real-data shape: every patient's baseline severity is the same but one dropout's. The dropout
    model's likelihood then has no maximum (that patient's dropout is certain); H2 had said "the
    predictors together predict dropout with certainty for some patients"; it names the covariate."""
    cfg = default_config["synthetic"] | {"n_patients": 120, "n_therapists": 12, "truth_multiplier": 1,
                                         "seed": 12}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, COVARIATES)
    dropouts = outcomes.loc[outcomes["dropout"].astype(bool), "patient_id"]
    last = sessions.groupby("patient_id")["session"].max()
    (one, *_rest) = [patient for patient in dropouts if last[patient] > 4]  # in H2's analysis sample
    patients["baseline_severity"] = np.where(patients["patient_id"] == one, 30.0, 10.0)
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    v = validate_tables(raw, {k: f"{k}.csv" for k in raw}, wai_sr, satisfaction=csq8)
    features = patient_features(v.patients, score_sessions(v.sessions, wai_sr),
                                score_patients(v.outcomes, csq8), outcomes=v.outcomes, early_window=3)
    (h2,) = [s for s in fit_family("dropout", features, COVARIATES).statuses if s["key"] == "H2"]
    assert (h2["status"], h2["reason"]) == (
        "separation", "quasi-complete separation: every dropout event has a baseline severity at or above "
                      "every other patient's")


def test_dropouts_before_any_session_at_risk_are_not_called_absent(default_config, wai_sr, csq8):
    """A real-data shape: every dropout left after the first session, so no session at risk (one after a
    scored alliance) ended in dropout. H2a, H2b and H2d had said "no patient dropped out" beside a cohort
    table of 15 dropouts; they say what is true of the sessions at risk (H2d too, with rupture data)."""
    cfg = default_config["synthetic"] | {"n_patients": 120, "n_therapists": 12, "truth_multiplier": 1,
                                         "seed": 12}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, COVARIATES)
    short = patients["patient_id"].iloc[::8]
    sessions = sessions[~sessions["patient_id"].isin(short) | (sessions["session"] == 1)]
    outcomes = outcomes.assign(dropout=outcomes["patient_id"].isin(short).astype(int))
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    v = validate_tables(raw, {k: f"{k}.csv" for k in raw}, wai_sr, satisfaction=csq8)
    scores = score_sessions(v.sessions, wai_sr)
    features = patient_features(v.patients, scores, score_patients(v.outcomes, csq8), outcomes=v.outcomes,
                                early_window=3)
    assert features["dropout"].sum() == len(short) == 15
    result = fit_family("dropout", features, COVARIATES, sessions=session_features(scores, v.patients, 3))
    statuses = {s["key"]: (s["status"], s["reason"]) for s in result.statuses}
    for key in ("H2a", "H2a-split", "H2b", "H2b-split"):
        assert statuses[key] == ("not_estimable", "no session at risk ended in dropout"), key


def test_a_library_warning_the_data_explain_is_a_note_in_words():
    """statsmodels' "The design matrix is rank-deficient..." (and numpy's covariance warning after it) in
    the imputation models of a small clinic had reached the report in English, in every language. They
    read as one note in words; a warning without words keeps the library's text, labelled."""
    import warnings

    from alliance.models.common import COLLINEAR, captured_warnings

    notes = []
    with captured_warnings(notes):
        warnings.warn("The design matrix is rank-deficient. The model parameters are not uniquely "
                      "determined.", UserWarning, stacklevel=1)
        warnings.warn("covariance is not symmetric positive-semidefinite.", RuntimeWarning, stacklevel=1)
        warnings.warn("something new", UserWarning, stacklevel=1)
    assert notes == [COLLINEAR, notes[1]] and str(notes[1]) == "Estimation warning: something new"
    with use_language("es"):
        assert COLLINEAR.render(format_value).startswith("algunos predictores eran colineales")
