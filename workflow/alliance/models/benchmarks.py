"""Like-for-like comparisons with the meta-analytic benchmarks (ANALYSIS_PLAN.md section 6).

The effect rows of the models are partial standardised slopes, latent correlations of logistic models
and log-hazards; none is the metric of a benchmark. Each benchmark is therefore set beside a statistic
computed in its own metric from the primary analysis sample of the matching model:

- Sharf, Primavera & Diener (2010), d = .55: the standardised difference in alliance between completers
  and dropouts (pooled SD). Here: early alliance, completers minus dropouts, in the H2 sample; computed
  from the point-biserial r and the group sizes, d = sqrt(a) r / sqrt(1 - r^2) sqrt((n - 2) / n),
  a = n^2 / (n1 n0) (Borenstein et al. 2009, eq. 7.7 solved for d; the last factor puts the pooled SD on
  n - 2 degrees of freedom), its CI from r's (the map is monotone).
- Flückiger, Del Re, Wampold & Horvath (2018), r = .278 [.256, .299]: the bivariate correlation of
  alliance with treatment outcome. Here: early alliance with symptom improvement (first minus last
  score) in the H4 sample.

Disclosure (ANALYSIS_PLAN.md section 8): d and its CI give the groups' sizes away (a = n^2 / (n1 n0)
follows from the CI's symmetry on Fisher's z), so the row carries the number of dropouts and `withheld`
says when a report or a site's bundle must leave the numbers out: fewer than k patients in all, or 1 to
k - 1 dropouts or completers.

r's CI is cluster-robust (therapists): the variance of the sample correlation from its influence
function, z_x z_y - r (z_x^2 + z_y^2) / 2 (no normality assumed; Devlin, Gnanadesikan & Kettenring 1975;
Hampel et al. 1986, section 5.3), summed by therapist with the G / (G - 1) factor, and the interval on
Fisher's z scale (SE_z = SE_r / (1 - r^2)), on t(G - 1) with few therapists as the models. No maintained
library gives a cluster-robust correlation; tests/models/test_inference.py checks it against Fisher's
(1 - r^2) / sqrt(n) for independent normal pairs and against a therapist-level simulation.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from alliance.i18n import N_
from alliance.ingest.privacy import discloses
from alliance.models.common import Design, few_clusters, n_therapists
from alliance.models.effects import BENCHMARKS

BENCHMARK_COLUMNS = ["benchmark", "metric", "estimate", "ci_low", "ci_high", "n", "n_dropouts",
                     "benchmark_value", "benchmark_ci_low", "benchmark_ci_high", "verdict", "source"]


def clustered_correlation(x: pd.Series, y: pd.Series, clusters: pd.Series, *, df: int | None = None) -> dict:
    """Pearson's r of `x` and `y` with a cluster-robust 95% CI (see the module docstring); intervals on
    Student's t with `df` degrees of freedom, or the normal when None."""
    x, y = x.to_numpy(dtype=float), y.to_numpy(dtype=float)
    n = len(x)
    zx, zy = (x - x.mean()) / x.std(ddof=0), (y - y.mean()) / y.std(ddof=0)
    r = float(np.mean(zx * zy))
    influence = zx * zy - r * (zx**2 + zy**2) / 2
    codes = pd.factorize(clusters)[0]
    sums = np.bincount(codes, weights=influence)
    g = len(sums)
    scale = g / (g - 1) if g > 1 else 1.0
    se_r = float(np.sqrt(scale * (sums @ sums)) / n)
    crit = float((stats.norm if df is None else stats.t(df)).ppf(0.975))
    centre, half = np.arctanh(r), crit * se_r / (1 - r**2)
    return {"r": r, "std_error": se_r, "ci_low": float(np.tanh(centre - half)),
            "ci_high": float(np.tanh(centre + half)), "n": n}


def _df(design: Design) -> int | None:
    return n_therapists(design.data) - 1 if few_clusters(design) else None


def dropout_comparison(design: Design) -> dict:
    """Early alliance of completers minus dropouts as Sharf et al.'s d, in the primary dropout sample
    (`dropout_design`), with its 95% CI and the verdict against d = .55."""
    data = design.data
    completer = 1 - data["dropout_event"].astype(float)
    correlation = clustered_correlation(data[design.predictor], completer, data["therapist_id"],
                                        df=_df(design))
    n, n1 = len(data), int(completer.sum())
    a = n**2 / (n1 * (n - n1))

    def to_d(r: float) -> float:  # Cohen's d with the pooled SD on n - 2 df, from the point-biserial r
        return float(np.sqrt(a) * r / np.sqrt(1 - r**2) * np.sqrt((n - 2) / n))

    bench = BENCHMARKS["alliance_dropout"]
    low, high = to_d(correlation["ci_low"]), to_d(correlation["ci_high"])
    return _row("alliance_dropout", N_("d, early alliance of completers minus dropouts (pooled SD)"),
                to_d(correlation["r"]), low, high, n, n - n1, bench["d"], np.nan, np.nan,
                "opposite to" if high < 0 else "compatible with" if low <= bench["d"] <= high else
                "smaller than" if high < bench["d"] else "larger than", bench["source"])


def outcome_comparison(design: Design) -> dict:
    """Early alliance with symptom improvement as a bivariate r, in the symptom-improvement sample
    (`improvement_design`), with its 95% CI and the verdict against Flückiger et al.'s r."""
    data = design.data
    correlation = clustered_correlation(data[design.predictor], data["symptom_improvement"],
                                        data["therapist_id"], df=_df(design))
    bench = BENCHMARKS["alliance_outcome"]
    low, high = correlation["ci_low"], correlation["ci_high"]
    # "opposite to" where the CI lies wholly on the other side of 0 (a reviewer's cohort whose dropouts had
    # the better alliance read "d = -0.91, smaller than 0.55")
    verdict = ("opposite to" if high < 0 else "smaller than" if high < bench["ci_low"] else
               "larger than" if low > bench["ci_high"] else "compatible with")
    return _row("alliance_outcome", N_("r, early alliance with symptom improvement (first minus last score)"),
                correlation["r"], low, high, correlation["n"], np.nan, bench["r"], bench["ci_low"],
                bench["ci_high"], verdict, bench["source"])


def withheld(row: Mapping, min_cell_size: int | None) -> bool:
    """Whether a comparison's numbers must be left out of a report or a bundle: it rests on fewer than
    `min_cell_size` patients, or its groups (dropouts and completers) hold 1 to `min_cell_size` - 1 of them,
    which d and its CI give away (module docstring). False without disclosure control (None)."""
    if min_cell_size is None:
        return False
    dropouts = row.get("n_dropouts")  # None or NaN for r (as JSON gives it back): no groups
    groups = dropouts is not None and not np.isnan(dropouts) and discloses(dropouts, row["n"], min_cell_size)
    return bool(row["n"] < min_cell_size or groups)


def _row(benchmark: str, metric: str, estimate: float, low: float, high: float, n: int, dropouts: float,
         value: float, value_low: float, value_high: float, verdict: str, source: str) -> dict:
    return dict(zip(BENCHMARK_COLUMNS, [benchmark, metric, float(estimate), float(low), float(high), int(n),
                                        float(dropouts), float(value), float(value_low), float(value_high),
                                        verdict, source],
                    strict=True))
