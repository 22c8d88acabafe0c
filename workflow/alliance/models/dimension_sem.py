"""H5d: the alliance dimensions as latent variables, and whether the outcome weights one of them more
than the others (ANALYSIS_PLAN.md, H5d, exploratory).

A correlated-factors model (semopy, maximum likelihood) of the patients' item means: each of Bordin's
dimensions a factor measured by its items (variance 1, loadings free, the factors correlated), the outcome
regressed on the three. Items and outcome are first residualised on the outcome model's fixed part
without the alliance (intercept and covariates; Frisch-Waugh-Lovell) and standardised, so each path is
in SD of the outcome per SD of the latent dimension, free of the dimensions' unreliability.

"Only a general alliance" means the outcome follows the three dimensions alike (equal paths): an outcome
driven by the alliance as a whole, including the unweighted total, gives equal paths. A dimension-specific
effect is tested by the therapist-cluster-robust score test of equal paths (2 df) at the equal-paths
estimate, its p-value from a restricted wild score bootstrap over therapists (`alliance.stats.sem`: the
bootstrap's draws are that statistic's, so the two are compared like with like; the Wald statistic at the
unrestricted estimate, referred to the same draws or to F(2, G - 1), was liberal in its tail with some 30
therapists, which a family of four outcomes feels); it is declared over the outcomes together
(`alliance.models.dimensions.latent_verdicts`). A bifactor model (general factor plus
orthogonal specific factors) is not used: with an outcome regressed on all four factors its paths are not
identified when the specific loadings are proportional to the general ones within a dimension, which
is what the synthetic data and typical WAI data show (anomalous G-factor results; Eid et al. 2017).

References
----------
Eid, M., Geiser, C., Koch, T., & Heene, M. (2017). Anomalous results in G-factor models: Explanations and
alternatives. Psychological Methods, 22(3), 541-562.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from alliance.errors import NOT_CONVERGED, NotEstimable
from alliance.i18n import Count, Message, Plural, Term
from alliance.instruments import Instrument, name_in_words
from alliance.stats.sem import (
    WEBB_MAX_CLUSTERS,
    active_parameters,
    cluster_robust_covariance,
    cluster_scores,
    comparative_fit_index,
    fisher_scoring,
    robust_score_statistic,
    wild_score_p_value,
)

if TYPE_CHECKING:  # imported where a model is fitted: it takes a second to import (sympy, scikit-learn)
    import semopy

MODEL = "correlated_factors_sem_cluster_robust"
FACTORS = {"bond": "B", "goal": "O", "task": "T"}  # the factors' names in the model description
MIN_ITEMS = 3  # per factor: with fewer, its loadings rest only on its correlations with the other factors
MIN_PATIENTS_PER_PARAMETER = 5  # Bentler & Chou (1987)
MAX_CORRELATION = 0.98  # latent dimensions correlating more are not distinct
# Fewest therapists for H5's cluster-based inference (H5c's therapist bootstrap, H5d's cluster-robust test):
# with fewer, a pairs cluster bootstrap has few distinct draws and a sandwich few clusters, and both cover
# poorly (Cameron, Gelbach & Miller 2008); the project's GEE check uses the same 10.
MIN_THERAPISTS = 10


def too_few_to_resample(count: int) -> Plural:
    """Why a therapist bootstrap is not run on `count` (< `MIN_THERAPISTS`) therapists, in words."""
    return Plural("{n} therapist in the analysis sample (fewer than {minimum}): a therapist bootstrap would "
                  "resample too few clusters for a confidence interval",
                  "{n} therapists in the analysis sample (fewer than {minimum}): a therapist bootstrap would "
                  "resample too few clusters for a confidence interval", n=count, minimum=MIN_THERAPISTS)
SINGULAR = 1e-10  # relative smallest eigenvalue of the information matrix taken as singular
EQUAL_PATHS = np.array([[-1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]])  # goal - bond, task - bond
CONTRAST = np.array([-1.0, 0.5, 0.5])  # the plan's (goal + task) / 2 - bond


def _item(item: int) -> str:
    return f"i{item}"


def _variable(name: str) -> Message:
    """A variable of the model description in words: "item 7", "the outcome", "the latent goal dimension"."""
    factors = {factor: dimension for dimension, factor in FACTORS.items()}
    if name in factors:
        return Message("the latent {dimension} dimension", dimension=DIMENSION_TERMS[factors[name]])
    return Message("the outcome") if name == "y" else Message("item {item}", item=name.removeprefix("i"))


DIMENSION_TERMS = {"bond": Term("subscale", "bond"), "goal": Term("subscale", "goal"),
                   "task": Term("subscale", "task")}  # the dimensions in the words of a reason


def description(instrument: Instrument, *, equal_paths: bool = False) -> str:
    """The model in semopy's syntax: the three factors (variances fixed at 1, every loading free and
    labelled l<item>), their correlations (rBO, rBT, rOT), and the outcome `y` regressed on them (paths
    pB, pO, pT; with `equal_paths` one path p shared by the three, the null of the test)."""
    lines = []
    for dimension, factor in FACTORS.items():
        items = instrument.dimensions[dimension]
        lines.append(f"{factor} =~ " + " + ".join(f"l{i}*{_item(i)}" for i in items))
        lines.append(f"{factor} ~~ 1*{factor}")
    lines += ["B ~~ rBO*O", "B ~~ rBT*T", "O ~~ rOT*T", "y ~ p*B + p*O + p*T" if equal_paths
              else "y ~ pB*B + pO*O + pT*T"]
    return "\n".join(lines)


def _started(model: semopy.Model) -> semopy.Model:
    """Starting values for the labelled parameters: semopy's own loop forever when no loading is fixed
    to 1 (semopy 2.3, `startingvalues.start_lambda`)."""
    for name, parameter in model.parameters.items():
        parameter.start = {"l": 0.5, "r": 0.7, "p": 0.1}.get(name[0], parameter.start)
    return model


class _NoFixedLoadings(logging.Filter):
    """Silence semopy's warning that no loading is fixed: the factor variances are, by design."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("No fixed loadings")


@contextmanager
def _quiet_semopy() -> Iterator[None]:
    root = logging.getLogger()
    quiet = _NoFixedLoadings()
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)


def _residualised(values: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Least-squares residuals of each column on `base`."""
    coefficients, *_ = np.linalg.lstsq(base, values, rcond=None)
    return values - base @ coefficients


def sem_frame(items: pd.DataFrame, outcome: np.ndarray, base: np.ndarray, instrument: Instrument
              ) -> tuple[pd.DataFrame, np.ndarray]:
    """The model's data, residualised on `base` and standardised: one column per item of the three
    dimensions (`i<k>`) and `y`, for the rows with every item and the outcome; and the mask of those rows.
    `items` holds the instrument's item columns, row-aligned with `outcome` and `base`. Raises
    NotEstimable when an item or the outcome has no variation left."""
    numbers = [i for dimension in FACTORS for i in instrument.dimensions[dimension]]
    values = np.column_stack([items[[instrument.item_column(i) for i in numbers]].to_numpy(float), outcome])
    complete = np.isfinite(values).all(axis=1)
    names = [*map(_item, numbers), "y"]
    residuals = _residualised(values[complete], base[complete])
    constant = [_variable(name) for name, spread in zip(names, residuals.std(axis=0), strict=True)
                if not np.isfinite(spread) or spread < 1e-8]
    if constant:
        raise NotEstimable(Message("no variation left in {variables} once the covariates are accounted for, "
                                   "in the latent model's sample", variables=constant))
    return pd.DataFrame(residuals / residuals.std(axis=0, ddof=1), columns=names), complete


def negative_variances(model: semopy.Model) -> list[Message]:
    """The latent and observed variables of a fitted model whose (residual) variance is negative, in
    words (semopy keeps them on the diagonals of its psi and theta matrices, named in `model.names`)."""
    matrices = {"psi": (model.mx_psi, model.names[2][0]), "theta": (model.mx_theta, model.names[3][0])}
    return [_variable(name) for matrix, names in matrices.values()
            for name, value in zip(names, matrix.diagonal(), strict=True) if value < 0]


def _distinct(correlations: dict[str, float]) -> None:
    for pair, value in correlations.items():
        if abs(value) >= MAX_CORRELATION:
            a, b = pair.split("_")
            raise NotEstimable(Message("the latent {a} and {b} dimensions correlate at {value:.2f} in this "
                                       "sample: the dimensions are not distinct, so a dimension-specific "
                                       "effect cannot be told apart from the general alliance",
                                       a=DIMENSION_TERMS[a], b=DIMENSION_TERMS[b], value=value))


def _restricted(values: dict[str, float], names: list[str]) -> np.ndarray:
    """The equal-paths fit's estimate (`values`, name -> value) in the order of the full model's `names`:
    its shared path p in place of pB, pO and pT, every other parameter by its own name."""
    return np.array([values["p"] if name in {"pB", "pO", "pT"} else values[name] for name in names])


def latent_dimensions(data: pd.DataFrame, clusters: np.ndarray, instrument: Instrument, *, draws: int,
                      rng: np.random.Generator) -> dict:
    """Fit H5d's correlated-factors model to `sem_frame` data and test equal paths.

    Parameters
    ----------
    data
        `sem_frame`'s first value.
    clusters
        Each row's therapist.
    instrument
        The alliance instrument (its `dimensions` map items to bond, goal and task).
    draws
        Wild bootstrap draws for the test of equal paths.
    rng
        The bootstrap's random generator.

    Returns
    -------
    dict
        `paths` (per dimension: estimate, se, ci_low, ci_high; SD of the outcome per SD of the latent
        dimension), `contrast` ((goal + task) / 2 - bond, same keys), `equal_paths` (the score statistic,
        its degrees of freedom, the wild bootstrap p, the draws and the weights' name), the latent
        `correlations`, the fit indices, n and the number of therapists.

    Raises
    ------
    NotEstimable
        A dimension with fewer than `MIN_ITEMS` items, too few patients or therapists, no convergence,
        an improper solution (a negative variance, latent dimensions that are not distinct), a
        singular information matrix, or an equal-paths model that does not converge, each said in words.
    """
    short = {d: len(instrument.dimensions[d]) for d in FACTORS if len(instrument.dimensions[d]) < MIN_ITEMS}
    if short:
        dimensions = [Plural("{dimension} by {n} item", "{dimension} by {n} items", n=n,
                             dimension=DIMENSION_TERMS[d]) for d, n in short.items()]
        raise NotEstimable(Message("{instrument} measures {dimensions}: a latent dimension needs at least "
                                   "{minimum} items", instrument=name_in_words(instrument),
                                   dimensions=dimensions, minimum=MIN_ITEMS))
    groups = int(pd.Series(clusters).nunique())
    if groups < MIN_THERAPISTS:
        raise NotEstimable(Plural("{n} therapist in the analysis sample (fewer than {minimum}): too few "
                                  "clusters for the cluster-robust test",
                                  "{n} therapists in the analysis sample (fewer than {minimum}): too few "
                                  "clusters for the cluster-robust test", n=groups, minimum=MIN_THERAPISTS))
    import semopy  # here, not at the top: the plan and the report read this module's names only

    with _quiet_semopy():
        model = _started(semopy.Model(description(instrument)))
        free = len(active_parameters(model))
        if len(data) < MIN_PATIENTS_PER_PARAMETER * free:
            raise NotEstimable(Message("{n} patients for the latent model's {free} parameters (fewer than "
                                       "{minimum} per parameter)", n=Count(len(data)), free=free,
                                       minimum=MIN_PATIENTS_PER_PARAMETER))
        model.fit(data)
        if not fisher_scoring(model):
            raise NotEstimable(Message("the latent model did not converge on these data"), NOT_CONVERGED)
        names = active_parameters(model)
        values = dict(zip(names, model.param_vals, strict=True))
        correlations = {"bond_goal": values["rBO"], "bond_task": values["rBT"], "goal_task": values["rOT"]}
        _distinct(correlations)
        negative = negative_variances(model)
        if negative:
            raise NotEstimable(Message("the latent model's solution is improper (a negative variance of "
                                       "{variables})", variables=negative))
        eigenvalues = np.linalg.eigvalsh(model.calc_fim())
        if eigenvalues[0] <= SINGULAR * eigenvalues[-1]:
            raise NotEstimable(Message("the latent model's parameters are not identified in these data "
                                       "(singular information matrix)"))
        covariance = cluster_robust_covariance(model, clusters)
        fit = semopy.calc_stats(model).iloc[0]  # builds the baseline model from the description
        null = _started(semopy.Model(description(instrument, equal_paths=True)))
        null.fit(data)
        if not fisher_scoring(null):
            raise NotEstimable(Message("the latent model with equal paths (the test's null) did not converge "
                                       "on these data"), NOT_CONVERGED)
        restricted = _restricted(dict(zip(active_parameters(null), null.param_vals, strict=True)), names)
        scores, information_inverse = cluster_scores(model, clusters, restricted)
    index = [names.index(k) for k in ("pB", "pO", "pT")]
    paths, cov = model.param_vals[index], covariance[np.ix_(index, index)]
    critical = stats.t.ppf(0.975, groups - 1)
    restriction = np.zeros((len(EQUAL_PATHS), len(names)))
    restriction[:, index] = EQUAL_PATHS
    sizes = pd.Series(clusters).value_counts().sort_index().to_numpy()
    score = robust_score_statistic(scores, information_inverse, restriction, sizes=sizes)
    p_value = wild_score_p_value(scores, information_inverse, restriction, score, draws=draws, rng=rng,
                                 sizes=sizes)

    def interval(estimate: float, variance: float) -> dict:
        se = float(np.sqrt(variance))
        return {"estimate": float(estimate), "se": se, "ci_low": float(estimate - critical * se),
                "ci_high": float(estimate + critical * se)}

    return {"model": MODEL, "n": len(data), "n_therapists": groups,
            "paths": {d: interval(paths[i], cov[i, i]) for i, d in enumerate(FACTORS)},
            "contrast": interval(CONTRAST @ paths, CONTRAST @ cov @ CONTRAST),
            "equal_paths": {"score": score, "df": len(EQUAL_PATHS), "p": p_value, "draws": draws,
                            "weights": "Rademacher" if groups > WEBB_MAX_CLUSTERS else "Webb"},
            "correlations": {k: float(v) for k, v in correlations.items()},
            "fit": {"cfi": comparative_fit_index(fit["chi2"], fit["DoF"], fit["chi2 Baseline"],
                                                 fit["DoF Baseline"]),
                    "rmsea": float(fit["RMSEA"])}}
