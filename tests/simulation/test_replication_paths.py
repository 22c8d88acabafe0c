"""The short paths a simulation replication takes give the workflow's numbers to the last digit: typed
columns, generated tables not re-checked, patsy's categorical codes, the remembered Hessian of the
proportional-odds model (and its written-out score) and the families without their descriptive parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
import pytest
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.tools.numdiff import approx_fprime

from alliance.ingest.contract import validate_tables
from alliance.models import fit_family
from alliance.models.common import FORMULA_ENV, FORMULA_NAMES, formula_frame
from alliance.models.satisfaction import LogitOrderedModel
from alliance.simulation.study import (
    analyse_cohort,
    cohort_features,
    condition_synthetic,
    replication_seed,
)
from alliance.simulation.synthetic import generate_cohort

CONDITION = {"condition": "n120_t12_e1.0", "patients": 120, "therapists": 12, "effect_scale": 1.0}


@pytest.fixture(scope="module")
def cohort(default_config):
    cfg = condition_synthetic(default_config["synthetic"], CONDITION)
    rng = np.random.default_rng(replication_seed(7, CONDITION["condition"], 1))
    return generate_cohort(cfg, default_config["features"]["early_window"], rng)[:3]


def test_typed_columns_are_coerced_as_through_their_text(cohort, wai_sr, csq8):
    raw = dict(zip(("patients", "sessions", "outcomes"), cohort, strict=True))
    assert str(raw["sessions"]["wai_sr_01"].dtype) == "Int64"  # numbers arrive typed, not as text
    files = {name: name for name in raw}
    typed = validate_tables(raw, files, wai_sr, satisfaction=csq8)
    as_text = validate_tables({k: v.astype(object) for k, v in raw.items()}, files, wai_sr, satisfaction=csq8)
    unchecked = validate_tables(raw, files, wai_sr, satisfaction=csq8, checks=False)
    for name in raw:
        pd.testing.assert_frame_equal(getattr(typed, name), getattr(as_text, name), check_exact=True)
        pd.testing.assert_frame_equal(getattr(typed, name), getattr(unchecked, name), check_exact=True)


def test_formula_frame_gives_patsy_the_same_design():
    rng = np.random.default_rng(3)
    n = 300
    data = pd.DataFrame({
        "y": rng.integers(0, 2, n).astype(float),
        "x": np.where(rng.random(n) < 0.05, np.nan, rng.standard_normal(n)),
        "session_band": rng.integers(1, 13, n),
        "discipline": pd.array(rng.choice(["physiotherapy", "nutrition", "osteopathy"], n), dtype="string"),
        "site": np.where(rng.random(n) < 0.1, None, rng.choice(["b", "a"], n)),  # None: missing to patsy
    }, index=rng.permutation(n) + 1000)
    formula = 'y ~ x + C(session_band) + C(Q("discipline")) + C(site)'
    frame = formula_frame(data, formula)
    assert str(data["discipline"].dtype) == "string"  # unchanged
    assert isinstance(frame["discipline"].dtype, pd.CategoricalDtype)
    assert frame["site"].dtype == object  # missing values: left to patsy
    before = patsy.dmatrices(formula, data, return_type="dataframe")
    after = patsy.dmatrices(formula, frame, FORMULA_ENV, return_type="dataframe")
    for old, new in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(old, new, check_exact=True)
    glm = GLM.from_formula(formula, data, family=families.Binomial()).fit()
    fast = GLM.from_formula(formula, frame, family=families.Binomial(), eval_env=FORMULA_NAMES).fit()
    assert glm.params.equals(fast.params) and glm.bse.equals(fast.bse)


def test_ordinal_score_and_hessian_are_statsmodels_numerical_ones_and_the_hessian_is_remembered():
    """The written-out score of the proportional-odds model (two predictors, six categories, one of them
    empty in the data) against statsmodels' numerical derivatives of the log-likelihood, per observation;
    the Hessian from it against statsmodels' second differences; and the Hessian remembered, not changed."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((300, 2))
    latent = x @ [0.8, -0.3] + rng.logistic(size=300)
    levels = np.digitize(latent, [-2, -1, 0, 0.5, 1.5])
    y = pd.Series(pd.Categorical(levels, categories=range(7), ordered=True))  # category 6: no one
    model = LogitOrderedModel(y, pd.DataFrame(x, columns=["a", "b"]), distr="logit")
    params = np.array([0.7, -0.2, -1.8, -0.1, 0.2, -0.5, 0.3, 0.1])
    numerical = approx_fprime(params, model.loglikeobs, centered=True)
    assert model.score_obs(params) == pytest.approx(numerical, abs=1e-7)
    assert model.score(params) == pytest.approx(numerical.sum(axis=0), abs=1e-6)
    first = model.hessian(params)
    assert first == pytest.approx(super(LogitOrderedModel, model).hessian(params), rel=1e-4, abs=1e-4)
    first[0, 0] = np.nan  # the caller's copy
    again = model.hessian(params)
    assert np.isfinite(again).all() and np.array_equal(again, again.T)
    assert np.array_equal(again, model.hessian(params.copy()))
    assert not np.array_equal(model.hessian(params + 0.1), again)


def test_families_without_their_descriptions_give_the_same_rows(cohort, default_config):
    kw = {"early_window": default_config["features"]["early_window"], "ruptures": default_config["ruptures"]}
    features = cohort_features(*cohort, **kw)
    covariates = default_config["models"]["covariates"]
    for family in ("adherence", "dropout", "satisfaction", "symptoms"):
        args = (family, features["patients"], covariates)
        full = fit_family(*args, sessions=features["sessions"], early_window=kw["early_window"])
        short = fit_family(*args, sessions=features["sessions"], early_window=kw["early_window"],
                           describe=False)
        pd.testing.assert_frame_equal(pd.DataFrame(short.effects), pd.DataFrame(full.effects),
                                      check_exact=True)
        assert short.notes == full.notes
        assert short.statuses == [s for s in full.statuses if s["key"] != "H2c"]
        assert short.summary == "" and "marginal" not in short.extra
    table = analyse_cohort(*cohort, covariates=covariates, **kw)
    assert (table["status"] == "ok").any()
