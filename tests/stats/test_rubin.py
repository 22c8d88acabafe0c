"""Rubin's rules with Barnard-Rubin degrees of freedom: a hand-computed case, R mice's published pool()
output and the limits without between-imputation variance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from alliance.stats.rubin import rubin_pool


def test_rubin_pool_hand_case():
    # m = 3: Q = 2, W = 0.5, B = 1, T = 0.5 + (4/3) 1 = 11/6, r = (4/3) / 0.5 = 8/3,
    # lambda = (4/3) / (11/6) = 8/11; an infinite nu_com leaves Rubin's df = 2 (1 + 3/8)^2 = 3.78125.
    pooled = rubin_pool([1.0, 2.0, 3.0], [0.5, 0.5, 0.5], math.inf)
    assert pooled["estimate"] == pytest.approx(2.0)
    assert pooled["std_error"] == pytest.approx(np.sqrt(11 / 6))
    assert pooled["df"] == pytest.approx(3.78125)
    assert pooled["riv"] == pytest.approx(8 / 3)
    assert pooled["lambda"] == pytest.approx(8 / 11)
    half = stats.t.ppf(0.975, 3.78125) * np.sqrt(11 / 6)
    assert (pooled["ci_low"], pooled["ci_high"]) == pytest.approx((2 - half, 2 + half))
    assert pooled["p_value"] == pytest.approx(2 * stats.t.sf(2 / np.sqrt(11 / 6), 3.78125))


# R mice's pool() of lm(sws ~ log10(bw) + odi) on mammalsleep (m = 5, dfcom = 62 - 3 = 59), as printed in
# Vink & van Buuren's vignette "mice: The imputation and nonresponse models" (github.com/gerkovink/
# miceVignettes, Missingness_inspection): estimate, ubar, b; then t, df, riv, lambda, and from
# summary(pool(fit1)) std.error, statistic and p.value.
MAMMALSLEEP = {
    "log10(bw)": ((-1.4513424, 0.10052200, 0.30175131),
                  (0.4626236, 4.277824, 3.6022121, 0.7827132, 0.6801644, -2.133811, 9.530451e-02)),
    "odi": ((-0.5504494, 0.08902854, 0.01146902),
            (0.1027914, 40.480414, 0.1545889, 0.1338909, 0.3206109, -1.716876, 9.364526e-02)),
}


@pytest.mark.parametrize("term", list(MAMMALSLEEP))
def test_rubin_pool_reproduces_mice_pool_with_barnard_rubin_df(term):
    (estimate, ubar, b), expected = MAMMALSLEEP[term]
    # Five estimates with mean `estimate` and variance (ddof 1) `b`, each with variance `ubar`.
    estimates = estimate + np.sqrt(2 * b) * np.array([-1.0, 1.0, 0.0, 0.0, 0.0])
    pooled = rubin_pool(estimates, [ubar] * 5, 59)
    t, df, riv, share, se, statistic, p = expected
    assert pooled["std_error"] ** 2 == pytest.approx(t, rel=1e-6)
    assert pooled["df"] == pytest.approx(df, rel=1e-6)
    assert (pooled["riv"], pooled["lambda"]) == pytest.approx((riv, share), rel=1e-6)
    assert pooled["std_error"] == pytest.approx(se, rel=1e-6)
    assert pooled["estimate"] / pooled["std_error"] == pytest.approx(statistic, rel=1e-6)
    assert pooled["p_value"] == pytest.approx(p, rel=1e-5)
    # Rubin's large-sample df, (m - 1) / lambda^2, exceeds the complete-data df for odi (223 > 59).
    assert rubin_pool(estimates, [ubar] * 5, math.inf)["df"] == pytest.approx(4 / share**2, rel=1e-6)
    assert pooled["df"] < 59


def test_rubin_pool_without_between_variance():
    pooled = rubin_pool([1.0, 1.0], [0.04, 0.09], math.inf)  # W = 0.065, B = 0: the normal interval
    assert pooled["df"] == math.inf and pooled["lambda"] == 0
    assert pooled["ci_high"] == pytest.approx(1 + 1.959964 * np.sqrt(0.065), abs=1e-6)
    # With a finite nu_com, df = nu_obs = nu_com (nu_com + 1) / (nu_com + 3) (the limit mice checks).
    assert rubin_pool([1.0, 1.0], [0.04, 0.09], 30)["df"] == pytest.approx(30 * 31 / 33)
    with pytest.raises(ValueError, match="at least two"):
        rubin_pool([1.0], [0.1], math.inf)
    with pytest.raises(ValueError, match="must be positive"):
        rubin_pool([1.0, 2.0], [0.1, 0.0], math.inf)
