"""Rubin's rules for pooling an estimate over multiply imputed data sets, with Barnard-Rubin df.

statsmodels' `MICE.combine` pools its own analysis model with normal-theory inference (no degrees of
freedom); the pipeline pools its own fits of each imputed copy, whose complete-data inference has finite
(few-cluster) degrees of freedom, so the Barnard-Rubin small-sample df is needed.
Tested against a hand-computed case and R mice's `pool()` output (tests/stats/test_rubin.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def rubin_pool(estimates: Sequence[float], variances: Sequence[float], nu_com: float,
               *,
               alpha: float = 0.05) -> dict:
    """Pool one parameter over m imputations by Rubin's rules with Barnard-Rubin degrees of freedom.

    Parameters
    ----------
    estimates, variances
        Each imputed data set's estimate and its squared standard error (m >= 2, variances > 0).
    nu_com
        Degrees of freedom of the complete-data analysis (`math.inf` for a large-sample one;
        `complete_data_df` for the primary models).
    alpha
        1 - the CI's coverage.

    Returns
    -------
    dict
        ``estimate`` (Q, the mean estimate), ``std_error`` (sqrt T), ``ci_low``, ``ci_high`` and
        ``p_value`` from Student's t on ``df``; ``within`` (W, the mean variance), ``between`` (B, ddof 1),
        ``riv`` = (1 + 1/m) B / W, ``lambda`` = (1 + 1/m) B / T with T = W + (1 + 1/m) B, ``df_complete``
        (nu_com) and ``m``. ``df`` = 1 / (1/nu_old + 1/nu_obs) with nu_old = (m - 1) / lambda^2 (Rubin
        1987; infinite when B = 0) and nu_obs = (nu_com + 1) / (nu_com + 3) nu_com (1 - lambda): at most
        nu_com, and nu_old when nu_com is infinite.

    References
    ----------
    Rubin DB (1987). Multiple Imputation for Nonresponse in Surveys. Wiley.
    Barnard J, Rubin DB (1999). Small-sample degrees of freedom with multiple imputation. Biometrika 86,
    948-955. van Buuren S (2018). Flexible Imputation of Missing Data, 2nd ed., section 2.3.6.
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    m = len(q)
    if m < 2 or len(u) != m:
        raise ValueError("Rubin's rules need at least two imputations, each with an estimate and a variance")
    if not (u > 0).all() or not nu_com > 0:
        raise ValueError("the variances and the complete-data degrees of freedom must be positive")
    within, between = float(u.mean()), float(q.var(ddof=1))
    total = within + (1 + 1 / m) * between
    share = (1 + 1 / m) * between / total  # lambda
    inverse_obs = 0.0 if math.isinf(nu_com) else (nu_com + 3) / ((nu_com + 1) * nu_com * (1 - share))
    inverse = share**2 / (m - 1) + inverse_obs  # 1/nu_old + 1/nu_obs
    df = math.inf if inverse == 0 else 1 / inverse
    se = math.sqrt(total)
    estimate = float(q.mean())
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    return {"estimate": estimate, "std_error": se, "ci_low": estimate - crit * se,
            "ci_high": estimate + crit * se, "p_value": float(2 * stats.t.sf(abs(estimate) / se, df)),
            "df": df, "within": within, "between": between, "riv": (1 + 1 / m) * between / within,
            "lambda": share, "df_complete": float(nu_com), "m": m}
