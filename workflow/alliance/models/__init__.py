"""Models of the analysis plan, one module per outcome family; each returns a `ModelResult`."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from alliance.models.adherence import fit_attendance
from alliance.models.common import ModelResult, attempt
from alliance.models.dropout import fit_dropout
from alliance.models.levels import PRIMARY, level_effects
from alliance.models.marginal import marginal_predictions
from alliance.models.satisfaction import fit_satisfaction
from alliance.models.symptoms import fit_symptoms

FAMILIES: dict[str, Callable[..., ModelResult]] = {
    "adherence": fit_attendance,
    "dropout": fit_dropout,
    "satisfaction": fit_satisfaction,
    "symptoms": fit_symptoms,
}
SESSION_LEVEL = {"adherence", "dropout", "symptoms"}  # families that also fit session-level models


def fit_family(
    family: str, features: pd.DataFrame, covariates: list[str], sessions: pd.DataFrame | None = None,
    satisfaction_range: tuple[float, float] | None = None, levels: bool = True,
) -> ModelResult:
    """Fit every model of one outcome family; `sessions` (session features) enables session-level models;
    `satisfaction_range` (the satisfaction instrument's score range) is used by its ceiling check.

    With `levels` (the workflow), families with a primary model also get its therapist/patient split,
    moderation by discipline and predictions across the alliance range (the simulation study leaves
    these refits out).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown model family '{family}'; expected one of {', '.join(FAMILIES)}")
    notes: list[str] = []
    args = (features, covariates, sessions) if family in SESSION_LEVEL else (features, covariates)
    if family == "satisfaction":
        args = (*args, satisfaction_range)
    result = attempt(f"The {family} models", notes, FAMILIES[family], *args)
    if result is None:  # last resort: the family's own fitting code did not catch the failure
        return ModelResult(family, [], [], notes, "Not fitted.", {})
    if levels and family in PRIMARY:
        rows, tests, notes = level_effects(family, features, covariates)
        result.effects += rows
        result.notes += notes
        result.extra["level_tests"] = tests
        result.extra["marginal"] = marginal_predictions(
            family, features, covariates, result.notes, result.primary_fit).to_dict(orient="records")
    return result
