"""Random-intercept models from a formula (alliance.models.random_intercept) against statsmodels MixedLM."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf
from scipy import stats

from alliance.models.common import Design, cluster_inference
from alliance.models.random_intercept import fit_random_intercept
from alliance.stats.clusters import cr3_covariance

FORMULA = "y ~ x + C(site) + z"


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    """Unbalanced groups (2-14 rows), a group effect of SD 0.7, three sites and a cluster above groups."""
    rng = np.random.default_rng(8)
    sizes = rng.integers(2, 15, 120)
    group = np.repeat(np.arange(120), sizes)
    n = len(group)
    frame = pd.DataFrame({"group": [f"g{g:03d}" for g in group], "cluster": group // 6,
                          "x": rng.normal(size=n), "z": rng.normal(size=n),
                          "site": rng.choice(["a", "b", "c"], n)})
    frame["y"] = (1 + 0.5 * frame["x"] - 0.2 * frame["z"] + (frame["site"] == "b") * 0.3
                  + rng.normal(0, 0.7, 120)[group] + rng.normal(size=n))
    return frame


@pytest.fixture(scope="module")
def mixed(data):
    return smf.mixedlm(FORMULA, data, groups=data["group"]).fit(reml=True, method="powell")


def test_estimates_equal_statsmodels_mixedlm(data, mixed):
    fit = fit_random_intercept(FORMULA, data, "group")
    assert list(fit.params.index) == list(mixed.fe_params.index)
    assert fit.params.to_numpy() == pytest.approx(mixed.fe_params.to_numpy(), abs=1e-4)
    # MixedLM's SEs come from the full observed information (not block-diagonal when unbalanced).
    assert fit.bse.to_numpy() == pytest.approx(mixed.bse_fe.to_numpy(), rel=5e-3)
    assert fit.cov_re[0, 0] == pytest.approx(float(mixed.cov_re.iloc[0, 0]), rel=1e-3)
    assert fit.scale == pytest.approx(mixed.scale, rel=1e-4)
    assert fit.llf == pytest.approx(mixed.llf, abs=1e-4)
    assert fit.converged


def test_intervals_and_p_values_are_on_the_normal_scale(data):
    fit = fit_random_intercept(FORMULA, data, "group")
    low, high = fit.conf_int().loc["x"]
    assert (high - low) / 2 == pytest.approx(1.959964 * fit.bse["x"], rel=1e-6)
    test = fit.wald_test("x = 0", scalar=True)
    assert float(test.pvalue) == pytest.approx(fit.pvalues["x"], rel=1e-6)


def test_fitted_values_and_predictions_equal_statsmodels(data, mixed):
    fit = fit_random_intercept(FORMULA, data, "group")
    assert fit.fittedvalues.to_numpy() == pytest.approx(mixed.fittedvalues.to_numpy(), abs=1e-3)
    grid = pd.DataFrame({"x": [-1.0, 0.0, 2.0], "z": 0.0, "site": ["a", "b", "c"]})
    assert fit.predict(grid).to_numpy() == pytest.approx(np.asarray(mixed.predict(grid)), abs=1e-4)


def test_clustered_standard_errors_are_ols_on_the_quasi_demeaned_rows(data):
    fit = fit_random_intercept(FORMULA, data, "group", cluster="cluster")
    y, x = fit.reml.quasi_demeaned(*_matrices(data), pd.factorize(data["group"], sort=True)[0])
    reference = sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": data["cluster"].to_numpy()})
    assert fit.bse.to_numpy() == pytest.approx(reference.bse, rel=1e-10)
    assert fit.n_clusters == 20
    assert "cluster-robust by cluster (20 clusters)" in fit.summary()


def test_summary_states_the_model_and_variances(data):
    text = fit_random_intercept(FORMULA, data, "group").summary()
    assert text.startswith("Linear mixed model, random intercept per group (REML")
    assert "groups (group): 120" in text and "group variance:" in text and "model-based" in text


def test_transformed_row_statistics_are_not_offered(data):
    with pytest.raises(AttributeError, match="rsquared"):
        _ = fit_random_intercept(FORMULA, data, "group").rsquared


def _matrices(data: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    model = smf.ols(FORMULA, data)
    return model.endog, model.exog


def test_a_zero_group_variance_is_the_boundary_status():
    """Groups with identical means: REML puts the group variance at 0, and the design says so."""
    rng = np.random.default_rng(3)
    group = np.repeat(np.arange(40), 5)
    noise = pd.Series(rng.normal(size=len(group)))
    frame = pd.DataFrame({"group": group, "y": 2 + noise - noise.groupby(group).transform("mean"),
                          "x": rng.normal(size=len(group)), "therapist_id": group, "patient_id": group})
    design = Design("y", "x", frame, "y ~ x", [])
    fit = fit_random_intercept("y ~ x", frame, "group", design=design)
    assert fit.cov_re[0, 0] == 0 and fit.converged
    assert design.status == "boundary"
    assert str(design.reason) == ("the group variance is estimated as 0 (its boundary): the model reduces to "
                             "ordinary least squares")
    assert fit_random_intercept("y ~ 1", frame, "group").cov_re[0, 0] == 0  # no design: no status kept


def test_one_row_per_group_is_flagged_and_few_groups_use_t():
    """One patient per therapist: the therapist variance is not identified (a flag, OLS); 6 therapists
    (fewer than min_clusters) with therapist-clustered SEs: the jackknife (CR3) covariance of the
    quasi-demeaned rows and t(5) intervals, exactly t(5)'s."""
    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"therapist_id": np.arange(30), "patient_id": np.arange(30),
                          "x": rng.normal(size=30)})
    frame["y"] = 1 + 0.5 * frame["x"] + rng.normal(size=30)
    design = Design("y", "x", frame.copy(), "y ~ x", [])
    design.data.attrs["min_clusters"] = 20  # 30 therapists are not few here
    fit = fit_random_intercept("y ~ x", frame, "therapist_id", design=design)
    assert design.status == "fitted"
    assert [str(flag) for flag in design.flags] == [
        "One patient per therapist: the therapist variance is not identified; the model is ordinary least "
        "squares."]
    ols = sm.OLS(frame["y"], sm.add_constant(frame["x"])).fit()
    assert np.allclose(fit.params.to_numpy(), ols.params.to_numpy())
    few = frame.assign(therapist_id=np.arange(30) % 6)
    design = Design("y", "x", few, "y ~ x", [])
    fit = fit_random_intercept("y ~ x", few, "therapist_id", cluster="therapist_id", design=design,
                               inference=cluster_inference(design))
    assert str(design.flags[-1]) == ("Few clusters: 6 therapists (fewer than 50); jackknife (CR3) therapist-"
                                     "cluster-robust standard errors, with t(5) intervals and p-values.")
    y_star, x_star = fit.reml.quasi_demeaned(few["y"].to_numpy(), sm.add_constant(few["x"]).to_numpy(),
                                             few["therapist_id"].to_numpy())
    cr3 = cr3_covariance(x_star, y_star, few["therapist_id"].to_numpy())
    assert np.allclose(fit.bse.to_numpy(), np.sqrt(np.diag(cr3)))
    _, high = fit.conf_int().loc["x"]
    assert np.isclose(high - fit.params["x"], stats.t.ppf(0.975, 5) * fit.bse["x"])
