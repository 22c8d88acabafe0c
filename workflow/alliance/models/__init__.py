"""Models of the analysis plan, one module per outcome family; each returns a `ModelResult`."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from alliance.models.adherence import fit_attendance
from alliance.models.common import ModelResult
from alliance.models.dropout import fit_dropout
from alliance.models.satisfaction import fit_satisfaction

FAMILIES: dict[str, Callable[..., ModelResult]] = {
    "adherence": fit_attendance,
    "dropout": fit_dropout,
    "satisfaction": fit_satisfaction,
}
SESSION_LEVEL = {"dropout"}  # families that also fit session-level models


def fit_family(
    family: str, features: pd.DataFrame, covariates: list[str], sessions: pd.DataFrame | None = None
) -> ModelResult:
    """Fit every model of one outcome family; `sessions` (session features) enables session-level models."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family '{family}'; expected one of {', '.join(FAMILIES)}")
    if family in SESSION_LEVEL:
        return FAMILIES[family](features, covariates, sessions)
    return FAMILIES[family](features, covariates)
