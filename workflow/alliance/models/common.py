"""What every model shares: the analysis sample, covariates, z-scoring and the result record."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from statsmodels.tools.sm_exceptions import PerfectSeparationError

from alliance.models.effects import effect_row

T = TypeVar("T")
MAX_SESSION_BAND = 12  # baseline by session: one category per session, sessions 12+ pooled


@dataclass
class Design:
    """An analysis sample and formula, with the flow of exclusions and notes for the report."""

    outcome: str
    predictor: str
    data: pd.DataFrame
    formula: str
    covariates: list[str]
    flow: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ModelResult:
    """A fitted model reduced to what the report needs: effect rows, flow, notes and a text summary."""

    family: str
    effects: list[dict]
    flow: list[dict]
    notes: list[str]
    summary: str
    extra: dict = field(default_factory=dict)
    primary_fit: object = field(default=None, repr=False)  # the fitted primary model (not serialised)

    def to_dict(self) -> dict:
        """JSON-ready form (the text summary is written separately)."""
        return {"family": self.family, "effects": self.effects, "flow": self.flow,
                "notes": self.notes, "extra": self.extra}


def resolve_covariates(features: pd.DataFrame, covariates: list[str]) -> tuple[list[str], list[str]]:
    """Covariates usable in the data; absent or constant ones are dropped with a note."""
    used, notes = [], []
    for name in covariates:
        if name not in features.columns or features[name].isna().all():
            notes.append(f"Covariate '{name}' is absent from the data and was dropped.")
        elif features[name].dropna().nunique() < 2:
            notes.append(f"Covariate '{name}' has a single value and was dropped.")
        else:
            used.append(name)
    return used, notes


def covariate_terms(features: pd.DataFrame, covariates: list[str]) -> str:
    """Formula terms: numeric covariates enter linearly, others as categories."""
    terms = []
    for name in covariates:
        numeric = pd.api.types.is_numeric_dtype(features[name])
        terms.append(f'Q("{name}")' if numeric else f'C(Q("{name}"))')
    return "".join(f" + {t}" for t in terms)


def build_design(
    features: pd.DataFrame,
    *,
    outcome: str,
    predictor: str,
    response: str,
    covariates: list[str],
    exclusions: list[tuple[str, Callable[[pd.DataFrame], pd.Series]]],
) -> Design:
    """Apply exclusions in order (recording the flow), z-score the predictor, and write the formula.

    `exclusions` are (reason, mask of rows to exclude) pairs. Patients missing a used covariate are
    excluded last (complete cases). The predictor and the numeric covariates are z-scored within the
    analysis sample (ddof = 1); categorical covariates enter as treatment contrasts.
    """
    used, notes = resolve_covariates(features, covariates)
    data = features
    flow = [{"step": "patients in the cohort", "n": len(data)}]
    steps = [*exclusions]
    if used:
        steps.append(("missing a covariate value", lambda d: d[used].isna().any(axis=1)))
    for reason, mask in steps:
        excluded = mask(data).fillna(True).astype(bool)
        flow.append({"step": f"excluded: {reason}", "n": int(excluded.sum())})
        data = data[~excluded]
    data = data.copy()
    used, more_notes = resolve_covariates(data, used)
    notes += more_notes
    flow.append({"step": "analysed", "n": len(data)})
    z = f"{predictor}_z"
    data[z] = standardise(data[predictor])
    for name in used:
        if pd.api.types.is_numeric_dtype(data[name]):
            data[name] = standardise(data[name])
    formula = f"{response} ~ {z}" + covariate_terms(data, used)
    return Design(outcome, predictor, data, formula, used, flow, notes)


def session_flow(
    rows: pd.DataFrame, steps: list[tuple[str, pd.Series]], covariates: list[str], *, first: str,
    prefix: str = "", analysed: str = "sessions analysed",
) -> tuple[pd.DataFrame, list[dict]]:
    """Session rows after the exclusions `steps` (reason, mask) in order, then complete cases on the
    `covariates`; the flow counts the rows first, each exclusion, and the sessions and patients analysed."""
    if covariates:
        steps = [*steps, ("missing a covariate value", rows[covariates].isna().any(axis=1))]
    flow = [{"step": first, "n": len(rows)}]
    keep = pd.Series(True, index=rows.index)
    for reason, mask in steps:
        flow.append({"step": f"{prefix}excluded sessions: {reason}", "n": int((mask & keep).sum())})
        keep &= ~mask
    data = rows[keep].copy()
    flow.append({"step": f"{prefix}{analysed}", "n": len(data)})
    flow.append({"step": f"{prefix}patients analysed", "n": int(data["patient_id"].nunique())})
    return data, flow


def session_design(
    features: pd.DataFrame,
    sessions: pd.DataFrame,
    *,
    outcome: str,
    response: str,
    covariates: list[str],
    extra_terms: str = "",
) -> Design:
    """Session rows with a previous alliance score, alliance split into within- and between-patient parts.

    The predictors are `alliance_prev_within` (the previous scored total minus the patient's mean total)
    and `alliance_between` (the patient's mean total; person-mean centring, Falkenstrom et al. 2017). Each
    is per SD of its own level: the within part per SD of the within deviations over the analysed rows, the
    between part per SD of the patients' means (one value per patient). Rows missing the response, the
    previous alliance or a covariate are excluded (counted in the flow). The design's predictor is
    `alliance_prev_within`; the formula has both parts, `C(session_band)` and `extra_terms`.
    """
    used, notes = resolve_covariates(features, covariates)
    columns = [c for c in dict.fromkeys(["patient_id", "therapist_id", *used]) if c in features]
    rows = sessions.drop(columns=["therapist_id"], errors="ignore").merge(
        features[columns], on="patient_id", how="inner")
    steps = [(f"no {outcome} recorded", rows[response].isna()),
             ("no earlier scored session (alliance_prev missing)", rows["alliance_prev"].isna())]
    data, flow = session_flow(rows, steps, used, first=f"{outcome}: sessions of the cohort",
                              prefix=f"{outcome}: ")
    data[response] = data[response].astype(float)
    data["session_band"] = data["session"].clip(upper=MAX_SESSION_BAND)
    data["alliance_prev_within_z"] = data["alliance_prev_within"] / data["alliance_prev_within"].std(ddof=1)
    person = data.drop_duplicates("patient_id")["alliance_between"]
    data["alliance_between_z"] = (data["alliance_between"] - person.mean()) / person.std(ddof=1)
    for name in used:
        if pd.api.types.is_numeric_dtype(data[name]):
            values = data.drop_duplicates("patient_id")[name]
            data[name] = (data[name] - values.mean()) / values.std(ddof=1)
    formula = (f"{response} ~ alliance_prev_within_z + alliance_between_z + C(session_band)"
               + covariate_terms(data, used) + extra_terms)
    return Design(outcome, "alliance_prev_within", data, formula, used, flow, notes)


def level_designs(design: Design) -> tuple[Design, Design]:
    """The same design viewed through each of its two alliance predictors (within, between), so that
    `predictor_effect` can read both terms of one fit."""
    between = Design(design.outcome, "alliance_between", design.data, design.formula, design.covariates,
                     design.flow, design.notes)
    return design, between


def standardise(values: pd.Series) -> pd.Series:
    """z-scores with the sample SD (ddof = 1)."""
    return (values - values.mean()) / values.std(ddof=1)


@contextmanager
def captured_warnings(notes: list[str]) -> Iterator[None]:
    """Record the fitting warnings (convergence, boundary) as notes instead of printing them."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for message in dict.fromkeys(str(w.message).splitlines()[0] for w in caught):
        notes.append(f"Estimation warning: {message}")


FIT_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError, PerfectSeparationError)


def attempt(label: str, notes: list[str], fit: Callable[..., T], *args, **kwargs) -> T | None:
    """Run one model fit; a numerical failure becomes the note "<label>: not fitted (<reason>)" and None,
    so that the other models (and the report) still come out."""
    try:
        return fit(*args, **kwargs)
    except FIT_ERRORS as error:
        reason = str(error).splitlines()[0] if str(error) else "no message"
        notes.append(f"{label}: not fitted ({type(error).__name__}: {reason})")
        return None


STAMPS = re.compile(r"(?<=Date:)\s+\w{3}, \d{2} \w{3} \d{4}|(?<=Time:)\s+\d{2}:\d{2}:\d{2}")


def summary_text(fit) -> str:
    """statsmodels' text summary without the date and time it was printed (so reruns are identical)."""
    return STAMPS.sub(lambda match: " -".rjust(len(match.group(0))), str(fit.summary()))


def labelled(notes: list[str], label: str) -> list[str]:
    """Notes prefixed with the model they come from, for a family that fits several."""
    return [f"{label}: {note}" for note in notes]


def therapist_groups(data: pd.DataFrame) -> pd.Series:
    """Integer cluster codes for the therapists of the analysis sample."""
    return pd.Series(pd.factorize(data["therapist_id"], sort=True)[0], index=data.index)


def _require_variation(model, design: Design) -> None:
    """A logistic model needs both outcomes in its sample; say which outcome has only one."""
    if np.ptp(model.endog) == 0:
        raise ValueError(f"the {design.outcome} outcome takes a single value in the analysis sample")


def fit_logit_glm(design: Design, cluster: bool = True):
    """Binomial GLM (logit) of the design; cluster-robust SEs by therapist unless `cluster` is False."""
    model = smf.glm(design.formula, design.data, family=sm.families.Binomial())
    _require_variation(model, design)
    if cluster:
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": therapist_groups(design.data)})
    else:
        fit = model.fit()
    if not fit.converged:
        design.notes.append(f"The logistic model of {design.outcome} did not converge (IRLS); treat its "
                            "estimates with caution.")
    return fit


def fit_binary_logit(design: Design):
    """Logistic regression of a 0/1 response by Newton's method (statsmodels Logit), cluster-robust SEs by
    therapist: the estimates and SEs of `fit_logit_glm`, for the session-level designs of a registry (a
    million rows), where GLM's IRLS holds about a dozen copies of the design (1.5 GB against 0.25 GB)."""
    model = smf.logit(design.formula, design.data)
    _require_variation(model, design)
    fit = model.fit(method="newton", maxiter=100, disp=False, cov_type="cluster",
                    cov_kwds={"groups": therapist_groups(design.data)})
    if not fit.mle_retvals["converged"]:
        design.notes.append(f"The logistic model of {design.outcome} did not converge (Newton); treat its "
                            "estimates with caution.")
    return fit


def predictor_effect(
    fit, design: Design, *, model: str, scale: str, n_obs: int, analysis: str = "primary",
    outcome_sd: float | None = None,
) -> dict:
    """The effect row of the design's z-scored alliance predictor in a fitted statsmodels model."""
    term = f"{design.predictor}_z"
    low, high = fit.conf_int().loc[term]
    return effect_row(
        outcome=design.outcome, model=model, predictor=design.predictor, scale=scale,
        estimate=fit.params[term], std_error=fit.bse[term], ci_low=low, ci_high=high,
        p_value=fit.pvalues[term], n_obs=n_obs, n_patients=design.data["patient_id"].nunique(),
        n_therapists=design.data["therapist_id"].nunique(), analysis=analysis, outcome_sd=outcome_sd,
    )
