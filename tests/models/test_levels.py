"""Session-level adherence models, the therapist/patient split and moderation by discipline."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from scipy.special import expit

from alliance.errors import NotEstimable
from alliance.features.build import build_features
from alliance.ingest.contract import validate_tables
from alliance.models import fit_family
from alliance.models.adherence import bias_reduced_gee
from alliance.models.common import Design, fit_logit_glm, session_design, summary_text
from alliance.models.levels import (
    PRIMARY,
    Primary,
    _fit_moderation,
    _fit_split,
    moderation_design,
    split_design,
    therapist_level_parameters,
)
from alliance.models.marginal import GRID_POINTS, marginal_predictions, reference_grid
from alliance.scoring.scores import score_patients, score_sessions
from alliance.simulation.synthetic import synthesize

COVARIATES = ["baseline_severity", "discipline"]
RUPTURES = {"criterion": "sd", "c": 2.0, "repair_window": 3, "reliability": None}


@pytest.fixture(scope="module")
def cohort(default_config, wai_sr, csq8):
    cfg = default_config["synthetic"] | {"n_patients": 800, "n_therapists": 40, "truth_multiplier": 1,
                                         "seed": 5}
    patients, sessions, outcomes, _ = synthesize(cfg, 3, COVARIATES)
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    v = validate_tables(raw, {k: f"{k}.csv" for k in raw}, wai_sr, satisfaction=csq8)
    return build_features(v.patients, v.outcomes, score_sessions(v.sessions, wai_sr),
                          patient_scores=score_patients(v.outcomes, csq8), early_window=3,
                          rupture_settings=RUPTURES,
                          total_alpha=None)


def test_session_design_splits_alliance_by_hand():
    features = pd.DataFrame({"patient_id": ["a", "b"], "therapist_id": ["t", "t"]})
    sessions = pd.DataFrame({
        "patient_id": ["a", "a", "a", "b", "b", "b"], "session": [1, 2, 3, 1, 2, 3],
        "y": [1, 0, 1, 1, np.nan, 0],
        "alliance_prev": [np.nan, 3.0, 4.0, np.nan, 2.0, 2.0],
        "alliance_between": [3.5, 3.5, 3.5, 2.0, 2.0, 2.0],
    })
    sessions["alliance_prev_within"] = sessions["alliance_prev"] - sessions["alliance_between"]
    design = session_design(features, sessions, outcome="y", response="y", covariates=[])
    steps = {s["step"]: s["n"] for s in design.flow}
    assert steps["y: excluded sessions: no y recorded"] == 1
    assert steps["y: excluded sessions: no earlier scored session"] == 2
    assert steps["y: sessions analysed"] == 3 and steps["y: patients analysed"] == 2
    # within deviations -0.5, 0.5, 0 (SD 0.5); person means 3.5 and 2 (mean 2.75, SD 1.0607).
    assert design.data["alliance_prev_within_z"].tolist() == pytest.approx([-1, 1, 0])
    between_sd = np.std([3.5, 2.0], ddof=1)
    assert design.data["alliance_between_z"].tolist() == pytest.approx(
        [0.75 / between_sd, 0.75 / between_sd, -0.75 / between_sd])
    assert "alliance_prev_within_z + alliance_between_z + C(session_band)" in design.formula


def test_split_parts_are_on_the_scale_of_the_predictor():
    data = pd.DataFrame({"patient_id": list("abcd"), "therapist_id": ["t1", "t1", "t2", "t2"],
                         "x": [1.0, 3.0, 4.0, 6.0], "y": [0, 1, 0, 1]})
    design = Design("y", "x", data, "y ~ x_z", [], scale_variance={"x": 0.01})
    split = split_design(design)
    sd = np.std([1.0, 3.0, 4.0, 6.0], ddof=1)
    # Therapist means 2 and 5 around 3.5; REML (balanced, by hand): within variance 4 / 2 = 2, therapist
    # variance 4.5 - 2 / 2 = 3.5, so each mean of 2 patients has reliability 3.5 / (3.5 + 1) = 7/9 and
    # shrinks to 3.5 -+ 1.5 * 7/9; the patient part is x minus the shrunken mean.
    shrunk = 3.5 + np.array([-1.5, -1.5, 1.5, 1.5]) * 7 / 9
    assert split.data["x_therapist_z"].tolist() == pytest.approx((shrunk - 3.5) / sd)
    assert split.data["x_patient_z"].tolist() == pytest.approx((np.array([1.0, 3.0, 4.0, 6.0]) - shrunk) / sd)
    assert split.data.attrs["therapist_reliability"] == pytest.approx(7 / 9)
    # The F test of the therapist means: mean squares 2 x 1.5^2 x 2 / 1 = 9 between, 2 within; F(1, 2) =
    # t(2)^2 with t = sqrt(4.5), whose two-sided p is 1 - t / sqrt(t^2 + 2).
    assert split.data.attrs["therapist_f"] == pytest.approx(4.5)
    assert split.data.attrs["therapist_f_df"] == (1, 2)
    assert split.data.attrs["therapist_f_p"] == pytest.approx(1 - np.sqrt(4.5 / 6.5))
    assert split.formula == "y ~ x_therapist_z + x_patient_z"
    assert split.predictor == "x_therapist"
    assert split.scale_variance == {"x_therapist": 0.01, "x_patient": 0.01}  # both per SD of x


def test_split_recovers_a_planted_therapist_level_slope():
    """Therapist-level slope 0.8, patient-level 0.3, 12 patients per therapist whose observed mean has a
    reliability of about .55: the observed-mean split attenuates the therapist-level slope (about 0.55 in
    this check), the shrunken-mean split recovers it (mean of 40 cohorts within 2 Monte Carlo SEs)."""
    rng = np.random.default_rng(5)
    shrunk, observed = [], []
    for _ in range(40):
        therapists, per = 60, 12
        mu = rng.normal(scale=np.sqrt(0.1), size=therapists)
        t = np.repeat(np.arange(therapists), per)
        x = mu[t] + rng.normal(size=therapists * per)
        y = 0.8 * mu[t] + 0.3 * (x - mu[t]) + rng.normal(size=len(x))
        data = pd.DataFrame({"patient_id": np.arange(len(x)), "therapist_id": t, "x": x, "y": y})
        split = split_design(Design("y", "x", data, "y ~ x_z", [], scale_variance={"x": 0.0}))
        fit = smf.ols(split.formula, split.data).fit()
        sd = x.std(ddof=1)
        shrunk.append(fit.params["x_therapist_z"] / sd)
        means = data.groupby("therapist_id")["x"].transform("mean")
        naive = smf.ols("y ~ m + d", data.assign(m=means, d=x - means)).fit()
        observed.append(naive.params["m"])
    mcse = np.std(shrunk, ddof=1) / np.sqrt(len(shrunk))
    assert abs(np.mean(shrunk) - 0.8) < 2 * mcse
    assert np.mean(observed) < 0.65  # the attenuated slope the shrinkage removes


def test_split_is_refused_when_the_therapist_means_do_not_differ_beyond_chance():
    """The same 12 values under each of 8 therapists: equal therapist means, F(7, 88) = 0, p = 1; shifted
    by half a point per therapist they differ and the split is fitted."""
    values = np.random.default_rng(2).normal(size=12)
    spec = Primary(design=None, fit=lambda design: "fitted", model="m", scale="points", n_obs=len,
                   outcome_sd=lambda data: None)

    def split(x):
        data = pd.DataFrame({"patient_id": np.arange(96), "therapist_id": np.repeat(np.arange(8), 12),
                             "x": x, "y": 0.0})
        return split_design(Design("y", "x", data, "y ~ x_z", [], scale_variance={"x": 0.0}))

    with pytest.raises(NotEstimable, match=re.escape(
            "the therapist means of x do not vary beyond chance (F(7, 88) = 0.00, p > .999): they are "
            "too unreliable to identify a therapist-level slope")):
        _fit_split(spec, split(np.tile(values, 8)))
    assert _fit_split(spec, split(np.tile(values, 8) + np.repeat(np.arange(8), 12) / 2)) == "fitted"


def test_a_split_on_three_therapists_has_no_jackknife_se_and_says_why():
    """Three therapists (two of one discipline, one of another), satisfaction on the split alliance with
    discipline as covariate: without either of the first two therapists the therapist-level slope and the
    discipline both separate the two therapists left, so the slope's jackknife draw is not determined (its
    SE came out 5.26 or 4.63 by which discipline was the reference, status boundary). Not estimable now,
    in words: its three therapist-level parameters (intercept, discipline, therapist mean) leave no
    therapist over even before a jackknife draw drops one (a reviewer's 4 therapists and 4 parameters)."""
    rng = np.random.default_rng(0)
    therapist = np.repeat(np.arange(3), 10)
    alliance = np.array([-1.0, 0.2, 0.9])[therapist] + 0.4 * rng.normal(size=30)
    discipline = np.array(["psychotherapy", "psychotherapy", "nutrition"])[therapist]
    satisfaction = 24 + 2 * alliance + (discipline == "nutrition") + 2 * rng.normal(size=30)
    data = pd.DataFrame({"patient_id": [f"p{i}" for i in range(30)],
                         "therapist_id": [f"t{t}" for t in therapist], "alliance_mean": alliance,
                         "alliance_mean_z": (alliance - alliance.mean()) / alliance.std(),
                         "discipline": discipline, "satisfaction": satisfaction})
    design = Design("satisfaction", "alliance_mean", data,
                    'satisfaction ~ alliance_mean_z + C(Q("discipline"))', ["discipline"],
                    scale_variance={"alliance_mean": 0.0})
    with pytest.raises(NotEstimable, match=re.escape(
            "3 therapists for 3 therapist-level parameters (the intercept, the covariates that are constant "
            "within therapists and the therapist mean): no therapist is left over to estimate the "
            "therapist-level slope")):
        _fit_split(PRIMARY["satisfaction"], split_design(design))
    assert therapist_level_parameters(split_design(design)) == 3
    assert therapist_level_parameters(split_design(replace(
        design, formula="satisfaction ~ alliance_mean_z"))) == 2  # the intercept and the therapist mean


def test_moderation_recovers_slopes_that_differ_by_discipline():
    rng = np.random.default_rng(3)
    n = 6000
    discipline = rng.choice(["nutrition", "psychotherapy"], size=n)
    x = rng.normal(size=n)
    slope = np.where(discipline == "nutrition", 0.2, 0.8)
    data = pd.DataFrame({"patient_id": np.arange(n), "therapist_id": rng.integers(0, 60, size=n),
                         "discipline": discipline, "x_z": x,
                         "y": (rng.random(n) < expit(-1 + slope * x)).astype(float)})
    design = moderation_design(Design("y", "x", data, "y ~ x_z", []))
    assert design.formula == 'y ~ C(Q("discipline")):x_z + C(Q("discipline"))'
    fit = fit_logit_glm(design)
    slopes = fit.params.filter(like=":x_z")
    assert slopes.to_numpy() == pytest.approx([0.2, 0.8], abs=0.1)
    one = data.assign(discipline="nutrition")  # one discipline: the design is left as it is (refused later)
    assert moderation_design(Design("y", "x", one, "y ~ x_z", [])).formula == "y ~ x_z"
    spec = PRIMARY["adherence"]
    with pytest.raises(NotEstimable, match=r"^1 discipline in the analysis sample: nothing to compare$"):
        _fit_moderation(spec, Design("y", "x", one, "y ~ x_z", []))
    # no discipline column in the patients' file (validation adds it empty): said so, not "0 disciplines"
    unrecorded = data.assign(discipline=pd.Series(pd.NA, index=data.index, dtype="string"))
    with pytest.raises(NotEstimable, match=r"^no patient in the analysis sample has a discipline recorded: "
                                           r"nothing to compare$"):
        _fit_moderation(spec, Design("y", "x", unrecorded, "y ~ x_z", []))


def test_ruptures_before_counts_only_earlier_sessions(cohort):
    sessions, ruptures = cohort["sessions"], cohort["ruptures"]
    patient = ruptures.loc[ruptures["rupture"], "patient_id"].iloc[0]
    at = ruptures.loc[ruptures["rupture"] & (ruptures["patient_id"] == patient), "session"].min()
    rows = sessions[sessions["patient_id"] == patient].set_index("session")["ruptures_before"]
    assert (rows.loc[:at] == 0).all()  # not at the rupture's own session
    assert rows.loc[at + 1] >= 1


def test_adherence_family_adds_the_session_level_models(cohort):
    result = fit_family("adherence", cohort["patients"], COVARIATES, sessions=cohort["sessions"])
    rows = pd.DataFrame(result.effects).set_index(["model", "predictor"])
    primary = rows.loc[("binomial_glm_cluster_therapist", "alliance_early")]
    gee = rows.loc[("gee_exchangeable_therapist", "alliance_early")]
    assert primary["analysis"] == "primary" and gee["analysis"] == "sensitivity"
    assert gee["estimate"] == pytest.approx(primary["estimate"], abs=0.05)
    assert abs(result.extra["therapist_correlation"]) < 0.1
    # Attendance was generated from early alliance (a patient-level trait): a between-patient effect.
    between = rows.loc[("session_logit_cluster_therapist", "alliance_between")]
    within = rows.loc[("session_logit_cluster_therapist", "alliance_prev_within")]
    assert between["ci_low"] > 0 and abs(within["estimate"]) < between["estimate"]
    # Home practice follows the current latent alliance: positive between patients.
    home = rows.loc[("lmm_patient_intercept_cluster_therapist", "alliance_between")]
    assert home["ci_low"] > 0 and home["scale"] == "points"
    assert set(result.extra["home_practice_variance"]) == {"patient", "residual"}
    # The split and the moderation rows of the primary model.
    assert {"alliance_early_therapist", "alliance_early_patient"} <= set(
        rows.xs("binomial_glm_cluster_therapist").index)
    moderated = [p for p in rows.index.get_level_values("predictor") if p.startswith("alliance_early [")]
    assert len(moderated) == 4
    # each discipline's slope has t on its own therapists - 1, and its status flag says so (it said t(39),
    # the model's few-cluster t over all 40 therapists)
    slopes = [rows.loc[("binomial_glm_cluster_therapist", p)] for p in moderated]
    dfs = [int(slope["n_therapists"]) - 1 for slope in slopes]
    for slope, df in zip(slopes, dfs, strict=True):
        assert (slope["ci_high"] - slope["estimate"]) / slope["std_error"] == pytest.approx(
            stats.t.ppf(0.975, df))
    flags = next(s["flags"] for s in result.statuses if s["key"] == "H1-moderation")
    assert flags.startswith("Few clusters: 40 therapists (fewer than 50); bias-reduced")
    assert "t(39)" not in flags
    assert flags.endswith(f"each discipline's slope with t intervals and p-values on its own therapists - 1 "
                          f"({min(dfs)} to {max(dfs)} degrees of freedom).")
    assert set(result.extra["level_tests"]) == {"therapist_vs_patient", "equal_slopes_by_discipline"}
    assert 0 < result.extra["level_tests"]["therapist_vs_patient"]["therapist_reliability"] < 1
    # the tests take the few-cluster correction as the intervals do: F on 39 denominator df, not chi-square
    # (a reviewer's 4 therapists had read "χ²(1) = 8.80, p = .003" where F(1, 3) gives .059)
    for test in result.extra["level_tests"].values():
        assert test["df_denom"] == 39
        assert test["p_value"] == pytest.approx(stats.f.sf(test["statistic"], test["df"], 39), rel=1e-9)


def test_a_gee_that_does_not_converge_says_so(cohort, monkeypatch):
    """The GEE's estimates and sandwich at its iteration limit are not a solution: it is reported as not
    converged, not fitted (a clinic's sessions, 11 to 1,466 per therapist, once stopped there and the
    status read only that the robust covariance was not finite)."""
    from alliance.models import adherence

    class Stopped(adherence.GEE):  # statsmodels' result at its iteration limit
        def fit(self, *args, **kwargs):
            result = super().fit(*args, **kwargs)
            result.converged = False
            return result

    monkeypatch.setattr(adherence, "GEE", Stopped)
    result = fit_family("adherence", cohort["patients"], COVARIATES, sessions=cohort["sessions"])
    status = {s["key"]: s for s in result.statuses}["H1-gee"]
    assert status["status"] == "not_converged"
    assert re.fullmatch(r"the GEE did not converge within its iteration limit \(exchangeable working "
                        r"correlation -?0\.\d{3} at the last iteration\)", status["reason"])
    assert "gee_exchangeable_therapist" not in {row["model"] for row in result.effects}
    # and where statsmodels gives up (no estimates, or a singular covariance), it says that
    monkeypatch.setattr(Stopped, "fit", lambda self, *args, **kwargs: None)
    result = fit_family("adherence", cohort["patients"], COVARIATES, sessions=cohort["sessions"])
    assert {s["key"]: s["reason"] for s in result.statuses}["H1-gee"] == (
        "the GEE could not be estimated: no solution or a singular covariance")


def test_a_discipline_with_one_therapist_keeps_the_bias_reduced_sandwich(cohort, monkeypatch):
    """A discipline whose patients all see one therapist gives that therapist a cluster leverage of 1:
    statsmodels' bias-reduced sandwich solved a singular (I - H_g) and, by rounding (the number of
    OpenBLAS threads), raised numpy's LinAlgError (a 10-site pooling check, seed 3099, site S3: 19
    therapists, one osteopath, stopped the models job, then reported "not estimable") or returned noise
    along the discipline's coefficients (here SEs of 41 for the intercept and the disciplines, their
    digits varying with the threads). With the Moore-Penrose inverse the primary model and the GEE are
    fitted and every SE is finite and small; the GEE's covariance is statsmodels' bias-reduced one on the
    same cohort before the discipline was moved to one therapist."""
    from alliance.models import adherence

    patients = cohort["patients"]
    five = patients.drop_duplicates("therapist_id").sort_values("therapist_id").groupby("discipline").head(5)
    few = patients[patients["therapist_id"].isin(five["therapist_id"])].copy()  # 20: bias-reduced
    fits = []
    monkeypatch.setattr(adherence, "bias_reduced_gee", lambda fit: fits.append(fit) or bias_reduced_gee(fit))
    result = fit_family("adherence", few, COVARIATES, sessions=cohort["sessions"])
    assert {s["key"]: s["status"] for s in result.statuses}["H1-gee"] in {"fitted", "boundary"}
    regular = fits[-1].model.fit(cov_type="bias_reduced", start_params=fits[-1].params)
    np.testing.assert_allclose(fits[-1].cov_params(), regular.cov_params(), rtol=1e-6)
    alone = few["discipline"] == "nutrition"
    few.loc[alone, "therapist_id"] = few.loc[alone, "therapist_id"].iloc[0]
    assert few.loc[alone, "therapist_id"].nunique() == 1
    result = fit_family("adherence", few, COVARIATES, sessions=cohort["sessions"])
    status = {s["key"]: s for s in result.statuses}
    assert status["H1"]["status"] == "fitted" and status["H1-gee"]["status"] in {"fitted", "boundary"}
    rows = pd.DataFrame(result.effects).set_index(["model", "predictor"])
    for model in ("binomial_glm_cluster_therapist", "gee_exchangeable_therapist"):
        row = rows.loc[(model, "alliance_early")]
        assert np.isfinite(row["std_error"]) and 0 < row["std_error"] < 0.5
    singular = fits[-1]  # statsmodels' own gave SEs of 41.18 (one OpenBLAS thread) and 41.09 (two) here
    assert (np.sqrt(np.diag(singular.cov_params())) < 1).all(), singular.bse  # the discipline's too


def test_a_negative_working_correlation_is_held_at_its_boundary(cohort, monkeypatch):
    """Attendance drawn alike for every session (no therapist effect) and a quarter of the patients moved to
    one therapist: the moment estimate of the exchangeable correlation falls below 0 and, unheld, below
    -1 / (n - 1) for that therapist's n sessions, where statsmodels' iterations oscillated to their limit
    (as on a clinic's cohort of 5 to 959 sessions per therapist). Held at 0, the GEE is the primary
    model's logistic regression: the same estimate, and the same SE below `min_clusters` therapists (both
    bias-reduced), reported at its boundary."""
    features = cohort["patients"].copy()
    features.loc[features.index[::4], "therapist_id"] = sorted(features["therapist_id"].unique())[0]
    scheduled = features["scheduled_after_window"].astype(int)
    features["attended_after_window"] = np.random.default_rng(0).binomial(scheduled, 0.85)
    features["missed_after_window"] = scheduled - features["attended_after_window"]
    result = fit_family("adherence", features, COVARIATES)
    status = {s["key"]: s for s in result.statuses}
    assert status["H1"]["status"] == "fitted" and status["H1-gee"]["status"] == "boundary"
    assert re.fullmatch(r"the working correlation of a therapist's sessions is estimated below 0 "
                        r"\(-\.\d{4}\) and held at 0, its boundary: the GEE reduces to the primary model's "
                        r"logistic regression", status["H1-gee"]["reason"])
    assert result.extra["therapist_correlation"] == 0
    rows = pd.DataFrame(result.effects).set_index(["model", "predictor"])
    primary = rows.loc[("binomial_glm_cluster_therapist", "alliance_early")]
    gee = rows.loc[("gee_exchangeable_therapist", "alliance_early")]
    for column in ("estimate", "std_error", "ci_low", "ci_high"):
        assert gee[column] == pytest.approx(primary[column], rel=1e-6), column
    # with at least `min_clusters` therapists both take the plain sandwich: the same estimate, and the
    # primary model's CR1 SE larger by its small-sample factor sqrt(G / (G - 1) (N - 1) / (N - K)) alone
    plain = fit_family("adherence", features, COVARIATES, min_clusters=10)
    rows = pd.DataFrame(plain.effects).set_index(["model", "predictor"])
    primary = rows.loc[("binomial_glm_cluster_therapist", "alliance_early")]
    gee = rows.loc[("gee_exchangeable_therapist", "alliance_early")]
    g, n, k = primary["n_therapists"], primary["n_patients"], 2 + len(COVARIATES) + 2  # 4 disciplines
    assert gee["estimate"] == pytest.approx(primary["estimate"], rel=1e-6)
    assert primary["std_error"] / gee["std_error"] == pytest.approx(np.sqrt(g / (g - 1) * (n - 1) / (n - k)),
                                                                    rel=1e-4)  # G / (G - 1) alone: 3e-3 off
    # an estimate that would be written -.0000 is said in words
    from alliance.models import adherence

    class Tiny(adherence.NonNegativeExchangeable):
        def update(self, params):
            super().update(params)
            self.estimate, self.dep_params = -0.00002, 0.0

    monkeypatch.setattr(adherence, "NonNegativeExchangeable", Tiny)
    result = fit_family("adherence", features, COVARIATES)
    assert {s["key"]: s["reason"] for s in result.statuses}["H1-gee"] == (
        "the working correlation of a therapist's sessions is estimated just below 0 (above -.0001) and held "
        "at 0, its boundary: the GEE reduces to the primary model's logistic regression")


def test_no_home_practice_column_is_a_note(cohort):
    sessions = cohort["sessions"].drop(columns=["home_practice"])
    result = fit_family("adherence", cohort["patients"], COVARIATES, sessions=sessions)
    status = {s["key"]: s for s in result.statuses}
    assert (status["H1b"]["status"], status["H1b"]["reason"]) == ("not_estimable",
                                                                  "no home-practice scores in the data")
    assert "lmm_patient_intercept_cluster_therapist" not in {row["model"] for row in result.effects}


def test_the_few_cluster_threshold_of_the_config_reaches_every_model(cohort):
    """`models.min_clusters` decides the few-cluster rule of the session-level models too: they were built
    from a merge of the sessions with the features, which kept none of the settings, and took the default
    50 whatever the config said (a reviewer's min_clusters of 20 left H1a, H2a, H2b, H2d, H4a and H4b
    "Few clusters: 40 therapists (fewer than 50)")."""
    for family in ("adherence", "dropout", "symptoms"):
        for minimum, few in ((20, False), (50, True)):
            result = fit_family(family, cohort["patients"], COVARIATES, sessions=cohort["sessions"],
                                early_window=3, min_clusters=minimum)
            clustered = [s for s in result.statuses if s["status"] in ("fitted", "boundary")
                         and s["key"] not in ("H2c", "H3-ordinal")]
            assert len(clustered) >= 3, family
            for status in clustered:
                flagged = "Few clusters: 40 therapists (fewer than 50)" in status["flags"]
                assert flagged is few, (family, minimum, status["key"], status["flags"])


def test_every_model_on_complete_cases_that_lose_many_patients_is_flagged(cohort):
    """A covariate missing for 30% of the patients: every model whose complete cases lose them says so, the
    checks, splits and moderation refitted on the primary sample and the session-level models too (only
    H1 and H2 had the flag; the refits had it wiped and the session designs never computed it)."""
    features = cohort["patients"].copy()
    features.loc[features.index % 10 < 3, "baseline_severity"] = np.nan
    for family, keys in (("adherence", {"H1", "H1-gee", "H1a", "H1b", "H1-moderation"}),
                         ("dropout", {"H2", "H2a", "H2a-split", "H2b", "H2b-split", "H2d", "H2-moderation"})):
        result = fit_family(family, features, COVARIATES, sessions=cohort["sessions"], early_window=3)
        fitted = {s["key"]: s["flags"] for s in result.statuses if s["status"] in ("fitted", "boundary")}
        assert keys <= set(fitted), (family, sorted(fitted))
        for key in set(fitted) - {"H2c"}:  # the Kaplan-Meier curves have no covariates
            assert re.search(r"Complete cases: \d+ \(\d+\.\d%\) of the \d+ patients otherwise analysed miss "
                             r"a value of baseline severity", fitted[key]), (key, fitted[key])
    clean = fit_family("adherence", cohort["patients"], COVARIATES, sessions=cohort["sessions"])
    assert not any("Complete cases" in s["flags"] for s in clean.statuses)


def test_home_practice_at_a_session_not_attended_is_not_analysed(cohort):
    """H1b analyses attended sessions: an export that writes 0 for the home practice of a missed session
    gives the same estimates, its missed sessions counted in a flow step of their own (they had entered
    the model: 522 rows in a reviewer's run)."""
    sessions = cohort["sessions"]
    missed = ~sessions["attended"].astype(bool)
    filled = sessions.assign(home_practice=sessions["home_practice"].mask(missed, 0.0))
    assert sessions.loc[missed, "home_practice"].isna().all() and missed.sum() > 100

    def home(table: pd.DataFrame) -> tuple[list, dict]:
        result = fit_family("adherence", cohort["patients"], COVARIATES, sessions=table)
        rows = [(r["predictor"], r["estimate"], r["std_error"], r["n_obs"]) for r in result.effects
                if r["outcome"] == "home practice"]
        return rows, {s["step"]: s["n"] for s in result.flow if s["step"].startswith("home practice:")}

    (plain, plain_flow), (zeros, zeros_flow) = home(sessions), home(filled)
    assert len(plain) == 2 and zeros == plain
    step = "home practice: excluded sessions: session not attended"
    assert zeros_flow[step] == plain_flow[step] == missed.sum()
    assert zeros_flow["home practice: excluded sessions: no home practice recorded"] == plain_flow[
        "home practice: excluded sessions: no home practice recorded"]


def test_models_that_cannot_be_fitted_have_a_status_and_a_reason(cohort):
    """No dropout at all: no dropout model has an estimate; each says why in words (no library text),
    the checks of the primary model are refused, and the family still returns."""
    features = cohort["patients"].assign(dropout=pd.array([False] * len(cohort["patients"]),
                                                          dtype="boolean"))
    result = fit_family("dropout", features, COVARIATES, sessions=cohort["sessions"], early_window=3)
    assert result.effects == []
    status = {s["key"]: (s["status"], s["reason"]) for s in result.statuses}
    assert status == {
        "H2": ("not_estimable", "no analysed patient dropped out after the early window"),
        "H2c": ("not_estimable", "no patient dropped out after the early window"),
        "H2a": ("not_estimable", "no session at risk ended in dropout"),
        "H2b": ("not_estimable", "no session at risk ended in dropout"),
        "H2a-split": ("not_estimable", "no session at risk ended in dropout"),
        "H2b-split": ("not_estimable", "no session at risk ended in dropout"),
        "H2d": ("not_estimable", "no session at risk ended in dropout"),
        "H2-split": ("refused", "the primary model was not fitted"),
        "H2-moderation": ("refused", "the primary model was not fitted"),
    }
    assert result.summary == "The primary model was not fitted."


@pytest.mark.parametrize("family", ["adherence", "dropout", "satisfaction"])
def test_marginal_predictions_match_statsmodels(cohort, family):
    spec = PRIMARY[family]
    design = spec.design(cohort["patients"], COVARIATES)
    fit = spec.fit(design)
    table = marginal_predictions(family, cohort["patients"], COVARIATES, fit=fit)
    grid, reference = reference_grid(design)
    assert len(table) == GRID_POINTS and "discipline = psychotherapy" in reference
    assert table["alliance_z"].iloc[[0, -1]].tolist() == [-2.0, 2.0]
    x = design.data[design.predictor]
    assert table["alliance"].iloc[-1] == pytest.approx(x.mean() + 2 * x.std())
    if family == "satisfaction":  # statsmodels MixedLM's fixed-effects prediction
        mixed = smf.mixedlm(design.formula, design.data, groups=design.data["therapist_id"]).fit(reml=True)
        assert table["prediction"].to_numpy() == pytest.approx(np.asarray(mixed.predict(grid)), rel=1e-4)
    else:
        prediction = fit.get_prediction(grid)
        assert table["prediction"].to_numpy() == pytest.approx(prediction.summary_frame()["mean"].to_numpy())
        # statsmodels' prediction interval uses t on n - k df; the pipeline's uses the fit's own reference,
        # t(therapists - 1) with fewer than min_clusters therapists, as the fit's conf_int does
        therapists = design.data["therapist_id"].nunique()
        crit = stats.t.ppf(0.975, therapists - 1) if therapists < 50 else stats.norm.ppf(0.975)
        eta, se = prediction.linpred.predicted_mean, prediction.linpred.se_mean
        assert table["ci_low"].to_numpy() == pytest.approx(expit(eta - crit * se))
        assert table["ci_high"].to_numpy() == pytest.approx(expit(eta + crit * se))
    assert (table["ci_low"] <= table["prediction"]).all() and (table["prediction"] <= table["ci_high"]).all()
    slope = np.sign(table["prediction"].iloc[-1] - table["prediction"].iloc[0])
    assert slope == (-1 if family == "dropout" else 1)


def test_summary_text_has_no_date_or_time(cohort):
    spec = PRIMARY["dropout"]
    text = summary_text(spec.fit(spec.design(cohort["patients"], COVARIATES)))
    assert "Date:" in text and "Time:" in text
    assert not re.search(r"\d{2}:\d{2}:\d{2}|\w{3}, \d{2} \w{3} \d{4}", text)
    assert len({len(line) for line in text.splitlines()[2:8]}) == 1  # the table stays aligned


def test_moderation_needs_several_therapists_per_discipline(cohort):
    features = cohort["patients"].copy()
    lone = features["therapist_id"].iloc[0]
    features.loc[features["therapist_id"] == lone, "discipline"] = "other"
    result = fit_family("dropout", features, COVARIATES)
    moderation = next(s for s in result.statuses if s["key"] == "H2-moderation")
    assert moderation["status"] == "refused"
    assert moderation["reason"] == ("other has 1 therapist (fewer than 3): its slope's cluster-robust SE "
                                    "would rest on too few clusters")
    assert not any("[" in row["predictor"] for row in result.effects)
    assert result.effects[0]["analysis"] == "primary"
