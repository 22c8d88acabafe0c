"""What every model shares: the analysis sample, covariates, z-scoring and the result record.

A model's status carries its reason as a `Message` (`alliance.i18n`) made here or where the fit happens:
the words of the data (outcomes, predictors, counts) are its values, so that the report writes it in its
own language. So do the steps of a design's flow, its notes and its flags: each is a `Message`, written
as its English (`step`, `notes`, `flags`) and beside it as data (`step_message`, `notes_message`,
`flags_message`), as a reason is (`reason`, `reason_message`).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np
import pandas as pd
import patsy
from patsy.util import SortAnythingKey
from scipy import stats
from statsmodels.discrete.discrete_model import Logit
from statsmodels.genmod import families
from statsmodels.genmod.generalized_linear_model import GLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

from alliance.errors import FITTED, NOT_CONVERGED, REFUSED, SEPARATION, NotEstimable, status_record
from alliance.i18n import N_, Count, Message, Plural, Term, message_text
from alliance.ingest import DISCIPLINES
from alliance.models.effects import effect_row
from alliance.stats.clusters import bias_reduced_covariance
from alliance.stats.separation import separated

T = TypeVar("T")
# Reasons several families give for the planned models they do not run.
PRIMARY_NOT_FITTED = Message("the primary model was not fitted")
NO_SESSION_FEATURES = Message("no session features were given")
MAX_SESSION_BAND = 12  # baseline by session: one category per session, sessions 12+ pooled


@dataclass
class Design:
    """An analysis sample and formula, with the flow of exclusions and notes for the report."""

    outcome: str
    predictor: str
    data: pd.DataFrame
    formula: str
    covariates: list[str]
    flow: list[dict] = field(default_factory=list)  # steps (`flow_step`)
    notes: list[Message] = field(default_factory=list)
    single_value_words: dict[int, Message] = field(default_factory=dict)  # a binary outcome's one value
    unit: str = "patient"  # what a row of `data` is, for the reasons in words ("patient", "session")
    status: str = FITTED  # set by the fit: FITTED or BOUNDARY (a failed fit raises NotEstimable instead)
    reason: Message | None = None  # why the status is not plainly FITTED (a variance at its boundary, ...)
    flags: list[Message] = field(default_factory=list)  # how inference departs from the plan's usual path
    # Var(s) / s^2 of the sample SD that makes each z-scored alliance column per SD (`sd_relative_variance`),
    # by predictor; `predictor_effect` adds it to the SE of the per-SD effect (the delta method)
    scale_variance: dict[str, float] = field(default_factory=dict)
    df: int | None = None  # Student's t degrees of freedom of the fit's Wald tests (None: normal theory)

    def mark(self, status: str, reason: Message) -> None:
        """Record a status with estimates (BOUNDARY) and its reason, keeping the first reason given."""
        if self.status == FITTED:
            self.status, self.reason = status, reason


@dataclass
class ModelResult:
    """A fitted model reduced to what the report needs: effect rows, flow, notes and a text summary."""

    family: str
    effects: list[dict]
    flow: list[dict]
    notes: list[Message]
    summary: str
    extra: dict = field(default_factory=dict)
    primary_fit: object = field(default=None, repr=False)  # the fitted primary model (not serialised)
    statuses: list[dict] = field(default_factory=list)  # one per planned model (`run_planned`)

    def to_dict(self) -> dict:
        """JSON-ready form (the text summary is written separately): the notes in English (`notes`) and as
        data (`notes_message`, `Message.to_json`)."""
        return {"family": self.family, "effects": self.effects, "flow": self.flow, **notes_record(self.notes),
                "extra": self.extra, "statuses": self.statuses}


def notes_record(notes: Sequence[Message], name: str = "notes") -> dict:
    """Notes as a record keeps them: their English under `name`, the messages as data under
    `<name>_message` (`Message.to_json`), in the same order."""
    return {name: [str(note) for note in notes], f"{name}_message": [note.to_json() for note in notes]}


def note_order(note: Message) -> tuple[str, str]:
    """The order of sorted notes: by their English, then by their data (`message_text`)."""
    return str(note), message_text(note)


def flow_step(step: Message, n: int) -> dict:
    """One step of a design's flow: its words in English (`step`), the same as data (`step_message`) and
    the count `n`."""
    return {"step": str(step), "n": int(n), "step_message": step.to_json()}


def run_planned(statuses: list[dict], key: str, design: Design | None, fit: Callable[..., T], *args,
                **kwargs) -> T | None:
    """Run one planned model's `fit` and record its status under `key`: FITTED or the design's BOUNDARY
    (with its flags), or the status and reason of the `NotEstimable` it raised (then None). Any other
    exception is a bug and propagates."""
    try:
        result = fit(*args, **kwargs)
    except NotEstimable as error:
        statuses.append(status_record(key, error.status, error.message,
                                      flags=design.flags if design is not None else ()))
        return None
    if design is None:
        statuses.append(status_record(key, FITTED))
    else:
        statuses.append(status_record(key, design.status, design.reason, flags=design.flags))
    return result


def refuse(statuses: list[dict], keys: Sequence[str], reason: Message, *, status: str = REFUSED) -> None:
    """Record planned models that were not run, all for one reason."""
    statuses.extend(status_record(key, status, reason) for key in keys)


# Why a configured covariate was left out of a model, in words from the data (`resolve_covariates`)
COVARIATE_LEFT_OUT = N_("The covariate {name} was left out: {reason}.")
NOT_A_COLUMN = Message("it is not a column of the data")
NO_VALUE = Message("no patient has a value")
SINGLE_VALUE = Message("it takes a single value")
LABELLED = N_("{label}: {note}")  # a note of one of a family's models (`labelled`)


def resolve_covariates(features: pd.DataFrame, covariates: list[str]) -> tuple[list[str], list[Message]]:
    """Covariates usable in the data; one that is not a column, has no value or takes a single value is
    left out with a note saying which (`COVARIATE_LEFT_OUT`). An empty sample says nothing of its
    covariates (the model is not estimable for that reason): only those that are not columns are left
    out then ("no patient has a value" had been said of covariates every patient had)."""
    used, notes = [], []
    for name in covariates:
        if name not in features.columns:
            reason = NOT_A_COLUMN
        elif features.empty:
            used.append(name)
            continue
        elif features[name].isna().all():
            reason = NO_VALUE
        elif features[name].dropna().nunique() < 2:
            reason = SINGLE_VALUE
        else:
            used.append(name)
            continue
        notes.append(Message(COVARIATE_LEFT_OUT, name=name, reason=reason))
    return used, notes


def left_out_covariate(note: Mapping) -> tuple[str, Mapping] | None:
    """The covariate a note (`Message.to_json` data) says was left out, with its reason (data), whether
    the note is `resolve_covariates`' own or one `labelled` with its model; None for any other note."""
    if note.get("template") == LABELLED:
        note = note["values"]["note"]
    if note.get("template") != COVARIATE_LEFT_OUT:
        return None
    return note["values"]["name"], note["values"]["reason"]


def covariate_terms(features: pd.DataFrame, covariates: list[str]) -> str:
    """Formula terms: numeric covariates enter linearly, others as categories."""
    terms = []
    for name in covariates:
        numeric = pd.api.types.is_numeric_dtype(features[name])
        terms.append(f'Q("{name}")' if numeric else f'C(Q("{name}"))')
    return "".join(f" + {t}" for t in terms)


CATEGORY_TERM = re.compile(r'C\((?:Q\("([^"]+)"\)|(\w+))')  # the column of `C(x)` or `C(Q("x"))`


def formula_frame(data: pd.DataFrame, formula: str) -> pd.DataFrame:
    """`data` for patsy, with the columns of the formula's categorical terms (`C(x)`, `C(Q("x"))`) as pandas
    Categoricals whose categories are the column's values in patsy's own order of levels (`SortAnythingKey`
    over the distinct values): the same levels, design matrix and column names, but patsy reads the levels
    and codes from the Categorical instead of checking every value in Python (most of patsy's time in a
    simulation replication). Columns with missing values, booleans and Categoricals are left as they are.
    A shallow copy; `data` is not changed. Evaluate the formula with the names `FORMULA_NAMES`.
    """
    columns = [c for c in dict.fromkeys(a or b for a, b in CATEGORY_TERM.findall(formula)) if c in data]
    frame = data.copy(deep=False)
    for name in columns:
        values = data[name]
        if (isinstance(values.dtype, pd.CategoricalDtype) or pd.api.types.is_bool_dtype(values)
                or values.isna().any()):
            continue
        frame[name] = pd.Categorical(values, categories=sorted(values.unique(), key=SortAnythingKey))
    return frame


def categorical_term(data, contrast=None, levels=None):
    """patsy's `C(...)` in the models' formulas: a pandas Categorical without a contrast or levels is
    returned as it is, which patsy codes as the same factor (the Categorical's categories as levels,
    treatment contrasts, the same column names) from its integer codes; patsy's `C` would box it, and
    patsy then looks every value up in Python. Anything else goes to patsy's `C`."""
    if contrast is None and levels is None and isinstance(getattr(data, "dtype", None), pd.CategoricalDtype):
        return data
    return patsy.builtins.C(data, contrast, levels)


# The names the models' formulas see beside the data's columns and patsy's builtins (as `eval_env` of
# statsmodels' `from_formula`; `FORMULA_ENV` for patsy's own functions).
FORMULA_NAMES = {"C": categorical_term}
FORMULA_ENV = patsy.EvalEnvironment([FORMULA_NAMES])


@dataclass(frozen=True)
class Binary:
    """A binary or binomial outcome of a design, for `without_pure_categories`: `counts(data)` gives each
    row's events and non-events; `words` says what a category with no events (0) or only events (1) holds."""

    counts: Callable[[pd.DataFrame], tuple[pd.Series, pd.Series]]
    words: dict[int, Message]


PURE_CATEGORY = Message("a covariate category in which the outcome does not vary")
# The data contract's categorical covariates and disciplines in a reason's words: the catalogue's terms
# that the report's tables use ("disciplina = fisioterapia" in Spanish, as the cohort table shows them).
VARIABLE_TERMS = {"discipline": Term("variable", "discipline"), "site": Term("variable", "site"),
                  "age_band": Term("variable", "age band"), "gender": Term("variable", "gender"),
                  "baseline_severity": Term("variable", "baseline severity")}


def category_words(column: str, level: object) -> dict[str, object]:
    """A covariate category as the values `column` and `level` of a message: the contract's variables and
    disciplines as terms of the catalogue, any other column and value as the data name them."""
    words = level
    if column == "discipline" and level in DISCIPLINES:
        words = Term("discipline", str(level))
    return {"column": VARIABLE_TERMS.get(column, column), "level": words}


PURE_CATEGORY_NOTE = N_("{column} = {level}: {what}; its {n} patients were left out, since with an intercept "
                        "of their own they carry no information on the alliance effect")


def without_pure_categories(data: pd.DataFrame, covariates: list[str],
                            binary: Binary) -> tuple[pd.DataFrame, list[Message]]:
    """`data` without the patients of the categories of categorical covariates in which the outcome does
    not vary (no events, or only events), one covariate at a time, with a note naming each category;
    `data` as it is where the outcome would then not vary at all (the fit's separation status says why).
    A row is a patient or a session (of `patient_id`); a category's patients are counted in its note.

    Such a category's intercept goes to -inf (or +inf) in the maximum-likelihood fit, where the category's
    patients contribute log 1 = 0: the other coefficients' estimates are the fit without them, the limit of
    the fit with them (Albert & Anderson 1984). Stata's `logit` drops them alike ("predicts failure
    perfectly"); without it the whole model would read "separation" for one discipline without dropouts.
    """
    notes: list[Message] = []
    while True:
        events, others = binary.counts(data)
        pure = None
        for name in covariates:
            if pd.api.types.is_numeric_dtype(data[name]):
                continue
            sums = pd.DataFrame({"events": events, "others": others}).groupby(data[name], observed=True).sum()
            pure = sums[(sums["events"] == 0) | (sums["others"] == 0)]
            if len(pure):
                break
        if pure is None or pure.empty:
            return data, notes
        dropped = data[name].isin(pure.index)
        if events[~dropped].sum() == 0 or others[~dropped].sum() == 0:
            return data, notes
        for level, row in pure.iterrows():
            patients = Count(int(data.loc[data[name] == level, "patient_id"].nunique()))
            notes.append(Message(PURE_CATEGORY_NOTE, **category_words(name, level), n=patients,
                                 what=binary.words[int(row["others"] == 0)]))
        data = data[~dropped]


def session_rows_without_pure_categories(data: pd.DataFrame, flow: list[dict], covariates: list[str],
                                         binary: Binary) -> tuple[pd.DataFrame, list[dict], list[Message]]:
    """`without_pure_categories` for a design of session rows after `session_flow`: where it leaves
    patients out, a flow step counts their sessions before the analysed sessions and patients, which are
    counted again."""
    kept, notes = without_pure_categories(data, covariates, binary)
    if len(kept) == len(data):
        return data, flow, []
    *steps, sessions, patients = flow
    words = Message("excluded sessions: {reason}", reason=PURE_CATEGORY)
    counted_as = Message.from_json(sessions["step_message"])
    if "step" in counted_as.values:  # the flow's steps are prefixed with their outcome (`session_flow`)
        words = Message("{outcome}: {step}", outcome=counted_as.values["outcome"], step=words)
    step = flow_step(words, len(data) - len(kept))
    counted = [flow_step(Message.from_json(entry["step_message"]), n)
               for entry, n in ((sessions, len(kept)), (patients, kept["patient_id"].nunique()))]
    return kept.copy(), [*steps, step, *counted], notes


def build_design(
    features: pd.DataFrame,
    *,
    outcome: str,
    predictor: str,
    response: str,
    covariates: list[str],
    exclusions: list[tuple[Message, Callable[[pd.DataFrame], pd.Series]]],
    binary: Binary | None = None,
) -> Design:
    """Apply exclusions in order (recording the flow), z-score the predictor, and write the formula.

    `exclusions` are (reason, mask of rows to exclude) pairs, the reason in words (a `Message`). Patients
    missing a used covariate are excluded next (complete cases), and for a `binary` outcome then those of
    covariate categories in which it does not vary (`without_pure_categories`; a flow step where any
    were). The predictor and the numeric covariates are z-scored within the analysis sample (ddof = 1);
    categorical covariates enter as treatment contrasts.
    """
    used, notes = resolve_covariates(features, covariates)
    data = features
    flow = [flow_step(Message("patients in the cohort"), len(data))]
    steps = [*exclusions]
    if used:
        steps.append((MISSING_COVARIATE, lambda d: d[used].isna().any(axis=1)))
    flags = []
    for reason, mask in steps:
        excluded = mask(data).fillna(True).astype(bool)
        flow.append(flow_step(Message("excluded: {reason}", reason=reason), excluded.sum()))
        if reason is MISSING_COVARIATE:
            flags += complete_case_flags(data, used)
        data = data[~excluded]
    if binary is not None and used:
        kept, pure_notes = without_pure_categories(data, used, binary)
        if len(kept) < len(data):
            flow.append(flow_step(Message("excluded: {reason}", reason=PURE_CATEGORY), len(data) - len(kept)))
            notes += pure_notes
            data = kept
    data = data.copy()
    used, more_notes = resolve_covariates(data, used)
    notes += more_notes
    flow.append(flow_step(Message("analysed"), len(data)))
    z = f"{predictor}_z"
    data[z] = standardise(data[predictor])
    design_scale = {predictor: sd_relative_variance(data[predictor], data)}
    for name in used:
        if pd.api.types.is_numeric_dtype(data[name]):
            data[name] = standardise(data[name])
    formula = f"{response} ~ {z}" + covariate_terms(data, used)
    return Design(outcome, predictor, data, formula, used, flow, notes, scale_variance=design_scale,
                  flags=flags)


def few_events_flag(model) -> list[Message]:
    """The flag of a fitted logistic model (a statsmodels GLM, binomial counts or 0/1, or GEE) whose rarer
    outcome (events or non-events) numbers fewer than `EVENTS_PER_COEFFICIENT` per coefficient besides the
    intercept (the columns of its design but one: the predictor or its parts, each numeric covariate,
    each category but the first of a categorical one, a slope per discipline), or none: with fewer,
    maximum likelihood estimates lie further from no effect than they should and their intervals are too
    narrow (Peduzzi et al., 1996). No events at all is the model's reason, not a flag."""
    endog = np.asarray(model.endog, dtype=float)
    trials = np.asarray(getattr(model, "n_trials", np.ones_like(endog)), dtype=float)
    events = float(endog @ trials)
    rarer = round(min(events, float(trials.sum()) - events))
    coefficients = np.asarray(model.exog).shape[1] - 1
    if rarer == 0 or rarer >= EVENTS_PER_COEFFICIENT * coefficients:
        return []
    return [Message("Few events: the rarer outcome occurs {events} times for {coefficients} coefficients "
                    "(fewer than {minimum} per coefficient; Peduzzi et al., 1996): the estimates may lie "
                    "further from no effect than the data warrant and their intervals be too narrow.",
                    events=Count(rarer), coefficients=coefficients, minimum=EVENTS_PER_COEFFICIENT)]


# Fewer events (or non-events) than this per coefficient flags a logistic model (Peduzzi et al., 1996).
EVENTS_PER_COEFFICIENT = 10
# More than this share of the patients left at the covariate step missing a covariate value flags the model:
# complete cases then rest on a selected part of the cohort (a reviewer's clinic lost 62% to a baseline
# severity recorded for a third of its patients, with only a flow row to say so).
COMPLETE_CASE_FLAG = 0.10


COMPLETE_CASES = N_("Complete cases: {count} of the {n} patients otherwise analysed miss a value of "
                     "{covariates} and are left out; the multiple imputation among the sensitivity analyses "
                     "keeps them.")


def complete_case_flags(patients: pd.DataFrame, covariates: list[str]) -> list[Message]:
    """The flag of a design whose complete cases leave out more than `COMPLETE_CASE_FLAG` of the
    `patients` (one row each) that reach its covariate step for a missing covariate value, naming the
    covariates that miss values; none where they leave out fewer."""
    excluded = int(patients[covariates].isna().any(axis=1).sum())
    if excluded <= COMPLETE_CASE_FLAG * len(patients):
        return []
    missing = [VARIABLE_TERMS.get(name, name) for name in covariates if patients[name].isna().any()]
    return [Message(COMPLETE_CASES, count=Count(excluded, of=len(patients)), n=Count(len(patients)),
                    covariates=Message.join(missing, ", "))]


def sample_flags(design: Design) -> list[Message]:
    """The flags of `design` that describe its analysis sample (complete cases), which every model refitted
    on that sample carries (the GEE check, the split, the moderation, the ordinal model); a fit's own flags
    (few clusters, few events) each fit sets itself."""
    return [flag for flag in design.flags if flag.template == COMPLETE_CASES]


# Exclusions (reasons of a flow's steps) that several designs share; the last is every design's last.
NO_EARLY_ALLIANCE = Message("no scored alliance in the early window")
NO_OUTCOME_RECORDED = Message("no outcome recorded")
NO_EARLIER_SCORED_SESSION = Message("no earlier scored session")
MISSING_COVARIATE = Message("missing a covariate value")
SESSIONS_OF_THE_COHORT = Message("sessions of the cohort")


def session_flow(
    rows: pd.DataFrame, steps: list[tuple[Message, pd.Series]], covariates: list[str], *, first: Message,
    outcome: str = "", analysed: Message | None = None,
) -> tuple[pd.DataFrame, list[dict], list[Message]]:
    """Session rows after the exclusions `steps` (reason, mask) in order, then complete cases on the
    `covariates`; the flow counts the rows first, each exclusion, and the sessions (`analysed`, by default
    "sessions analysed") and patients analysed, each step prefixed with `outcome` when given (a family
    with several session models: "home practice: sessions analysed"). The flags: `complete_case_flags` of
    the patients whose sessions reach the covariate step."""
    if covariates:
        steps = [*steps, (MISSING_COVARIATE, rows[covariates].isna().any(axis=1))]
    term = outcome_term(outcome) if outcome else None

    def step(words: Message, n: int) -> dict:
        return flow_step(words if term is None else Message("{outcome}: {step}", outcome=term, step=words), n)

    flow = [step(first, len(rows))]
    flags = []
    keep = pd.Series(True, index=rows.index)
    for reason, mask in steps:
        flow.append(step(Message("excluded sessions: {reason}", reason=reason), (mask & keep).sum()))
        if reason is MISSING_COVARIATE:  # a patient's covariates are the same at every session
            flags += complete_case_flags(rows[keep].drop_duplicates("patient_id"), covariates)
        keep &= ~mask
    data = rows[keep].copy()
    flow.append(step(analysed or Message("sessions analysed"), len(data)))
    flow.append(step(Message("patients analysed"), data["patient_id"].nunique()))
    return data, flow, flags


def session_design(
    features: pd.DataFrame,
    sessions: pd.DataFrame,
    *,
    outcome: str,
    response: str,
    covariates: list[str],
    extra_terms: str = "",
    binary: Binary | None = None,
    attended_only: bool = False,
) -> Design:
    """Session rows with a previous alliance score, alliance split into within- and between-patient parts.

    The predictors are `alliance_prev_within` (the previous scored total minus its mean over the patient's
    analysed rows) and `alliance_between` (that mean; person-mean centring, Falkenstrom et al. 2017), so
    each patient's within deviations sum to 0 over the rows that enter the model. Each
    is per SD of its own level: the within part per SD of the within deviations over the analysed rows, the
    between part per SD of the patients' means (one value per patient). Rows missing the response, the
    previous alliance or a covariate are excluded (counted in the flow; with `attended_only`, first the
    sessions not attended, whose response a clinic's export may fill all the same), and for a `binary`
    response then the patients of covariate categories in which it does not vary
    (`session_rows_without_pure_categories`); its session bands in which it does not vary are pooled
    (`varying_bands`). The design's predictor is
    `alliance_prev_within`; the formula has both parts, `C(session_band)` and `extra_terms`.
    """
    used, notes = resolve_covariates(features, covariates)
    columns = [c for c in dict.fromkeys(["patient_id", "therapist_id", *used]) if c in features]
    rows = with_settings(sessions.drop(columns=["therapist_id"], errors="ignore").merge(
        features[columns], on="patient_id", how="inner"), features)
    steps = [(Message("no {outcome} recorded", outcome=outcome_term(outcome)), rows[response].isna()),
             (NO_EARLIER_SCORED_SESSION, rows["alliance_prev"].isna())]
    if attended_only:
        steps.insert(0, (Message("session not attended"), ~rows["attended"].astype(bool)))
    data, flow, flags = session_flow(rows, steps, used, first=SESSIONS_OF_THE_COHORT, outcome=outcome)
    if binary is not None:
        data, flow, pure = session_rows_without_pure_categories(data, flow, used, binary)
        notes += pure
    used, dropped = resolve_covariates(data, used)  # one value left in the analysed rows: dropped
    notes += dropped
    data[response] = data[response].astype(float)
    data["session_band"] = data["session"].clip(upper=MAX_SESSION_BAND)
    if binary is not None:  # a band in which every session had the outcome (or none) is pooled
        data["session_band"] = varying_bands(data["session_band"], *binary.counts(data))
    # person-mean centring on the analysed rows: each patient's within deviations sum to 0 over them
    person_mean = data.groupby("patient_id")["alliance_prev"].transform("mean")
    data["alliance_between"] = person_mean
    data["alliance_prev_within"] = data["alliance_prev"] - person_mean
    data["alliance_prev_within_z"] = data["alliance_prev_within"] / data["alliance_prev_within"].std(ddof=1)
    person = data.drop_duplicates("patient_id")
    data["alliance_between_z"] = ((data["alliance_between"] - person["alliance_between"].mean())
                                  / person["alliance_between"].std(ddof=1))
    scale = {"alliance_prev_within": sd_relative_variance(data["alliance_prev_within"], data),
             "alliance_between": sd_relative_variance(person["alliance_between"], person)}
    for name in used:
        if pd.api.types.is_numeric_dtype(data[name]):
            values = data.drop_duplicates("patient_id")[name]
            data[name] = (data[name] - values.mean()) / values.std(ddof=1)
    formula = (f"{response} ~ alliance_prev_within_z + alliance_between_z + C(session_band)"
               + covariate_terms(data, used) + extra_terms)
    return Design(outcome, "alliance_prev_within", data, formula, used, flow, notes, unit="session",
                  scale_variance=scale, flags=flags)


def varying_bands(bands: pd.Series, events: pd.Series, others: pd.Series) -> pd.Series:
    """The baseline bands of a session-level logistic model, each band in which the outcome does not vary
    (no events, or only events) pooled with the band before it (the first ones with the next band): such a
    band's log-odds would be minus (or plus) infinity, which no maximum-likelihood fit reaches (the model
    would not converge, or read as separated). `events` and `others` count each row's two outcomes."""
    counts = pd.DataFrame({"events": events, "others": others}).groupby(bands).sum().sort_index()
    mapping: dict = {}
    current, leading = None, []
    for band, row in counts.iterrows():
        if row["events"] > 0 and row["others"] > 0:
            current = band
            mapping |= dict.fromkeys(leading, band)
            leading = []
        if current is None:
            leading.append(band)
        else:
            mapping[band] = current
    mapping |= dict.fromkeys(leading, counts.index.min() if len(counts) else 0)
    return bands.map(mapping)


def level_designs(design: Design) -> tuple[Design, Design]:
    """The same design viewed through each of its two alliance predictors (within, between), so that
    `predictor_effect` can read both terms of one fit."""
    return design, replace(design, predictor="alliance_between")


def standardise(values: pd.Series) -> pd.Series:
    """z-scores with the sample SD (ddof = 1)."""
    return (values - values.mean()) / values.std(ddof=1)


def sd_relative_variance(values: pd.Series, rows: pd.DataFrame) -> float:
    """Var(s) / s^2 of the sample SD s of `values` (aligned with `rows`, which give `therapist_id` and
    `patient_id`), by the delta method: Var(s) = Var(s^2) / (4 s^2), with Var(s^2) the variance of the mean
    squared deviation clustered by therapist (by patient when there is one therapist), G / (G - 1) scaled.

    An effect per SD is b_raw * s; its variance is s^2 Var(b_raw) + b_raw^2 Var(s) (Var(b_raw) and Var(s)
    taken as uncorrelated), so SE^2 = SE_z^2 + b_z^2 * Var(s) / s^2 (`per_sd_wald`). The squared deviations
    carry the kurtosis of `values` (no normality assumed; Casella & Berger 2002, section 5.5, and
    Bonett 2006 for the SD's variance), the clusters their dependence.
    """
    x = values.to_numpy(dtype=float)
    n = len(x)
    if n < 2:
        return 0.0
    squared = (x - x.mean()) ** 2
    s2 = squared.sum() / (n - 1)
    if s2 <= 0:
        return 0.0
    level = "therapist_id" if rows["therapist_id"].nunique() > 1 else "patient_id"
    codes = pd.factorize(rows[level])[0]
    sums = np.bincount(codes, weights=squared - squared.mean())
    g = len(sums)
    var_mean = float(sums @ sums) / n**2 * (g / (g - 1) if g > 1 else 1.0)
    return var_mean * (n / (n - 1)) ** 2 / (4 * s2**2)


@contextmanager
def captured_warnings(notes: list[Message]) -> Iterator[None]:
    """Record the fitting warnings as notes instead of printing them. Separation and non-convergence are
    not notes but statuses (`fit_logit_glm`, `fit_binary_logit`), so their warnings are dropped here. A
    warning the data explain (`KNOWN_WARNINGS`) becomes its words; another keeps the library's English."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for message in dict.fromkeys(warning_words(str(w.message).splitlines()[0]) for w in caught
                                 if not issubclass(w.category, STATUS_WARNINGS)):
        notes.append(message)


# Library warnings that the data explain, in words (statsmodels' OLS and numpy's multivariate normal draw, in
# the imputation models of a small clinic whose therapists' means and disciplines coincide).
COLLINEAR = Message("some predictors were collinear in these data (a rank-deficient design), so their "
                    "coefficients are not uniquely determined; the fit used the minimum-norm solution")
KNOWN_WARNINGS = (
    (re.compile(r"design matrix is rank-deficient|covariance is not symmetric positive-semidefinite"),
     COLLINEAR),
)


def warning_words(text: str) -> Message:
    """A library warning's text as a note: its words where `KNOWN_WARNINGS` has them, else the text."""
    for pattern, words in KNOWN_WARNINGS:
        if pattern.search(text):
            return words
    return Message("Estimation warning: {message}", message=text)


STATUS_WARNINGS = (PerfectSeparationWarning, ConvergenceWarning)
MIN_CLUSTERS = 50  # default of models.min_clusters (workflow/schemas/config.schema.yaml)
# The predictors in the words of the reasons (their short names in the report are other words).
PREDICTOR_NAMES = {
    "alliance_early": Term("predictor", "early alliance"),
    "alliance_mean": Term("predictor", "mean alliance"),
    "alliance_prev": Term("predictor", "the alliance of the previous scored session"),
    "alliance_prev_within": Term("predictor", "within-patient alliance"),
    "alliance_between": Term("predictor", "between-patient alliance"),
    "alliance_within": Term("predictor", "within-patient alliance"),
    "rupture_before": Term("predictor", "a rupture before the session"),
    "alliance_prev_deviation": Term("predictor", "within-patient alliance (deviation from the running mean)"),
    "alliance_running_mean": Term("predictor", "between-patient alliance (running mean)"),
    "symptom_improvement_within": Term("predictor", "within-patient symptom improvement"),
    "symptom_improvement_between": Term("predictor", "between-patient symptom improvement"),
    # the dimensions of the alliance (H5, alliance.models.dimensions)
    "alliance_bond_early": Term("predictor", "early bond score"),
    "alliance_bond_mean": Term("predictor", "mean bond score"),
    "alliance_goal_early": Term("predictor", "early goal score"),
    "alliance_goal_mean": Term("predictor", "mean goal score"),
    "alliance_task_early": Term("predictor", "early task score"),
    "alliance_task_mean": Term("predictor", "mean task score"),
}
# The outcomes in the words of the reasons: as the designs name them (the report's short names translate
# them, `alliance.report.words.outcome_name`) and, where a reason writes them so, with spaces.
OUTCOME_TERMS = {
    "attendance": Term("outcome", "attendance"),
    "dropout": Term("outcome", "dropout"),
    "satisfaction": Term("outcome", "satisfaction"),
    "session attendance": Term("outcome", "session attendance"),
    "home practice": Term("outcome", "home practice"),
    # the session-level outcomes by the report's short names, not their columns' (an English flow had read
    # "symptoms_next: sessions analysed")
    "symptom_improvement": Term("outcome", "symptom improvement"),
    "symptoms_next": Term("outcome", "symptoms at the next session"),
    "alliance_next": Term("outcome", "alliance at the next session"),
}
SPACED_OUTCOME_TERMS = {
    "symptom_improvement": Term("outcome", "symptom improvement"),
    "symptoms_next": Term("outcome", "symptoms next"),
    "alliance_next": Term("outcome", "alliance next"),
}
# What a whole sample excluded at one step means, by the step's reason (`build_design` exclusions).
NONE_LEFT = {
    "no scored alliance in the early window":
        N_("no patient has a scored alliance in the early window ({sessions})"),
    "no session scheduled after the early window": N_("no patient has a session scheduled after the early "
                                                      "window ({sessions})"),
    "treatment ended within the early window":
        N_("every patient's treatment ended within the early window ({sessions})"),
    "no outcome recorded": N_("no patient has a recorded dropout outcome"),
    "no satisfaction score": N_("no analysed patient has a satisfaction score"),
    "satisfaction answered but unscorable (too many items missing)":
        N_("no patient's satisfaction answers can be scored: every answered questionnaire misses too many "
           "items"),
    "no scored alliance session": N_("no patient has a scored alliance session"),
    "no earlier scored session":
        N_("no session follows an earlier scored session (no patient has a scored session before another)"),
    "next session (t + 1) not attended":
        N_("no session with a symptom score has its next session (t + 1) attended"),
    "fewer than two symptom scores": N_("no patient has two symptom scores"),
    "no symptom score at session t + 1": N_("no session is followed by a symptom score at the next session"),
    "no symptom score at the session": N_("no session has a symptom score"),
    "no scored alliance at session t + 1":
        N_("no session is followed by a scored alliance at the next session"),
    "last symptom score within the early window":
        N_("no patient has a symptom score after the early window ({sessions})"),
}
# The same when the last rows were excluded for a missing covariate, by the unit of a design's rows.
NO_COVARIATES_LEFT = {"patient": N_("every remaining patient misses a covariate value"),
                      "session": N_("every remaining session misses a covariate value")}


def window_sessions(early_window: int) -> Message:
    """The sessions of the early window in a reason: "sessions 1-3", "session 1"."""
    return Plural("session {n}", "sessions 1-{n}", n=early_window)


def with_settings(rows: pd.DataFrame, features: pd.DataFrame) -> pd.DataFrame:
    """`rows` built from the `features` (a merge, which keeps no `attrs`) with the features' analysis
    settings (`analysis_setting`): without them a session-level model took the default `min_clusters`
    whatever the config said."""
    rows.attrs = dict(features.attrs)
    return rows


def analysis_setting(frame: pd.DataFrame, name: str):
    """A setting of the analysis carried by the feature table (`fit_family` sets them in `attrs`):
    `early_window` (None when unknown) and `min_clusters` (default `MIN_CLUSTERS`)."""
    defaults = {"early_window": None, "min_clusters": MIN_CLUSTERS}
    return frame.attrs.get(name, defaults[name])


def predictor_name(predictor: str) -> Message | str:
    """A predictor column in the words of a reason (an unknown column as its name with spaces)."""
    return PREDICTOR_NAMES.get(predictor, predictor.replace("_", " "))


def outcome_term(outcome: str, *, spaced: bool = False) -> Message | str:
    """A design's outcome in the words of a reason (`OUTCOME_TERMS`): as the design names it, or with spaces
    for underscores (`symptom_improvement` -> `symptom improvement`); an unknown outcome as its name."""
    if spaced:
        return SPACED_OUTCOME_TERMS.get(outcome) or OUTCOME_TERMS.get(outcome) or outcome.replace("_", " ")
    return OUTCOME_TERMS.get(outcome, outcome)


def unit_count(unit: str, n: int) -> Message:
    """A count of rows (`Design.unit`) or therapists with its noun: "1 patient", "12 sessions"; patients and
    sessions as a `Count` (hidden below the minimum cell size in the report), therapists as they are."""
    if unit == "session":
        return Plural("{n} session", "{n} sessions", n=Count(n))
    if unit == "therapist":
        return Plural("{n} therapist", "{n} therapists", n=n)
    return Plural("{n} patient", "{n} patients", n=Count(n))


def empty_reason(design: Design) -> Message:
    """Why a design's analysis sample is empty, in words from its flow: the exclusion that removed the
    last rows (its reason as the flow gives it when no sentence says what it means)."""
    session = design.unit == "session"
    outcome = outcome_term(design.outcome)
    remaining = design.flow[0]["n"] if design.flow else 0
    if remaining == 0:
        return (Message("no session rows in the data for the {outcome} model", outcome=outcome) if session
                else Message("no patient rows in the data for the {outcome} model", outcome=outcome))
    for step in design.flow[1:]:
        reason = _excluded_reason(step)
        if reason is None:
            continue
        remaining -= step["n"]
        if remaining <= 0 and step["n"] > 0:
            window = analysis_setting(design.data, "early_window")
            words = NO_COVARIATES_LEFT.get(design.unit) if reason == MISSING_COVARIATE else (
                NONE_LEFT.get(str(reason)))
            if words is None or (window is None and "{sessions}" in words):
                return (Message("no session is left for the {outcome} model (the last excluded: {reason})",
                                outcome=outcome, reason=reason) if session else
                        Message("no patient is left for the {outcome} model (the last excluded: {reason})",
                                outcome=outcome, reason=reason))
            return Message(words, sessions=window_sessions(window)) if "{sessions}" in words else (
                Message(words))
    return (Message("no session is left for the {outcome} model", outcome=outcome) if session
            else Message("no patient is left for the {outcome} model", outcome=outcome))


def _excluded_reason(step: dict) -> Message | None:
    """The reason of an exclusion step of a flow (`flow_step`, `session_flow`), from its message; None for
    another step."""
    message = Message.from_json(step["step_message"])
    if "step" in message.values:  # a step prefixed with its outcome
        message = message.values["step"]
    reason = message.values.get("reason")
    return reason if isinstance(reason, Message) else None


# A column "takes a single value" when its range is within this of 0, relative to its size (at least 1): a
# deviation from a patient's own mean (or a therapist's) that is 0 in exact arithmetic comes out as about
# 1e-16 in floating point, which standardising would make a predictor of pure rounding noise.
CONSTANT_TOLERANCE = 1e-9


def single_valued(values: pd.Series) -> bool:
    """Whether `values` (without missing ones) take one value, up to floating-point rounding
    (`CONSTANT_TOLERANCE`)."""
    if values.nunique() < 2:
        return True
    numbers = values.to_numpy(dtype=float)
    return bool(np.ptp(numbers) <= CONSTANT_TOLERANCE * max(1.0, float(np.abs(numbers).max())))


def check_sample(design: Design) -> None:
    """NotEstimable when the analysis sample is empty or an alliance term of the formula (a z-scored
    column) takes a single value in it (`single_valued`: a person-mean deviation of rounding noise
    too)."""
    if design.data.empty:
        raise NotEstimable(empty_reason(design))
    n = len(design.data)
    outcome = outcome_term(design.outcome, spaced=True)
    if design.data["patient_id"].nunique() < 2:
        raise NotEstimable(Message("only one patient in the {outcome} analysis sample", outcome=outcome))
    for raw in dict.fromkeys([design.predictor, *re.findall(r"(\w+)_z\b", design.formula)]):
        column = raw if raw in design.data else f"{raw}_z"
        if column not in design.data:
            continue
        values = design.data[column].dropna()
        if values.empty or single_valued(values):
            values_words = dict(predictor=predictor_name(raw), outcome=outcome,
                                count=unit_count(design.unit, n))
            if values.empty:
                raise NotEstimable(Message("{predictor} takes no value in the {outcome} analysis sample "
                                           "({count})", **values_words))
            if raw.endswith("_within") and design.data["patient_id"].is_unique:  # one row per patient
                raise NotEstimable(Message("each patient has one session in the {outcome} analysis sample "
                                           "({count}), so {predictor} does not vary", **values_words))
            if column != raw:
                raise NotEstimable(Message("{predictor} takes a single value in the {outcome} analysis "
                                           "sample ({count})", **values_words))
            value = float(values.iloc[0])
            value = 0.0 if abs(value) <= CONSTANT_TOLERANCE else value  # rounding noise about 0
            raise NotEstimable(Message("{predictor} takes a single value ({value:.4g}) in the {outcome} "
                                       "analysis sample ({count})", value=value, **values_words))


# A linear model's response that every analysed row has alike, by what a row is (`Design.unit`).
SINGLE_RESPONSE = {
    "patient": N_("{outcome} takes a single value: every analysed patient has {value:g}"),
    "session": N_("{outcome} takes a single value: every analysed session records {value:g}"),
}


def check_response(design: Design) -> None:
    """NotEstimable when a linear model's response (the formula's left side) takes one value in the
    analysis sample (a clinic that sets no homework: every share 0), which the REML fit cannot take."""
    response = design.data[design.formula.split("~")[0].strip()].dropna()
    if single_valued(response):
        raise NotEstimable(Message(SINGLE_RESPONSE[design.unit],
                                   outcome=outcome_term(design.outcome, spaced=True),
                                   value=float(response.iloc[0]) + 0.0))


def single_value_reason(design: Design, value: float) -> Message:
    """Why a binary outcome cannot be modelled: it takes one value in the sample (words per outcome)."""
    words = design.single_value_words.get(round(value))
    if words:
        return words
    return Message("{outcome} takes a single value ({value:g}) in the analysis sample",
                   outcome=outcome_term(design.outcome), value=value)


def check_identified(exog: np.ndarray, names: Sequence[str], design: Design) -> None:
    """NotEstimable when the design matrix has no more rows than columns or is rank-deficient (rank from
    X'X; the columns that add nothing to it are named)."""
    n, k = exog.shape
    if n <= k:
        raise NotEstimable(Message("only {count} in the {outcome} analysis sample for {k} model parameters",
                                   count=unit_count(design.unit, n), outcome=outcome_term(design.outcome),
                                   k=k))
    redundant = np.flatnonzero(~independent_columns(exog, first=()))
    if len(redundant):
        raise NotEstimable(Message("the predictors of the {outcome} model are collinear in its analysis "
                                   "sample: {terms} adds nothing beyond the other terms",
                                   outcome=outcome_term(design.outcome),
                                   terms=[term_words(names[i]) for i in redundant]))


def independent_columns(x: np.ndarray, first: Sequence[int] = (0,), tol: float = 1e-10) -> np.ndarray:
    """Mask of columns kept greedily while each adds to the rank: the columns in `first`, then the others
    in order. Drops the indicator of a category absent from a resample, and one indicator when the
    reference category is absent (the others then add up to the intercept).

    A column adds to the rank when its squared residual on the kept columns is above `tol` times its
    squared norm; computed on the cross-product matrix X'X, so one pass over the rows."""
    gram = x.T @ x
    keep = np.zeros(x.shape[1], dtype=bool)
    for j in [*first, *(j for j in range(x.shape[1]) if j not in first)]:
        if gram[j, j] <= 0:
            continue
        kept = np.flatnonzero(keep)
        explained = 0.0
        if len(kept):
            coef = np.linalg.lstsq(gram[np.ix_(kept, kept)], gram[kept, j], rcond=None)[0]
            explained = float(gram[j, kept] @ coef)
        keep[j] = gram[j, j] - explained > tol * gram[j, j]
    return keep


def term_words(name: str) -> Message | str:
    """A patsy column name in words: `C(Q("discipline"))[T.nutrition]` -> `discipline = nutrition`."""
    match = re.fullmatch(r'C\((?:Q\(")?([^")]+)(?:"\))?\)\[T\.(.+)\]', name)
    if match:
        return f"{match.group(1)} = {match.group(2)}"
    name = re.sub(r'Q\("([^"]+)"\)', r"\1", name)
    return predictor_name(name.removesuffix("_z"))


def check_estimates(fit, design: Design) -> None:
    """NotEstimable when an alliance term of a fit (a z-scored column) has no finite estimate and positive
    standard error: its covariance is singular for these data (e.g. a sandwich on too few patients)."""
    terms = [name for name in fit.params.index if "_z" in name]
    params, bse = np.asarray(fit.params[terms], float), np.asarray(fit.bse[terms], float)
    if not (np.isfinite(params).all() and np.isfinite(bse).all() and (bse > 0).all()):
        n, clusters = len(design.data), design.data["therapist_id"].nunique()
        raise NotEstimable(Message("the standard error of the alliance effect cannot be computed: the "
                                   "covariance of the estimates is singular for these data ({count}, "
                                   "{therapists})", count=unit_count(design.unit, n),
                                   therapists=unit_count("therapist", clusters)))


def cluster_inference(design: Design) -> dict:
    """The fit options for therapist-clustered inference, with the plan's few-cluster path flagged on the
    design (ANALYSIS_PLAN.md section 5, "Few clusters"): from `min_clusters` therapists the usual
    cluster-robust sandwich (CR1) with normal-theory intervals; from 2 to `min_clusters` - 1 Student's t
    on G - 1 degrees of freedom (Cameron & Miller 2015, section VI; `design.df`), the covariance then
    replaced by the fit with a small-sample corrected one (`few_clusters`); with one therapist,
    model-based standard errors (there is no therapist level to account for)."""
    n_clusters = n_therapists(design.data)
    design.df = None
    if n_clusters < 2:
        design.flags.append(Message("One therapist: model-based standard errors (no therapist level to "
                                    "cluster on; the results describe this therapist's patients)."))
        return {}
    options = {"cov_type": "cluster", "cov_kwds": {"groups": therapist_groups(design.data)}}
    if few_clusters(design):
        design.df = n_clusters - 1
        return options | {"use_t": True}
    return options


def n_therapists(data: pd.DataFrame) -> int:
    """The number of therapists in an analysis sample."""
    return int(data["therapist_id"].nunique())


def few_clusters(design: Design) -> bool:
    """Whether the design has 2 to `min_clusters` - 1 therapists: cluster-robust inference then uses a
    small-sample corrected covariance and t(G - 1)."""
    return 2 <= n_therapists(design.data) < int(analysis_setting(design.data, "min_clusters"))


def flag_few_clusters(design: Design, method: Message) -> None:
    """Flag the few-cluster path on the design: G therapists, `method` (the corrected covariance), t(G-1)."""
    g, minimum = n_therapists(design.data), int(analysis_setting(design.data, "min_clusters"))
    design.flags.append(Message(FEW_CLUSTERS, g=g, minimum=minimum, method=method, df=g - 1))


FEW_CLUSTERS = N_("Few clusters: {g} therapists (fewer than {minimum}); {method}, with t({df}) intervals and "
                  "p-values.")


def use_covariance(fit, cov: np.ndarray, df: int | None) -> None:
    """Give a fitted statsmodels result another covariance of its estimates (and Student's t on `df`
    degrees of freedom when not None), so that its `bse`, `conf_int`, `pvalues` and `wald_test` all use
    it. statsmodels reads the covariance from `cov_params_default` and caches what derives from it."""
    inner = getattr(fit, "_results", fit)
    inner.cov_params_default = np.asarray(cov, dtype=float)
    if hasattr(inner, "cov_robust_bc"):  # a GEE's `bse` reads the covariance of its `cov_type`
        inner.cov_type, inner.cov_robust_bc = "bias_reduced", inner.cov_params_default
    inner._cache = {}
    if df is not None:
        inner.use_t = True
        inner.df_resid_inference = df


MANCL_DEROUEN = Message("bias-reduced (Mancl-DeRouen) cluster-robust standard errors")


def bias_reduced_logistic(result, model, design: Design) -> None:
    """Replace a logistic fit's cluster-robust covariance by the bias-reduced sandwich of Mancl & DeRouen
    (2001) with t(G - 1) (flagged): the sandwich of the GEE with independence working correlation, whose
    estimates are the logistic ones (`alliance.stats.clusters.bias_reduced_covariance`). A binomial
    response of successes and failures is expanded to one 0/1 row per trial (the same likelihood), so
    that the correction sees each therapist's trials."""
    endog, exog = np.asarray(model.endog, dtype=float), np.asarray(model.exog, dtype=float)
    groups = therapist_groups(design.data).to_numpy()
    trials = np.rint(np.asarray(getattr(model, "n_trials", 1), dtype=float)).astype(int)
    if (trials != 1).any():  # a GLM's binomial response of successes and failures
        successes = np.rint(endog * trials).astype(int)
        index = np.repeat(np.arange(len(trials)), trials)
        endog = (np.arange(len(index)) - np.repeat(np.cumsum(trials) - trials, trials)
                 < np.repeat(successes, trials)).astype(float)
        exog, groups = exog[index], groups[index]
    mean = 1 / (1 + np.exp(-exog @ np.asarray(result.params, dtype=float)))
    sd = np.sqrt(mean * (1 - mean))
    covariance = bias_reduced_covariance(sd[:, None] * exog, (endog - mean) / sd, groups)
    use_covariance(result, covariance, n_therapists(design.data) - 1)
    flag_few_clusters(design, MANCL_DEROUEN)


def _check_binary(endog: np.ndarray, design: Design) -> None:
    """NotEstimable when a logistic model's outcome takes a single value in its sample."""
    if len(endog) and np.ptp(endog) == 0:
        raise NotEstimable(single_value_reason(design, float(endog[0])))


def predictors_separate(design: Design) -> Message:
    """Words for a fit whose predictors together predict its outcome with certainty for some rows."""
    outcome = outcome_term(design.outcome)
    if design.unit == "session":
        return Message("quasi-complete separation: the predictors together predict {outcome} with certainty "
                       "for some sessions", outcome=outcome)
    return Message("quasi-complete separation: the predictors together predict {outcome} with certainty "
                   "for some patients", outcome=outcome)


def separation_reason(design: Design, endog: np.ndarray) -> Message:
    """Words for a separated logistic fit (`endog`: the response as statsmodels holds it, a 0/1 event or
    a binomial proportion): the alliance range that holds every event (or none), a category of a
    covariate with no events or only events, or else the predictors together."""
    data = design.data
    session = design.unit == "session"
    outcome = outcome_term(design.outcome)
    generic = predictors_separate(design)
    if len(endog) != len(data):
        return generic
    y = pd.Series(np.asarray(endog, dtype=float), index=data.index)
    column = design.predictor if design.predictor in data else f"{design.predictor}_z"
    x = data[column].astype(float)
    events, others = x[y > 0], x[y < 1]
    words = dict(outcome=outcome, predictor=predictor_name(design.predictor))
    if x.notna().any() and x.dropna().isin((0.0, 1.0)).all():  # an indicator (a rupture before the session)
        reason = _indicator_separation(y[x == 1], y[x == 0], session, words)
        if reason is not None:
            return reason
    elif (above := _events_beside(events, others)) is not None:
        if not above:
            return (Message("quasi-complete separation: every {outcome} event has {predictor} at or below "
                            "{value:.3g}, every other session at or above it", value=events.max(), **words)
                    if session else
                    Message("quasi-complete separation: every {outcome} event has {predictor} at or below "
                            "{value:.3g}, every other patient at or above it", value=events.max(), **words))
        return (Message("quasi-complete separation: every {outcome} event has {predictor} at or above "
                        "{value:.3g}, every other session at or below it", value=events.min(), **words)
                if session else
                Message("quasi-complete separation: every {outcome} event has {predictor} at or above "
                        "{value:.3g}, every other patient at or below it", value=events.min(), **words))
    for name in design.covariates:
        if pd.api.types.is_numeric_dtype(data[name]):
            continue
        by_level = y.groupby(data[name], observed=True).agg(["min", "max"])
        constant = by_level[by_level["min"] == by_level["max"]]
        if len(constant):
            where = dict(outcome=outcome, **category_words(name, constant.index[0]))
            if constant["max"].iloc[0] == 0:
                return (Message("quasi-complete separation: no {outcome} events among the sessions with "
                                "{column} = {level}", **where) if session else
                        Message("quasi-complete separation: no {outcome} events among the patients with "
                                "{column} = {level}", **where))
            return (Message("quasi-complete separation: only {outcome} events among the sessions with "
                            "{column} = {level}", **where) if session else
                    Message("quasi-complete separation: only {outcome} events among the patients with "
                            "{column} = {level}", **where))
    for name in design.covariates:  # a numeric covariate that alone divides the events from the others
        if not pd.api.types.is_numeric_dtype(data[name]):
            continue
        values = data[name].astype(float)
        above = _events_beside(values[y > 0], values[y < 1])
        if above is not None:
            return Message(_NUMERIC_WORDS[(above, session)], outcome=outcome,
                           column=VARIABLE_TERMS.get(name, name))
    return generic


def _events_beside(events: pd.Series, others: pd.Series) -> bool | None:
    """False when every event's value is at or below every other row's, True when at or above, None when
    neither (or a group is empty)."""
    if not len(events) or not len(others):
        return None
    if events.max() <= others.min():
        return False
    return True if events.min() >= others.max() else None


# (events above?, sessions?) -> the reason for a numeric covariate (z-scored in the design, so no value)
_NUMERIC_WORDS = {
    (True, False): N_("quasi-complete separation: every {outcome} event has a {column} at or above every "
                      "other patient's"),
    (False, False): N_("quasi-complete separation: every {outcome} event has a {column} at or below every "
                       "other patient's"),
    (True, True): N_("quasi-complete separation: every {outcome} event has a {column} at or above every "
                     "other session's"),
    (False, True): N_("quasi-complete separation: every {outcome} event has a {column} at or below every "
                      "other session's"),
}


def _indicator_separation(present: pd.Series, absent: pd.Series, session: bool,
                          words: dict) -> Message | None:
    """Words for a logistic fit separated by a 0/1 predictor: no event, or only events, among the rows
    with it (`present`: their responses) or without it (`absent`); None when neither group is pure."""
    for group, with_it in ((present, True), (absent, False)):
        if len(group) and (group.max() == 0 or group.min() == 1):
            return Message(_INDICATOR_WORDS[(bool(group.min() == 1), with_it, session)], **words)
    return None


# (only events?, rows with the predictor?, sessions?) -> the reason, with {outcome} and {predictor}
_INDICATOR_WORDS = {
    (False, True, True): N_("quasi-complete separation: no {outcome} events among the sessions with "
                            "{predictor}"),
    (False, True, False): N_("quasi-complete separation: no {outcome} events among the patients with "
                             "{predictor}"),
    (False, False, True): N_("quasi-complete separation: no {outcome} events among the sessions without "
                             "{predictor}"),
    (False, False, False): N_("quasi-complete separation: no {outcome} events among the patients without "
                              "{predictor}"),
    (True, True, True): N_("quasi-complete separation: only {outcome} events among the sessions with "
                           "{predictor}"),
    (True, True, False): N_("quasi-complete separation: only {outcome} events among the patients with "
                            "{predictor}"),
    (True, False, True): N_("quasi-complete separation: only {outcome} events among the sessions without "
                            "{predictor}"),
    (True, False, False): N_("quasi-complete separation: only {outcome} events among the patients without "
                             "{predictor}"),
}


STAMPS = re.compile(r"(?<=Date:)\s+\w{3}, \d{2} \w{3} \d{4}|(?<=Time:)\s+\d{2}:\d{2}:\d{2}")


def summary_text(fit) -> str:
    """statsmodels' text summary without the date and time it was printed (so reruns are identical)."""
    return STAMPS.sub(lambda match: " -".rjust(len(match.group(0))), str(fit.summary()))


def labelled(notes: list[Message], label: Message) -> list[Message]:
    """Notes prefixed with the model they come from (`label`, a `model label` Term), for a family that fits
    several."""
    return [Message(LABELLED, label=label, note=note) for note in notes]


def therapist_groups(data: pd.DataFrame) -> pd.Series:
    """Integer cluster codes for the therapists of the analysis sample."""
    return pd.Series(pd.factorize(data["therapist_id"], sort=True)[0], index=data.index)


def fit_logit_glm(design: Design, cluster: bool = True):
    """Binomial GLM (logit) of the design; cluster-robust SEs by therapist unless `cluster` is False
    (with the few-cluster fallback of `cluster_inference`). Raises NotEstimable when the data cannot
    support it: an empty sample, one alliance value, one outcome value, collinear predictors, separation
    or no convergence."""
    check_sample(design)
    model = GLM.from_formula(design.formula, formula_frame(design.data, design.formula),
                             family=families.Binomial(), eval_env=FORMULA_NAMES)
    options = cluster_inference(design) if cluster else {}
    result = _checked_logistic(design, model, Message("IRLS"), lambda: model.fit(**options))
    design.flags += few_events_flag(model)
    return result


def fit_binary_logit(design: Design):
    """Logistic regression of a 0/1 response by Newton's method (statsmodels Logit), cluster-robust SEs by
    therapist (with the few-cluster fallback): the estimates and SEs of `fit_logit_glm`, for the
    session-level designs of a registry (a million rows), where GLM's IRLS holds about a dozen copies of
    the design (1.5 GB against 0.25 GB). Raises NotEstimable as `fit_logit_glm` does."""
    check_sample(design)
    model = Logit.from_formula(design.formula, formula_frame(design.data, design.formula),
                               eval_env=FORMULA_NAMES)
    return _checked_logistic(design, model, Message("Newton, 100 iterations"), lambda: model.fit(
        method="newton", maxiter=100, disp=False, **cluster_inference(design)))


def _checked_logistic(design: Design, model, method: Message, fit: Callable[[], object]):
    """The checks every logistic fit shares, around `fit()` (a GLM or Logit result): one
    outcome value and collinear predictors before; separation (a singular Hessian on the way, or fitted
    probabilities at 0 or 1; before convergence, since a separated fit often stops at the iteration
    limit), non-convergence by `method`, and a usable alliance SE (bias-reduced with few clusters)
    after. Raises NotEstimable."""
    _check_binary(np.asarray(model.endog), design)
    check_identified(np.asarray(model.exog), model.exog_names, design)
    try:
        result = fit()
    except np.linalg.LinAlgError:  # Newton's or the sandwich's Hessian turns singular under separation
        raise NotEstimable(separation_reason(design, model.endog), SEPARATION) from None
    if separated(result.predict()):
        raise NotEstimable(separation_reason(design, model.endog), SEPARATION)
    if not result.converged:
        raise NotEstimable(Message("the logistic model of {outcome} did not converge ({method})",
                                   outcome=outcome_term(design.outcome), method=method), NOT_CONVERGED)
    if design.df is not None:
        bias_reduced_logistic(result, model, design)
    check_estimates(result, design)
    return result


def wald_reference(fit):
    """The reference distribution of a statsmodels fit's Wald intervals: Student's t on its inference
    degrees of freedom when it uses t (few clusters), else the standard normal."""
    if not getattr(fit, "use_t", False):
        return stats.norm
    return stats.t(getattr(fit, "df_resid_inference", None) or fit.df_resid)


def per_sd_wald(fit, term: str, relative_variance: float, *, df: int | None) -> dict:
    """Estimate, SE, 95% CI and p of a per-SD coefficient `term` of a fit, with the sampling variance of
    the SD that scales it (delta method: SE^2 = SE_z^2 + b^2 Var(s) / s^2; `sd_relative_variance`);
    Wald intervals and tests on Student's t with `df` degrees of freedom, or the normal when None."""
    estimate = float(fit.params[term])
    se = float(np.sqrt(float(fit.bse[term]) ** 2 + estimate**2 * relative_variance))
    reference = stats.norm if df is None else stats.t(df)
    crit = float(reference.ppf(0.975))
    return {"estimate": estimate, "std_error": se, "ci_low": estimate - crit * se,
            "ci_high": estimate + crit * se, "p_value": float(2 * reference.sf(abs(estimate) / se))}


def predictor_effect(
    fit, design: Design, *, model: str, scale: str, n_obs: int, analysis: str = "primary",
    outcome_sd: float | None = None, predictor: str | None = None,
) -> dict:
    """The effect row of a z-scored alliance predictor (the design's, or `predictor`) in a fitted model,
    per SD of the predictor with the SD's own sampling variance in its SE (`per_sd_wald`)."""
    predictor = predictor or design.predictor
    wald = per_sd_wald(fit, f"{predictor}_z", design.scale_variance[predictor], df=design.df)
    return effect_row(
        outcome=design.outcome, model=model, predictor=predictor, scale=scale, **wald, n_obs=n_obs,
        n_patients=design.data["patient_id"].nunique(), n_therapists=n_therapists(design.data),
        analysis=analysis, outcome_sd=outcome_sd,
    )
