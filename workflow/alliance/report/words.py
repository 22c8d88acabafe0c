"""The words of the report: outcomes, predictors, levels, models and statuses as sentences."""

from __future__ import annotations

import numpy as np
import pandas as pd
from markupsafe import Markup

from alliance.i18n import SOURCE_LANGUAGE, language
from alliance.models import adherence, dropout, satisfaction, survival, symptoms
from alliance.report.format import (
    count_with_share,
    estimate_digits,
    format_ci,
    format_count,
    format_number,
    format_unit,
    p_text,
)

HYPOTHESES = {"adherence": "H1", "dropout": "H2", "satisfaction": "H3", "symptoms": "H4"}


OUTCOME_WORDS = {
    "attendance": "attendance at the sessions scheduled after the early window",
    "dropout": "dropout after the early window",
    "satisfaction": "satisfaction at the end of treatment",
    "session attendance": "attendance at each scheduled session",
    "home practice": "share of home practice done since the last session",
    "symptom_improvement": "symptom improvement from the first to the last session (first - last)",
    "symptoms_next": "symptoms at the next attended session",
    "alliance_next": "alliance at the next attended session",
}


PREDICTOR_WORDS = {
    "alliance_early": "early alliance (mean total over scored sessions 1 to {early_window})",
    "alliance_mean": "mean alliance over all scored sessions",
    "alliance_prev": "alliance at the previous scored session (time-varying)",
    "alliance_prev_within": "within-patient alliance: previous scored session minus the patient's mean",
    "alliance_between": "between-patient alliance: the patient's mean",
    "alliance_prev_deviation": "within-patient alliance: previous scored session minus the patient's mean "
                               "so far",
    "alliance_running_mean": "between-patient alliance: the patient's mean over the scored sessions so far",
    "rupture_before": "a rupture detected before the session (yes vs no)",
    "alliance_within": "within-patient alliance: this session minus the patient's mean",
    "symptom_improvement_within": "within-patient symptom improvement since the previous session",
    "symptom_improvement_between": "between-patient symptom improvement (the patient's mean)",
}


# Short labels of the predictors for table cells; each table defines the ones it shows once, below it, in
# the words of PREDICTOR_WORDS.
PREDICTOR_LABELS = {
    "alliance_early": "early alliance",
    "alliance_mean": "mean alliance",
    "alliance_prev": "previous alliance",
    "alliance_prev_within": "within: previous",
    "alliance_between": "between: patient mean",
    "alliance_prev_deviation": "within: previous, so far",
    "alliance_running_mean": "between: mean so far",
    "rupture_before": "rupture before",
    "alliance_within": "within: this session",
    "symptom_improvement_within": "symptom change, within",
    "symptom_improvement_between": "symptom change, between",
}
LEVEL_LABELS = {"_therapist": "{}, therapist mean", "_patient": "{}, patient deviation"}


LEVEL_WORDS = {"_therapist": "therapist mean of {}", "_patient": "patient's deviation from the therapist "
                                                                 "mean of {}"}


SCALE_WORDS = {"log_odds": "log-odds", "log_hazard": "log-hazard", "points": "points"}


MODEL_WORDS = {
    adherence.MODEL: "binomial GLM (logit) of sessions attended out of sessions scheduled after the "
                     "early window, with therapist-cluster-robust standard errors",
    dropout.MODEL: "logistic GLM of dropout after the early window, with therapist-cluster-robust "
                   "standard errors",
    satisfaction.MODEL: "linear mixed model with a random intercept per therapist",
    survival.DISCRETE_MODEL: "discrete-time hazard (logistic, one row per session at risk, baseline hazard "
                             "per session) on the alliance of the previous scored session, with "
                             "therapist-cluster-robust standard errors",
    survival.COX_MODEL: "Cox model with time-varying alliance of the previous scored session in (start, "
                        "stop] form, with therapist-cluster-robust standard errors",
    survival.DISCRETE_SPLIT_MODEL: "discrete-time hazard as above with the previous alliance split into "
                                   "the patient's running mean and the deviation from it (no look-ahead)",
    survival.COX_SPLIT_MODEL: "Cox model as above with the previous alliance split into the patient's "
                              "running mean and the deviation from it (no look-ahead)",
    survival.RUPTURE_MODEL: "discrete-time hazard with a rupture before the session beside the previous "
                            "alliance, with therapist-cluster-robust standard errors",
    adherence.GEE_MODEL: "GEE (logit) on the sessions scheduled after the early window, exchangeable "
                         "correlation within therapist, robust standard errors (check of the primary model)",
    adherence.SESSION_MODEL: "logistic GLM of attending each session, baseline per session, with "
                             "therapist-cluster-robust standard errors",
    adherence.HOME_MODEL: "linear mixed model with a random intercept per patient, with "
                          "therapist-cluster-robust standard errors",
    symptoms.DYNAMIC_MODEL: "dynamic model with a patient random intercept and the first score and mean "
                            "alliance as regressors (Wooldridge 2005), the lagged outcome uncentred, "
                            "therapist-cluster-robust standard errors; r is a partial standardised slope, "
                            "not comparable with the bivariate benchmark",
}


LEVEL_TEST_WORDS = {
    "therapist_vs_patient": "therapist-level and patient-level alliance slopes are equal (Wald)",
    "equal_slopes_by_discipline": "alliance slopes are equal across disciplines (Wald)",
}


def phrase(table: dict[str, str], key: str, **values: object) -> str:
    """`key`'s words in `table` (its own words, underscores as spaces, when absent), `values` filled in."""
    return table.get(key, key.replace("_", " ")).format(**values)


def predictor_words(predictor: str, early_window: int) -> str:
    """A predictor in words, including its therapist/patient parts and per-discipline slopes."""
    base, _, level = predictor.partition(" [")
    if level:
        return f"{predictor_words(base, early_window)}, {level.rstrip(']')} only"
    for suffix, words in LEVEL_WORDS.items():
        stem = base.removesuffix(suffix)
        if stem != base and stem in PREDICTOR_WORDS:
            return words.format(phrase(PREDICTOR_WORDS, stem, early_window=early_window))
    return phrase(PREDICTOR_WORDS, base, early_window=early_window)


def predictor_base(predictor: str) -> tuple[str, str, str]:
    """A predictor's stem, its level suffix (`_therapist`, `_patient` or "") and discipline ("" if none)."""
    base, _, discipline = predictor.partition(" [")
    for suffix in LEVEL_WORDS:
        stem = base.removesuffix(suffix)
        if stem != base and stem in PREDICTOR_WORDS:
            return stem, suffix, discipline.rstrip("]")
    return base, "", discipline.rstrip("]")


def predictor_label(predictor: str) -> str:
    """A predictor's short label for a table cell: "early alliance", "early alliance, therapist mean",
    "early alliance, nutrition"; `predictor_definitions` defines the stems in full."""
    stem, level, discipline = predictor_base(predictor)
    label = PREDICTOR_LABELS.get(stem, stem.replace("_", " "))
    if level:
        label = LEVEL_LABELS[level].format(label)
    return f"{label}, {discipline}" if discipline else label


def predictor_definitions(predictors, early_window: int) -> list[tuple[str, str]]:
    """The short label and the full definition of each predictor stem among `predictors`, once each."""
    stems = dict.fromkeys(predictor_base(p)[0] for p in predictors)
    return [(PREDICTOR_LABELS.get(stem, stem.replace("_", " ")),
             phrase(PREDICTOR_WORDS, stem, early_window=early_window)) for stem in stems]


def effect_summary(row: pd.Series, early_window: int) -> str:
    """One primary effect row in words: estimate per SD, 95% CI, p, r, and the sample."""
    predictor = predictor_words(row["predictor"], early_window)
    digits = estimate_digits(row["estimate"])
    sentence = (
        f"Per SD of {predictor}, the estimate for {phrase(OUTCOME_WORDS, row['outcome'])} was "
        f"{format_number(row['estimate'], digits)} {SCALE_WORDS.get(row['scale'], row['scale'])} "
        f"(95% CI {format_number(row['ci_low'], digits)} to {format_number(row['ci_high'], digits)}, "
        f"{p_text(row['p_value'])})"
    )
    if row["scale"] == "log_odds":
        sentence += f", an odds ratio of {format_number(np.exp(row['estimate']))}"
    r_ci = format_ci(row["r_ci_low"], row["r_ci_high"], unit=True)
    sentence += (
        f"; as a correlation, r = {format_unit(row['r'])} {r_ci}"
        f" ({counted(row['n_obs'], 'observation')} of {counted(row['n_patients'], 'patient')} and "
        f"{counted(row['n_therapists'], 'therapist')})."
    )
    if row["ci_low"] > 0 or row["ci_high"] < 0:
        more = "more" if row["estimate"] > 0 else "less"
        sentence += f" A better alliance went with {more} {row['outcome']}; the CI excludes zero."
    else:
        sentence += " The CI includes zero."
    return sentence


def counted(n: int, noun: str) -> str:
    """A count with its noun in the right number: "1 therapist", "12 therapists"."""
    return f"{format_count(n)} {noun if n == 1 else noun + 's'}"


def shown_count(n: int, min_cell_size: int, of: int | None = None) -> str:
    """A count (with its share of `of`) for the report, or "<k" when it is 1 to k - 1."""
    if 0 < n < min_cell_size:
        return f"<{min_cell_size}"
    return count_with_share(n, of) if of is not None else format_count(n)


STATUS_WORDS = {"fitted": "fitted", "boundary": "fitted (variance at its boundary)",
                "not_estimable": "not estimable", "not_converged": "did not converge",
                "separation": "separation", "refused": "not run"}


def cell(value: object) -> str:
    """A text cell of a table read from CSV (missing = empty)."""
    return "" if pd.isna(value) else str(value)


def reason_text(value: object) -> str:
    """A reason as a sentence: capitalised, with a full stop."""
    text = cell(value)
    return f"{text[0].upper()}{text[1:]}." if text else ""


def foreign(text: str) -> str | Markup:
    """English text written where a fit or a check happened (a model's reason or note, a validation
    message), in a report of another language: marked `lang="en"` so that readers, screen readers and the
    language test know it is English; as it is in an English report."""
    if not text or language() == SOURCE_LANGUAGE:
        return text
    return Markup('<span lang="en">{}</span>').format(text)
