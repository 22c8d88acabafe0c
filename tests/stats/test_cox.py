"""The Cox model's cluster-robust covariance against R's published output, on tied times, strata, clusters.

Reference: R's survival package (github.com/therneau/survival, commit a2533a9), its own saved test outputs,
for the Wei, Lin & Weissfeld marginal model of the `bladder` data (tests/stats/data/bladder.csv, 340 rows =
85 patients x 4 recurrences, 112 events, many tied `stop` times):

    coxph(Surv(stop, event) ~ (rx + size + number) * strata(enum), cluster = id, bladder, ties = ...)

- ties = "breslow": tests/bladder.Rout.save (`wfit`);
- ties = "efron" (R's default): tests/Examples/survival-Ex.Rout.save, the `coxph` help-page example (there
  fitted on `bladder[bladder$enum < 5, ]`, which is all of `bladder`).

R's robust variance is H^-1 (sum_g U_g U_g') H^-1 with no G/(G-1) factor, the quantity
`cluster_robust_cox_cov` documents, so the SEs are compared directly, to the printed 5 decimals. The PHReg
is built as `fit_cox_time_varying` builds it (statsmodels PHReg, `ties=`, `strata=`, status as integers).

Finding (statsmodels 0.15.0): `PHReg.score_residuals` uses Breslow increments whatever `ties` is, so with
Efron ties (the pipeline's) its sandwich was 0.7-3.4% too small against R; `cluster_robust_cox_cov` now
uses `efron_score_residuals` (closed-form sums over Efron's steps), checked here against R and against a
step-by-step implementation of the definition.

Second opinion, not a reference: lifelines 0.30.3, `CoxPHFitter().fit(df, "stop", "event",
cluster_col="id", strata=["enum"])` (Efron only) reproduces R's coefficients to 5 decimals but not its
robust SEs (rx 0.31170, size 0.08808, number 0.07472, ... number:enum4 0.10834; R: 0.31524, 0.08863,
0.07459, ... 0.11973), nor the pipeline's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from alliance.stats.cox import cluster_robust_cox_cov
from alliance.stats.cox import efron_score_residuals as pipeline_residuals

BLADDER = Path(__file__).parent / "data" / "bladder.csv"
TERMS = ["rx", "size", "number", *(f"{name}:enum{k}" for name in ("rx", "size", "number") for k in (2, 3, 4))]
PRINTED = 5e-6  # half a unit in the 5th decimal, the precision R printed
# Columns coef, se(coef), robust se as R printed them, in the order of TERMS.
PUBLISHED = {
    "breslow": np.array([  # tests/bladder.Rout.save
        [-0.51762, 0.31576, 0.30750], [0.06789, 0.10125, 0.08529], [0.23599, 0.07608, 0.07208],
        [-0.10182, 0.50427, 0.32654], [-0.18226, 0.55790, 0.39162], [-0.13317, 0.65813, 0.49680],
        [-0.14401, 0.16800, 0.11190], [-0.27920, 0.20862, 0.15115], [-0.27106, 0.25146, 0.18563],
        [-0.09843, 0.11931, 0.11439], [-0.06616, 0.12983, 0.11672], [0.09280, 0.14657, 0.11754]]),
    "efron": np.array([  # tests/Examples/survival-Ex.Rout.save, help page of coxph
        [-0.52598, 0.31583, 0.31524], [0.06961, 0.10156, 0.08863], [0.23818, 0.07588, 0.07459],
        [-0.10633, 0.50424, 0.33396], [-0.17251, 0.55780, 0.39868], [-0.10945, 0.65730, 0.50636],
        [-0.14737, 0.16803, 0.11409], [-0.28345, 0.20894, 0.15220], [-0.27607, 0.25222, 0.18904],
        [-0.10125, 0.11904, 0.11759], [-0.06467, 0.12925, 0.12035], [0.09429, 0.14594, 0.11973]]),
}


def bladder() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows and R's design matrix of `(rx + size + number) * strata(enum)`: main effects, then each
    covariate times the indicator of recurrence 2, 3, 4 (treatment contrasts against enum 1)."""
    data = pd.read_csv(BLADDER, comment="#")
    exog = data[["rx", "size", "number"]].astype(float)
    for name in ("rx", "size", "number"):
        for k in (2, 3, 4):
            exog[f"{name}:enum{k}"] = data[name] * (data["enum"] == k)
    return data, exog[TERMS]


def pipeline_fit(ties: str):
    """PHReg as `fit_cox_time_varying` builds it, and the pipeline's sandwich clustered by patient."""
    data, exog = bladder()
    model = sm.PHReg(data["stop"].to_numpy(dtype=float), exog, status=data["event"].to_numpy(),
                     ties=ties, strata=data["enum"].to_numpy())
    fit = model.fit()
    return data, model, fit, cluster_robust_cox_cov(model, fit.params, data["id"])


def efron_score_residuals(model: sm.PHReg, data: pd.DataFrame, exog: pd.DataFrame,
                          params: np.ndarray) -> np.ndarray:
    """Score residuals of the Efron partial likelihood (right-censored rows, strata), as R's coxph
    computes them: at an event time with d tied events, step k = 0..d-1 removes k/d of each tied row's
    risk, and each tied row gets 1/d of (x - mean_k) at each step. They sum to the Efron score."""
    x, time, status = exog.to_numpy(dtype=float), data["stop"].to_numpy(), data["event"].to_numpy()
    risk_score = np.exp(x @ params - (x @ params).max())
    residuals = np.zeros_like(x)
    for stratum in np.unique(data["enum"]):
        rows = data["enum"].to_numpy() == stratum
        for moment in np.unique(time[rows & (status == 1)]):
            at_risk, tied = rows & (time >= moment), rows & (time == moment) & (status == 1)
            ties = tied.sum()
            s0, s1 = risk_score[at_risk].sum(), risk_score[at_risk] @ x[at_risk]
            d0, d1 = risk_score[tied].sum(), risk_score[tied] @ x[tied]
            for k in range(ties):
                share = k / ties
                denominator = s0 - share * d0
                mean = (s1 - share * d1) / denominator
                residuals[tied] += (x[tied] - mean) / ties
                weight = np.where(tied, 1 - share, 1.0) * risk_score / denominator
                residuals[at_risk] -= weight[at_risk, None] * (x[at_risk] - mean)
    assert np.allclose(residuals.sum(axis=0), model.score(params), atol=1e-8)
    return residuals


def test_bladder_file_is_the_published_sample():
    """R printed n= 340, number of events= 112 for both fits; 85 patients with 4 rows each."""
    data, _ = bladder()
    assert len(data) == 340 and data["event"].sum() == 112
    assert data["id"].nunique() == 85 and (data.groupby("id").size() == 4).all()
    assert data["stop"][data["event"] == 1].duplicated().any()  # tied event times: the ties method matters


@pytest.mark.parametrize("ties", ["breslow", "efron"])
def test_coefficients_and_model_ses_match_r(ties):
    """statsmodels' Breslow and Efron partial likelihoods with strata give R's coef and se(coef)."""
    _, _, fit, _ = pipeline_fit(ties)
    np.testing.assert_allclose(fit.params, PUBLISHED[ties][:, 0], rtol=0, atol=PRINTED)
    np.testing.assert_allclose(fit.bse, PUBLISHED[ties][:, 1], rtol=0, atol=PRINTED)


def test_cluster_robust_ses_match_r_with_breslow_ties():
    """The sandwich (per-cluster sums of score residuals, strata, no G/(G-1)) gives R's robust se."""
    _, _, _, cov = pipeline_fit("breslow")
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), PUBLISHED["breslow"][:, 2], rtol=0, atol=PRINTED)


def test_wei_treatment_contrasts_match_r_to_seven_digits():
    """bladder.Rout.save also prints, to 7 digits, the treatment effect per recurrence (rx + rx:enum k) and
    their robust covariance (Wei et al. 1989, table 5 and eqn 3.2), a finer check of the sandwich."""
    _, _, fit, cov = pipeline_fit("breslow")
    rx = [TERMS.index(term) for term in ("rx", "rx:enum2", "rx:enum3", "rx:enum4")]
    contrast = np.eye(4)
    contrast[0, :] = 1
    np.testing.assert_allclose(fit.params[rx] @ contrast, [-0.5176209, -0.6194404, -0.6998771, -0.6507935],
                               rtol=0, atol=5e-8)
    np.testing.assert_allclose(contrast.T @ cov[np.ix_(rx, rx)] @ contrast, [
        [0.09455501, 0.06017669, 0.05677331, 0.0437777],
        [0.06017669, 0.13242834, 0.13011557, 0.1160420],
        [0.05677331, 0.13011557, 0.17235879, 0.1590865],
        [0.0437777, 0.1160420, 0.1590865, 0.2398112]], rtol=0, atol=5e-8)


def test_cluster_robust_ses_match_r_with_efron_ties():
    """The pipeline's path (Efron ties, strata, clusters): the robust se R printed."""
    _, _, _, cov = pipeline_fit("efron")
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), PUBLISHED["efron"][:, 2], rtol=0, atol=PRINTED)


def test_efron_score_residuals_follow_the_step_by_step_definition():
    """The pipeline's closed-form Efron residuals equal the definition computed step by step (and so sum
    to the Efron score)."""
    data, model, fit, _ = pipeline_fit("efron")
    expected = efron_score_residuals(model, data, bladder()[1], fit.params)
    np.testing.assert_allclose(pipeline_residuals(model, fit.params), expected, rtol=0, atol=1e-10)
