"""Predicted outcomes across the alliance range from each primary model (the report's marginal-effect
plots): predictions at alliance values from -2 to +2 SD, with numeric covariates at their mean (0 after
z-scoring) and categorical ones at their most frequent level, on the outcome's scale (probability of
attending a session, probability of dropout, satisfaction points) with 95% CIs.

For the GLMs the CI is the Wald interval on the link scale (cluster-robust covariance, on t(G - 1) with
few therapists as the fit's own intervals) mapped through the inverse link; for the mixed model it is
the fixed-effects prediction with the Wald interval from the fixed-effects covariance (random effects
at zero: a typical therapist).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from patsy import build_design_matrices

from alliance.models.common import Design, wald_reference
from alliance.models.levels import PRIMARY
from alliance.models.random_intercept import RandomInterceptResult

GRID_SD = 2.0
GRID_POINTS = 41
MARGINAL_COLUMNS = ["outcome", "predictor", "alliance", "alliance_z", "prediction", "ci_low", "ci_high",
                    "scale", "reference"]
PREDICTION_SCALES = {"adherence": "probability", "dropout": "probability", "satisfaction": "points"}


def reference_grid(design: Design, points: int = GRID_POINTS) -> tuple[pd.DataFrame, str]:
    """Rows along the z-scored predictor, covariates at their reference values, and those values in words."""
    z = np.linspace(-GRID_SD, GRID_SD, points)
    grid = pd.DataFrame({f"{design.predictor}_z": z})
    reference = []
    for name in design.covariates:
        values = design.data[name]
        if pd.api.types.is_numeric_dtype(values):
            grid[name] = 0.0
            reference.append(f"{name} at its mean")
        else:
            level = values.value_counts().sort_index().idxmax()
            grid[name] = level
            reference.append(f"{name} = {level}")
    return grid, "; ".join(reference) or "no covariates"


def _linear_prediction(fit, grid: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Linear predictor and its SE on the grid (fixed effects only)."""
    # The patsy DesignInfo of the formula (statsmodels 0.15 keeps it as model.data.model_spec).
    design_info = (fit.design_info if isinstance(fit, RandomInterceptResult)
                   else fit.model.data.model_spec)
    (exog,) = build_design_matrices([design_info], grid, return_type="dataframe")
    names = list(exog.columns)
    params = fit.params[names].to_numpy()
    cov = fit.cov_params().loc[names, names].to_numpy()
    x = exog.to_numpy()
    return x @ params, np.sqrt(np.einsum("ij,jk,ik->i", x, cov, x))


def marginal_predictions(family: str, features: pd.DataFrame, covariates: list[str], *, fit) -> pd.DataFrame:
    """Predictions of one primary model across alliance, from its `fit`."""
    spec = PRIMARY[family]
    design = spec.design(features, covariates)
    grid, reference = reference_grid(design)
    eta, se = _linear_prediction(fit, grid)
    z = wald_reference(fit).ppf(0.975)
    low, high = eta - z * se, eta + z * se
    if PREDICTION_SCALES[family] == "probability":
        eta, low, high = (1 / (1 + np.exp(-v)) for v in (eta, low, high))
    x = design.data[design.predictor]
    return pd.DataFrame({
        "outcome": design.outcome, "predictor": design.predictor,
        "alliance": x.mean() + grid[f"{design.predictor}_z"] * x.std(ddof=1),
        "alliance_z": grid[f"{design.predictor}_z"], "prediction": eta, "ci_low": low, "ci_high": high,
        "scale": PREDICTION_SCALES[family], "reference": reference,
    })[MARGINAL_COLUMNS]
