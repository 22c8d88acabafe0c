"""Models of the analysis plan, one module per outcome family; each returns a `ModelResult`."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from alliance.models.adherence import fit_attendance
from alliance.models.common import MIN_CLUSTERS, PRIMARY_NOT_FITTED, ModelResult, refuse
from alliance.models.dropout import fit_dropout
from alliance.models.levels import HYPOTHESIS, PRIMARY, level_effects
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
    family: str, features: pd.DataFrame, covariates: list[str], *, sessions: pd.DataFrame | None = None,
    satisfaction_range: tuple[float, float] | None = None, levels: bool = True,
    early_window: int | None = None, min_clusters: int = MIN_CLUSTERS, describe: bool = True,
) -> ModelResult:
    """Fit every model of one outcome family; `sessions` (session features) enables session-level models;
    `satisfaction_range` (the satisfaction instrument's score range) is used by its ceiling check.
    `early_window` (for the reasons in words) and `min_clusters` (the few-cluster threshold) travel with
    the features as `attrs` to every design built from them.

    With `levels` (the workflow and the simulation study), families with a primary model also get its
    therapist/patient split, moderation by discipline and predictions across the alliance range; when
    the primary model was not fitted these are refused.

    With `describe` (the workflow), the descriptive parts the report shows beside the estimates: the text
    summaries, the predictions across the alliance range (`extra["marginal"]`), the benchmark comparisons
    and the Kaplan-Meier curves of dropout (H2c, a test without effect rows). The simulation study reads
    the effect rows and statuses only, which do not depend on them, and leaves them out (a tenth of the
    time of a replication).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown model family '{family}'; expected one of {', '.join(FAMILIES)}")
    features = features.copy(deep=False)
    features.attrs |= {"min_clusters": int(min_clusters)}
    if early_window is not None:
        features.attrs["early_window"] = int(early_window)
    args = (features, covariates, sessions) if family in SESSION_LEVEL else (features, covariates)
    if family == "satisfaction":
        args = (*args, satisfaction_range)
    result = FAMILIES[family](*args, describe=describe)
    if levels and family in PRIMARY:
        key = HYPOTHESIS[family]
        if result.primary_fit is None:
            refuse(result.statuses, [f"{key}-split", f"{key}-moderation"], PRIMARY_NOT_FITTED)
            result.extra["marginal"] = []
            return result
        rows, tests, notes, statuses = level_effects(family, features, covariates)
        result.effects += rows
        result.notes += notes
        result.statuses += statuses
        result.extra["level_tests"] = tests
        if describe:
            result.extra["marginal"] = marginal_predictions(
                family, features, covariates, fit=result.primary_fit).to_dict(orient="records")
    return result
