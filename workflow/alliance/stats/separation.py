"""The sign of separation in a logistic fit, shared by the models and the early warning's calibration:
a fitted probability within `SEPARATION_TOLERANCE` of 0 or 1, where the maximum-likelihood estimate
does not exist and a converged-looking fit reports whatever its last iteration reached.

References
----------
Albert, A., & Anderson, J. A. (1984). On the existence of maximum likelihood estimates in logistic
regression models. Biometrika, 71(1), 1-10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SEPARATION_TOLERANCE = 1e-6  # a fitted probability this close to 0 or 1 (linear predictor beyond +-13.8)


def separated(probabilities: np.ndarray | pd.Series) -> bool:
    """Whether a logistic fit predicts some rows with certainty (fitted probability within
    `SEPARATION_TOLERANCE` of 0 or 1): the sign of complete or quasi-complete separation, where the
    maximum-likelihood estimate does not exist (Albert & Anderson 1984)."""
    p = np.asarray(probabilities, dtype=float)
    return bool(((p < SEPARATION_TOLERANCE) | (p > 1 - SEPARATION_TOLERANCE)).any())
