"""Bond, goals or tasks: which dimension of the alliance carries each outcome (ANALYSIS_PLAN.md, H5,
exploratory).

For each outcome of H1-H4, the family's own model (design, fit, clustering) with the alliance predictor
replaced by Bordin's (1979) dimensions, each scored as the instrument's subscale over the same sessions:
- H5a, each dimension alone, per SD of it;
- H5b, the three jointly (unique effects), with their correlations and variance inflation factors;
- H5c, relative importance: general dominance weights (`alliance.stats.dominance`) of the three in the
  model's fixed part (R^2; McFadden's R^2 for attendance and dropout), as shares of what they explain
  together, with percentile CIs from a therapist (cluster) bootstrap for each share, each pairwise
  difference and the planned contrast (goal + task) / 2 - bond;
- H5d, the dimensions as latent variables (`alliance.models.dimension_sem`): whether the outcome weights
  one latent dimension more than the others beyond the general alliance.
Every part records a status (keys "H5a-<outcome>", ...); an instrument without the three dimensions refuses
them all in one sentence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import patsy
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.outliers_influence import variance_inflation_factor

from alliance.errors import BOUNDARY, FITTED, NOT_ESTIMABLE, REFUSED, NotEstimable, status_record
from alliance.i18n import N_, Message
from alliance.instruments import Instrument, name_in_words
from alliance.measurement.psychometrics import keyed_items, scale_alpha
from alliance.models.common import (
    FORMULA_ENV,
    MIN_CLUSTERS,
    Design,
    formula_frame,
    independent_columns,
    n_therapists,
    predictor_effect,
    sample_flags,
    sd_relative_variance,
    standardise,
)
from alliance.models.dimension_sem import MIN_THERAPISTS, latent_dimensions, sem_frame, too_few_to_resample
from alliance.models.effects import EFFECT_COLUMNS
from alliance.models.levels import PRIMARY, Primary
from alliance.models.satisfaction import fit_therapist_intercept_lmm
from alliance.models.symptoms import NO_DATA, PATIENT_MODEL, has_symptom_features, improvement_design
from alliance.scoring.scores import is_scored
from alliance.stats.dominance import (
    FitFailed,
    McFadden,
    dominance_fits,
    draw_weights,
    general_dominance,
    linear_criterion,
)

DIMENSIONS = ("bond", "goal", "task")  # Bordin (1979); the report's order
FAMILY = "dimensions"
DOMINANCE_MODEL = "general_dominance_therapist_bootstrap"
PARTS = ("H5a", "H5b", "H5c", "H5d")  # alone, jointly, relative importance, latent (plan.py has the titles)
CONTRASTS = {"goal_minus_bond": {"goal": 1.0, "bond": -1.0}, "task_minus_bond": {"task": 1.0, "bond": -1.0},
             "task_minus_goal": {"task": 1.0, "goal": -1.0},
             "goal_task_minus_bond": {"goal": 0.5, "task": 0.5, "bond": -1.0}}  # the plan's contrast
MIN_DRAWS_SHARE = 0.9  # at least this share of the bootstrap draws must be usable for a CI
LATENT_ALPHA = 0.05  # H5d's false-discovery rate over the outcomes (ANALYSIS_PLAN.md, section 6)
MIN_RELIABILITY = 0.70  # a dimension or difference below it carries a caveat (Nunnally & Bernstein 1994)


@dataclass(frozen=True)
class Outcome:
    """An outcome of H1-H4 and how its model is rebuilt with the dimensions."""

    hypothesis: str
    family: str
    predictor: str  # the total's feature the dimensions replace: alliance_early or alliance_mean
    spec: Primary
    kind: str  # "binomial" (McFadden's R^2) or "linear" (R^2)
    response: Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]  # (successes or y, trials or ones)


def _ones(d: pd.DataFrame) -> np.ndarray:
    return np.ones(len(d))


OUTCOMES = {
    "attendance": Outcome("H1", "adherence", "alliance_early", PRIMARY["adherence"], "binomial",
                          lambda d: (d["attended_after_window"].to_numpy(float),
                                     d["scheduled_after_window"].to_numpy(float))),
    "dropout": Outcome("H2", "dropout", "alliance_early", PRIMARY["dropout"], "binomial",
                       lambda d: (d["dropout_event"].to_numpy(float), _ones(d))),
    "satisfaction": Outcome("H3", "satisfaction", "alliance_mean", PRIMARY["satisfaction"], "linear",
                            lambda d: (d["satisfaction"].to_numpy(float), _ones(d))),
    "symptom_improvement": Outcome(
        "H4", "symptoms", "alliance_early",
        Primary(improvement_design, fit_therapist_intercept_lmm, PATIENT_MODEL, "points", len,
                lambda d: float(d["symptom_improvement"].std(ddof=1))),
        "linear", lambda d: (d["symptom_improvement"].to_numpy(float), _ones(d))),
}


def dimension_columns(features: pd.DataFrame, predictor: str) -> dict[str, str]:
    """The feature column of each dimension over the sessions of `predictor` (alliance_early ->
    alliance_bond_early ...); empty when the instrument does not score all three."""
    suffix = predictor.removeprefix("alliance")
    columns = {d: f"alliance_{d}{suffix}" for d in DIMENSIONS}
    return columns if all(c in features.columns for c in columns.values()) else {}


def with_dimension_scores(features: pd.DataFrame, item_means: dict[str, pd.DataFrame] | None,
                          instrument: Instrument) -> pd.DataFrame:
    """`features` with each dimension's score over each window (`alliance_bond_early`, ...) from the
    patients' item means (`dimension_item_means`) where the instrument maps items to the dimensions
    other than by its subscales (the SRS: one item each); unchanged when the features have them (the
    subscales are the dimensions) or the data hold no items."""
    if not item_means or dimension_columns(features, "alliance_mean"):
        return features
    out = features.copy()
    for predictor, means in item_means.items():
        suffix = predictor.removeprefix("alliance")
        for dimension, items in instrument.dimensions.items():
            score = means[[instrument.item_column(i) for i in items]].mean(axis=1, skipna=False)
            out[f"alliance_{dimension}{suffix}"] = out["patient_id"].map(score)
    return out


def dimension_designs(outcome: Outcome, features: pd.DataFrame, covariates: list[str],
                      columns: dict[str, str]) -> tuple[dict[str, Design], Design]:
    """The family's design on the patients with all three dimension scores (a patient missing one is
    counted with those missing the total), as one design per dimension alone and one with the three."""
    complete = features[list(columns.values())].notna().all(axis=1)
    design = outcome.spec.design(features.assign(**{outcome.predictor: features[outcome.predictor].where(
        complete)}), covariates)
    data = design.data.copy()
    variance = {}
    for column in columns.values():
        data[f"{column}_z"] = standardise(data[column])
        variance[column] = sd_relative_variance(data[column], data)
    base = f"{outcome.predictor}_z"
    alone = {d: replace(design, predictor=column, data=data, notes=list(design.notes),
                        flags=sample_flags(design), formula=design.formula.replace(base, f"{column}_z"),
                        scale_variance={column: variance[column]})
             for d, column in columns.items()}
    joint = replace(design, predictor=columns[DIMENSIONS[0]], data=data, notes=list(design.notes),
                    flags=sample_flags(design),
                    formula=design.formula.replace(base, " + ".join(f"{c}_z" for c in columns.values())),
                    scale_variance=variance)
    return alone, joint


def _record(statuses: list[dict], key: str, designs: Sequence[Design]) -> None:
    """One status for fits that all succeeded: BOUNDARY (with the reasons) when any fit reached one."""
    boundary = [d for d in designs if d.status == BOUNDARY]
    flags = [flag for d in designs for flag in d.flags]
    if boundary:
        reasons = list(dict.fromkeys(d.reason for d in boundary))
        statuses.append(status_record(key, BOUNDARY, reasons[0] if len(reasons) == 1 else
                                      Message.join(reasons, "; "), flags=flags))
    else:
        statuses.append(status_record(key, FITTED, flags=flags))


def _effect(fit, design: Design, outcome: Outcome, column: str, dimension: str, part: str) -> dict:
    data = design.data
    row = predictor_effect(fit, design, model=outcome.spec.model, scale=outcome.spec.scale,
                           n_obs=outcome.spec.n_obs(data), analysis="exploratory",
                           outcome_sd=outcome.spec.outcome_sd(data), predictor=column)
    return {"part": part, "dimension": dimension, **row}


def variance_inflation(design: Design, columns: dict[str, str]) -> dict[str, float]:
    """VIF of each dimension in the joint model's fixed part (covariates included; statsmodels)."""
    matrix = fixed_part(design)
    return {d: float(variance_inflation_factor(matrix.to_numpy(float), list(matrix.columns).index(f"{c}_z")))
            for d, c in columns.items()}


def fixed_part(design: Design) -> pd.DataFrame:
    """The design matrix of the formula's right-hand side (intercept, predictors, covariates), as the fits
    build it."""
    return patsy.dmatrix(design.formula.split("~", 1)[1], formula_frame(design.data, design.formula),
                         eval_env=FORMULA_ENV, return_type="dataframe")


def _matrices(design: Design, columns: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The fixed part's base columns (intercept, covariates) and the three dimension columns."""
    matrix = fixed_part(design)
    names = [f"{columns[d]}_z" for d in DIMENSIONS]
    return matrix.drop(columns=names).to_numpy(float), matrix[names].to_numpy(float)


def importance_shares(kind: str, response: tuple[np.ndarray, np.ndarray], base: np.ndarray,
                      dims: np.ndarray, weights: np.ndarray, starts: dict | None = None,
                      ) -> tuple[np.ndarray, float, dict]:
    """General dominance weights of the dimensions, the fit they add together (full - base) and the
    binomial fits' solutions (`McFadden`; empty for a linear model), on the rows with a positive weight;
    base columns that a draw leaves constant or collinear are dropped. `starts`: solutions to start the
    binomial fits from (the full sample's, for a bootstrap draw)."""
    used = weights > 0
    y, trials, w = response[0][used], response[1][used], weights[used]
    keep = independent_columns(np.column_stack([base[used], dims[used]]))
    if not keep[base.shape[1]:].all():
        raise FitFailed(Message("a dimension is constant or collinear in this sample"))
    base_used = base[used][:, keep[: base.shape[1]]]
    criterion = McFadden(y, trials, w, starts) if kind == "binomial" else linear_criterion(y, w)
    fits = dominance_fits(base_used, dims[used], w, criterion)
    solutions = criterion.solutions if isinstance(criterion, McFadden) else {}
    return general_dominance(fits, dims.shape[1]), fits[(0, 1, 2)] - fits[()], solutions


def _shares(weights: np.ndarray) -> np.ndarray:
    total = weights.sum()
    return weights / total if total > 1e-12 else np.full(len(weights), np.nan)


def _contrasts(shares: np.ndarray) -> dict[str, float]:
    by = dict(zip(DIMENSIONS, shares, strict=True))
    return {name: float(sum(c * by[d] for d, c in terms.items())) for name, terms in CONTRASTS.items()}


def relative_importance(outcome: Outcome, design: Design, columns: dict[str, str], *, draws: int,
                        seed: int) -> dict:
    """H5c: the dimensions' general dominance weights and shares, with therapist-bootstrap percentile CIs
    for the shares and `CONTRASTS`. Raises NotEstimable when the full sample cannot be fitted or fewer
    than `MIN_DRAWS_SHARE` of the draws can."""
    data = design.data
    count = n_therapists(data)
    if count < MIN_THERAPISTS:
        raise NotEstimable(too_few_to_resample(count))
    response = outcome.response(data)
    base, dims = _matrices(design, columns)
    try:
        weights, total, solutions = importance_shares(outcome.kind, response, base, dims, np.ones(len(data)))
    except FitFailed as error:
        raise NotEstimable(
            Message("the binomial fits of the dimensions failed on the analysis sample: {error}",
                    error=error.message) if outcome.kind == "binomial" else
            Message("the linear fits of the dimensions failed on the analysis sample: {error}",
                    error=error.message)) from None
    shares = _shares(weights)
    codes = pd.factorize(data["therapist_id"], sort=True)[0]
    groups = codes.max() + 1
    rng = np.random.default_rng(seed)
    counts = np.array([np.bincount(rng.integers(0, groups, size=groups), minlength=groups)
                       for _ in range(draws)]).reshape(draws, groups)
    batch, held = draw_weights(outcome.kind, response, base, dims, counts, codes, solutions)
    boot, failed = [], 0
    for draw, count in enumerate(counts):  # a draw the batch does not hold is fitted (or refused) alone
        try:
            boot_shares = _shares(batch[draw] if held[draw] else importance_shares(
                outcome.kind, response, base, dims, count[codes].astype(float), solutions)[0])
        except FitFailed:
            failed += 1
            continue
        boot.append([*boot_shares, *_contrasts(boot_shares).values()])
    usable = np.array(boot)
    if len(usable) < MIN_DRAWS_SHARE * draws:
        raise NotEstimable(Message("{failed} of {draws} therapist bootstrap draws could not be fitted (a "
                                   "dimension constant or collinear in the draw): no CI", failed=failed,
                                   draws=draws))
    undefined = int(np.isnan(usable).any(axis=1).sum()) if len(usable) else 0
    if undefined:  # fitted, but the shares of nothing explained are 0 / 0 (it had read "0 of 200 ... fitted")
        raise NotEstimable(Message("in {undefined} of {draws} therapist bootstrap draws the three dimensions "
                                   "explain nothing beyond the covariates, so their shares are undefined: no "
                                   "CI", undefined=undefined, draws=draws))
    low, high = np.percentile(usable, [2.5, 97.5], axis=0)
    names = [*DIMENSIONS, *CONTRASTS]
    estimates = [*shares, *_contrasts(shares).values()]
    return {"fit_index": "McFadden R2" if outcome.kind == "binomial" else "R2", "explained": float(total),
            "weights": dict(zip(DIMENSIONS, map(float, weights), strict=True)),
            "rows": [{"term": name, "estimate": float(est), "ci_low": float(lo), "ci_high": float(hi)}
                     for name, est, lo, hi in zip(names, estimates, low, high, strict=True)],
            "draws": draws, "failed_draws": failed}


def has_item_answers(item_means: pd.DataFrame | None) -> bool:
    """Whether any patient has an item mean: None or all empty where the data hold pre-scored subscales."""
    return item_means is not None and bool(item_means.notna().to_numpy().any())


def latent_analysis(outcome: Outcome, design: Design, columns: dict[str, str],
                    item_means: pd.DataFrame | None, instrument: Instrument, *, draws: int,
                    seed: int) -> dict:
    """H5d on the joint model's analysis sample: the items' patient means and the outcome (a binomial
    one as its share), residualised on the fixed part's intercept and covariates
    (`dimension_sem.sem_frame`), in the correlated-factors model (`dimension_sem.latent_dimensions`, its
    test of equal paths by `draws` wild bootstrap draws from `seed`). Raises NotEstimable without item
    answers or where that model cannot be fitted."""
    if not has_item_answers(item_means):
        raise NotEstimable(Message("the data hold scored subscales, not the item answers the latent "
                                   "dimensions are measured by"))
    data = design.data
    base, _ = _matrices(design, columns)
    successes, trials = outcome.response(data)
    frame, complete = sem_frame(item_means.reindex(data["patient_id"]), successes / trials, base, instrument)
    return latent_dimensions(frame, data["therapist_id"].to_numpy()[complete], instrument, draws=draws,
                             rng=np.random.default_rng(seed))


def latent_verdicts(p_values: dict[str, float]) -> dict[str, dict]:
    """H5d's verdict per outcome from its test of equal paths (`p_values`, outcome -> p, the outcomes whose
    latent model was fitted): the tests form one exploratory family, adjusted by Benjamini-Hochberg as
    the plan adjusts its exploratory effects (statsmodels `fdr_bh`); a dimension-specific effect is
    `declared` where q < `LATENT_ALPHA`. Without adjustment, four outcomes tested at .05 would declare one
    in about a fifth of the cohorts that have none.

    References
    ----------
    Benjamini, Y., & Hochberg, Y. (1995). Controlling the false discovery rate: A practical and powerful
    approach to multiple testing. Journal of the Royal Statistical Society B, 57(1), 289-300.
    """
    if not p_values:
        return {}
    q_values = multipletests(list(p_values.values()), method="fdr_bh")[1]
    return {outcome: {"q": float(q), "declared": bool(q < LATENT_ALPHA)}
            for outcome, q in zip(p_values, q_values, strict=True)}


def dimension_item_means(sessions: pd.DataFrame, session_scores: pd.DataFrame, instrument: Instrument,
                         early_window: int) -> dict[str, pd.DataFrame]:
    """Per patient, the keyed items' means over the scored sessions the dimension scores average: sessions
    1..`early_window` (key `alliance_early`) and all (`alliance_mean`); empty when the sessions table holds
    no items (prescored alliance)."""
    items = instrument.item_columns
    if not set(items) <= set(sessions.columns):
        return {}
    scored = session_scores.loc[is_scored(session_scores), ["patient_id", "session"]]
    rows = scored.merge(sessions[["patient_id", "session", *items]], on=["patient_id", "session"], how="left")
    keyed = keyed_items(rows, instrument).assign(patient_id=rows["patient_id"].to_numpy())
    early = keyed[rows["session"].to_numpy() <= early_window]
    return {"alliance_early": early.groupby("patient_id").mean(),
            "alliance_mean": keyed.groupby("patient_id").mean()}


# Why a dimension's reliability has no value (translated where the report shows them).
NO_ITEMS_RELIABILITY = N_("the data hold scored subscales, not items: no internal consistency")
ONE_ITEM_RELIABILITY = N_("one item: no internal consistency")


def dimension_reliability(item_means: pd.DataFrame | None, patients: pd.Series, instrument: Instrument,
                          correlations: dict[str, float]) -> dict:
    """Cronbach's alpha (95% CI; pingouin) of each dimension's item means over the analysis sample's
    patients (complete rows), and the reliability of each pairwise difference of standardised scores,
    (r_xx + r_yy - 2 r_xy) / (2 - 2 r_xy) (Lord & Novick 1968); each flagged `low` below
    `MIN_RELIABILITY`. Without items (or with one item per dimension) alpha is NaN with the reason."""
    if not has_item_answers(item_means):
        return {"reason": NO_ITEMS_RELIABILITY}
    sample = item_means.reindex(patients.unique())
    alphas, out = {}, {"dimensions": {}, "differences": {}}
    for d in DIMENSIONS:
        columns = [instrument.item_column(i) for i in instrument.dimensions[d]]
        complete = sample[columns].dropna()
        alpha, (low, high) = scale_alpha(complete)
        alphas[d] = alpha
        out["dimensions"][d] = {"alpha": float(alpha), "ci_low": float(low), "ci_high": float(high),
                                "n": len(complete), "n_items": len(columns),
                                "low": bool(alpha < MIN_RELIABILITY)}
        if len(columns) < 2:
            out["dimensions"][d]["reason"] = ONE_ITEM_RELIABILITY
    for a, b in [("bond", "goal"), ("bond", "task"), ("goal", "task")]:
        r = correlations[f"{a}_{b}"]
        value = (alphas[a] + alphas[b] - 2 * r) / (2 - 2 * r)
        out["differences"][f"{b}_minus_{a}"] = {"reliability": float(value),
                                                "low": bool(value < MIN_RELIABILITY)}
    return out


def dimension_analysis(features: pd.DataFrame, covariates: list[str], settings: dict, *,
                       instrument: Instrument, item_means: dict[str, pd.DataFrame] | None = None,
                       min_clusters: int = MIN_CLUSTERS, early_window: int | None = None) -> dict:
    """H5 for every outcome (`OUTCOMES`): effect rows (`effects`: part H5a or H5b), per outcome the
    correlations, VIFs and relative importance (`outcomes`), a status per planned key ("H5a-<outcome>",
    ...), and the instrument's items in none of the three dimensions (`unmapped_items`, e.g. the SRS's
    overall item). `settings` is the config's `dimensions` block (bootstrap draws for H5c and
    H5d, seed);
    `item_means` (`dimension_item_means`) gives the dimensions' reliability in each analysis sample;
    `min_clusters` and `early_window` are the settings the primary models take (`fit_family`: H5's models
    had taken the default few-cluster threshold whatever the config said)."""
    statuses: list[dict] = []
    effects: list[dict] = []
    details: dict[str, dict] = {}
    features = with_dimension_scores(features, item_means, instrument) if instrument.dimensions else features
    features = features.copy(deep=False)
    features.attrs = {"min_clusters": int(min_clusters)} | (
        {} if early_window is None else {"early_window": int(early_window)})
    for index, (name, outcome) in enumerate(OUTCOMES.items()):
        keys = [f"{part}-{name}" for part in PARTS]
        columns = dimension_columns(features, outcome.predictor)
        if not instrument.dimensions:
            reason = Message("the alliance instrument ({instrument}) does not score Bordin's bond, goal and "
                             "task dimensions", instrument=name_in_words(instrument))
            statuses += [status_record(k, REFUSED, reason) for k in keys]
            continue
        totals_only = bool(columns) and features[list(columns.values())].isna().all().all() and bool(
            features[outcome.predictor].notna().any())  # pre-scored totals: no subscale score anywhere
        if not columns or totals_only:
            reason = Message("the data hold pre-scored alliance totals, not the item answers the dimensions "
                             "of {instrument} are scored from", instrument=name_in_words(instrument))
            statuses += [status_record(k, NOT_ESTIMABLE, reason) for k in keys]
            continue
        if outcome.family == "symptoms" and not has_symptom_features(features):
            statuses += [status_record(k, NOT_ESTIMABLE, NO_DATA) for k in keys]
            continue
        alone, joint = dimension_designs(outcome, features, covariates, columns)
        detail = {"hypothesis": outcome.hypothesis, "flow": joint.flow,
                  "n_patients": int(joint.data["patient_id"].nunique()),
                  "n_therapists": n_therapists(joint.data)}
        try:
            fits = {d: outcome.spec.fit(design) for d, design in alone.items()}
        except NotEstimable as error:
            statuses += [status_record(k, error.status, error.message) for k in keys]
            details[name] = detail
            continue
        _record(statuses, keys[0], list(alone.values()))
        effects += [_effect(fits[d], alone[d], outcome, columns[d], d, "H5a") for d in DIMENSIONS]
        values = joint.data[[columns[d] for d in DIMENSIONS]]
        corr = values.corr().to_numpy()
        detail["correlations"] = {f"{a}_{b}": float(corr[i, j]) for i, a in enumerate(DIMENSIONS)
                                  for j, b in enumerate(DIMENSIONS) if i < j}
        detail["reliability"] = dimension_reliability(
            (item_means or {}).get(outcome.predictor), joint.data["patient_id"], instrument,
            detail["correlations"])
        try:
            joint_fit = outcome.spec.fit(joint)
        except NotEstimable as error:
            statuses.append(status_record(keys[1], error.status, error.message))
        else:
            _record(statuses, keys[1], [joint])
            vif = variance_inflation(joint, columns)
            detail["vif"] = vif
            effects += [_effect(joint_fit, joint, outcome, columns[d], d, "H5b") | {"vif": vif[d]}
                        for d in DIMENSIONS]
        try:
            detail["importance"] = relative_importance(
                outcome, joint, columns, draws=int(settings["bootstrap"]), seed=int(settings["seed"]) + index)
        except NotEstimable as error:
            statuses.append(status_record(keys[2], error.status, error.message))
        else:
            statuses.append(status_record(keys[2], FITTED))
        try:
            detail["latent"] = latent_analysis(
                outcome, joint, columns, (item_means or {}).get(outcome.predictor), instrument,
                draws=int(settings["latent_bootstrap"]), seed=int(settings["seed"]) + index)
        except NotEstimable as error:
            statuses.append(status_record(keys[3], error.status, error.message))
        else:
            statuses.append(status_record(keys[3], FITTED))
        details[name] = detail
    verdicts = latent_verdicts({name: detail["latent"]["equal_paths"]["p"] for name, detail in details.items()
                                if "latent" in detail})
    for name, verdict in verdicts.items():
        details[name]["latent"] = details[name]["latent"] | {
            "equal_paths": details[name]["latent"]["equal_paths"] | {"q": verdict["q"]},
            "declared": verdict["declared"]}
    mapped = {item for items in instrument.dimensions.values() for item in items}
    unmapped = [i for i in range(1, instrument.n_items + 1) if i not in mapped] if mapped else []
    return {"family": FAMILY, "effects": effects, "outcomes": details, "statuses": statuses,
            "instrument": instrument.name, "unmapped_items": unmapped}


EFFECT_TABLE_COLUMNS = ["part", "dimension", *EFFECT_COLUMNS, "vif"]
IMPORTANCE_COLUMNS = ["outcome", "hypothesis", "fit_index", "explained", "term", "estimate", "ci_low",
                      "ci_high", "draws", "failed_draws"]


# the test of equal paths: each key of its result as a column of latent.csv
EQUAL_PATHS_COLUMNS = {"score": "score_equal_paths", "df": "df_equal_paths", "p": "p_equal_paths",
                       "q": "q_equal_paths", "draws": "bootstrap_draws", "weights": "bootstrap_weights"}
LATENT_COLUMNS = ["outcome", "hypothesis", "term", "estimate", "se", "ci_low", "ci_high",
                  *EQUAL_PATHS_COLUMNS.values(), "declared", "n", "n_therapists", "cfi", "rmsea"]


def dimension_tables(result: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The effect rows (H5a, H5b; `vif` for the joint rows), the relative-importance rows (H5c: each
    dimension's share and the contrasts, with their CIs) and the latent rows (H5d: each dimension's path
    and the planned contrast, with the test of equal paths) of a `dimension_analysis` result."""
    effects = pd.DataFrame(result["effects"], columns=EFFECT_TABLE_COLUMNS)
    rows = [{"outcome": outcome, "hypothesis": detail["hypothesis"], "fit_index": importance["fit_index"],
             "explained": importance["explained"], **row, "draws": importance["draws"],
             "failed_draws": importance["failed_draws"]}
            for outcome, detail in result["outcomes"].items() if (importance := detail.get("importance"))
            for row in importance["rows"]]
    latent = [{"outcome": outcome, "hypothesis": detail["hypothesis"], "term": term, **values,
               **{column: model["equal_paths"][key] for key, column in EQUAL_PATHS_COLUMNS.items()},
               "declared": model["declared"], "n": model["n"], "n_therapists": model["n_therapists"],
               "cfi": model["fit"]["cfi"], "rmsea": model["fit"]["rmsea"]}
              for outcome, detail in result["outcomes"].items() if (model := detail.get("latent"))
              for term, values in [*model["paths"].items(), ("goal_task_minus_bond", model["contrast"])]]
    return (effects, pd.DataFrame(rows, columns=IMPORTANCE_COLUMNS),
            pd.DataFrame(latent, columns=LATENT_COLUMNS))
