"""The one-stage analysis of the network's combined data from aggregates (ANALYSIS_PLAN.md, section 11,
"One stage from aggregates").

Two-stage pooling weighs each site's estimate by its own SE, and each site adjusts its own intercept and
covariates: its result differs from the analysis of all patients in one place by sampling noise of about
0.3 of that analysis' SE at 400 patients a site (plan section 11, "Validation"). The analysis of the
combined data needs no patient row either. Each site sends, per primary model, on the instruments' own
scales (alliance per point, a numeric covariate per unit, each category against the site's first level):
for the logistic models its estimates, the information matrix I (minus the Hessian of the log-likelihood)
and the array T of its third derivatives (I's derivative); for the linear mixed model (satisfaction) the
within- and between-therapist cross-products of its design and outcome (`therapist_cross_products`); and
the outer product of the scores summed by therapist (`site_aggregates`). For the logistic models the
coordinator adds the sites' score equations, each site's log-likelihood expanded to third order about the
site's own estimate b_s: U_s(beta) = -I_s d - T_s[d, d] / 2 with d = A_s beta - b_s, A_s mapping the
common parameters to the site's (a category's reference level can differ between sites), and solves sum
U_s(beta) = 0 by Newton's method (`one_stage`). For the mixed model it fits the combined REML from the
cross-products, each site's between part weighted at a working variance ratio and moved to the common one
at its mean caseload (`_mixed_solution`; exact where a site's therapists have equal caseloads, or at the
working ratio). Expanded to second order only (the information-weighted mean of the
sites' estimates, the fixed-effect multivariate meta-analysis) the logistic models' estimates fell 0.25 of
the one-stage SE away from it (10 cohorts, plan section 11); to third order 0.03. The SE is the
therapist-clustered sandwich H^-1 (sum M_s) H^-1 with H the summed information at the solution and M_s
each site's therapist-summed score outer product moved to the common estimate with the shift shared
equally by its therapists (`site_meat`), times G / (G - 1) (N - 1) / (N - p) as statsmodels' CR1 (G
therapists, N patients, p parameters). statsmodels and scikit-learn fit models to rows, not to sums of
sites' likelihoods, hence this module; it is checked against statsmodels' fit of the combined rows on the
pipeline's own models (tests/network).

The common model is the plan's primary model with one intercept and one set of covariate effects for all
sites: no between-site variance, which the two-stage pooling's tau estimates. A site sends the sums only
where `network.one_stage` is on, and withholds a model whose sums would describe too few: fewer than k
patients or therapists, a group or crossed cell of fewer than max(k, 10) (`withheld_reason`); the two
therapists of a group of two are one cluster (`meat_clusters`). The result is "approximate" where a
site analysed fewer than `MIN_SITE_PATIENTS` (plan section 11, "H3 from aggregates").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats
from scipy.special import expit

from alliance.i18n import N_

AGGREGATES = "aggregates.json"
SENT, WITHHELD = "sent", "withheld"
INTERCEPT = "(intercept)"
# Why a site's aggregates were not sent, by key (the file carries keys, never text from the data).
WITHHELD_REASONS = {
    "not_enabled": N_("the site did not send them (network.one_stage is off)"),
    "not_fitted": N_("its own model was not fitted"),
    "few_patients": N_("fewer patients than its minimum cell size"),
    "few_therapists": N_("fewer therapists than its minimum cell size"),
    "small_category": N_("a category of a covariate has fewer than 10 patients, or fewer than its minimum "
                         "cell size"),  # 10: MIN_GROUP
    "small_crossed_category": N_("two categorical covariates cross in a cell of fewer than 10 patients, or "
                                 "fewer than its minimum cell size"),
    "few_varying_therapists": N_("a covariate, a level of one or a combination of them varies among the "
                                 "patients of fewer therapists than its minimum cell size (but some), whose "
                                 "within-therapist sums would describe them"),
    "small_change": N_("its patients, or their rows, differ from those of sums the site sent before by "
                       "fewer than 10 patients, or fewer than its minimum cell size (but some), in all or "
                       "in a group such as a discipline, whose difference would describe them"),
}
MIXED_KEYS = {"within", "between"}  # the linear mixed model's sums (the logistic models': estimate, ...)
NEWTON_STEPS = 50
NEWTON_TOLERANCE = 1e-10
# Sites below this many analysed patients make the result approximate: validated at 400 a site (within
# 0.10 SE); at 100 a site 0.25 SE off once in 4 cohorts, at 30 up to 0.76 (plan section 11, "Validation")
MIN_SITE_PATIENTS = 300
MIN_GROUP = 10  # patients a group (category, crossed cell) needs at least, beside the minimum cell size
# H3's between-therapist sums are weighted at this therapist-to-residual variance ratio: a therapist ICC of
# 5%, about the share of outcome variance between therapists (Baldwin & Imel, 2013). The coordinator's
# combined REML is exact at it for any caseloads (plan section 11, "H3 from aggregates"); one weighting
# of each therapist's means, as before (a second would single out the therapists of one caseload).
WORKING_RATIO = 0.05 / 0.95
FEW_VALUES = 10  # a numeric covariate with fewer distinct values in the sample groups patients as a category


def raw_design(design, features: pd.DataFrame, covariates: Sequence[str] = ()
               ) -> tuple[np.ndarray, list[list], dict[str, str]]:
    """The design matrix of a primary model's analysis sample on the instruments' own scales: an
    intercept, the alliance predictor in points, each numeric covariate in its units (the values of
    `features`, which `build_design` z-scored) and an indicator of each level of a categorical covariate
    but its first (sorted, as patsy's treatment contrasts). With the parameters, as [column, level or
    None], and each categorical covariate's reference level: also that of a configured categorical
    covariate (`covariates`) that the model left out because its sample has one level of it (a site of
    one discipline), whose effect its intercept holds."""
    data = design.data
    columns, parameters, references = [np.ones(len(data))], [[INTERCEPT, None]], {}
    columns.append(data[design.predictor].to_numpy(float))
    parameters.append([design.predictor, None])
    for name in design.covariates:
        if pd.api.types.is_numeric_dtype(features[name]):
            columns.append(features.loc[data.index, name].to_numpy(float))
            parameters.append([name, None])
            continue
        values = data[name].astype(str)
        levels = sorted(values.unique())
        references[name] = levels[0]
        for level in levels[1:]:
            columns.append((values == level).to_numpy(float))
            parameters.append([name, level])
    for name in covariates:
        if name not in design.covariates and name in data and not pd.api.types.is_numeric_dtype(data[name]) \
                and data[name].nunique() == 1 and data[name].notna().all():
            references[name] = str(data[name].iloc[0])
    return np.column_stack(columns), parameters, references


def meat_clusters(data: pd.DataFrame, covariates: Sequence[str]) -> np.ndarray:
    """The clusters of the clustered outer product: the therapists, the two therapists of any group
    (`grouping_columns`) whose patients come from exactly two merged into one (and so on, transitively).
    Left apart, that group's entries of the outer product are the two therapists' score sums, equal and
    opposite (the group's scores sum to 0 at the site's estimate), and with another group's entry they
    single out one therapist's patients there: a reviewer read one patient's observed-minus-expected
    outcome so, and withholding such sites instead left a site out of 12% of 10-site cohorts. Merged,
    that cluster's entry is 0; a coarser clustering keeps the sandwich valid (CR1 over its G)."""
    therapists = data["therapist_id"].to_numpy()
    codes = pd.factorize(therapists, sort=True)[0]
    parent = np.arange(codes.max() + 1)

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for column in grouping_columns(data, covariates):
        for values in data.groupby(column, observed=True)["therapist_id"].unique():
            if len(values) == 2:
                first, second = (root(codes[np.flatnonzero(therapists == v)[0]]) for v in values)
                parent[max(first, second)] = min(first, second)
    return np.array([root(c) for c in codes])


def site_meat(part: dict, score: np.ndarray) -> np.ndarray:
    """A site's clustered score outer product moved from its own estimate to the common one, at which
    its scores sum to `score` (U_s, its parameters) instead of 0: sum (U_g + U_s / G)(U_g + U_s / G)' =
    meat + U_s U_s' / G, the shift shared equally by its G clusters (sum U_g = 0 at the site's own
    estimate, so no cross term). Each therapist's own shift, -I_g d, would need sums over therapists of
    products of their informations, from which a reviewer recovered a therapist's patients' means and,
    with a caseload of one, a patient's values; `meat` is CR2-adjusted for what the site's own fit
    absorbs of each therapist's residuals instead (`site_cr2_meat`; plan section 11, "Validation")."""
    return np.asarray(part["meat"], float) + np.outer(score, score) / int(part["n_clusters"])


def binomial_parts(x: np.ndarray, successes: np.ndarray, trials: np.ndarray, clusters: np.ndarray,
                   estimate: np.ndarray) -> dict:
    """The logistic model's information X'WX, third derivatives sum x x x n p (1 - p) (1 - 2p) and
    clustered score outer product at `estimate` (its maximum-likelihood estimate), each cluster's
    residuals adjusted as CR2's (`site_cr2_meat`)."""
    p = expit(x @ estimate)
    w = trials * p * (1 - p)
    root = np.sqrt(w)
    resid = np.divide(successes - trials * p, root, out=np.zeros_like(root), where=root > 0)
    return {"information": x.T @ (x * w[:, None]),
            "third": np.einsum("ij,ik,il,i->jkl", x, x, x, w * (1 - 2 * p)),
            "meat": site_cr2_meat(x * root[:, None], resid, clusters)}


def site_cr2_meat(exog: np.ndarray, resid: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    """The site's clustered score outer product at its own estimate with each cluster's (whitened)
    residuals adjusted as CR2's (`alliance.stats.clusters.adjusted_meat`, power 1/2). Plain, it fell 3-14%
    short in SE of the combined analysis's, most where caseloads were unequal: the site's own intercept
    and covariates, fitted to its 20-50 therapists, absorb part of each therapist's residuals, which the
    combined model's, fitted to all sites' therapists, do not (on four unseen ten-site cohorts the SE
    ratio went from 0.86-0.97 to 0.94-1.01; plan section 11, "Validation"). A column whose rows all lie in
    one cluster (a category whose patients one therapist, or one merged pair, saw) has a score of exactly 0
    at the estimate, and is set so: its rounding residue, about 1e-16, sent as it was, made that row of the
    outer product u_C[d] u_C, from which a reviewer read the cluster's whole score vector and, with a
    patient of another category in it, that patient's observed-minus-expected outcome."""
    from alliance.stats.clusters import adjusted_scores

    scores = adjusted_scores(exog, resid, clusters, 0.5)
    codes = pd.factorize(clusters, sort=True)[0]
    holders = [np.unique(codes[exog[:, j] != 0]) for j in range(exog.shape[1])]
    confined = [j for j, held in enumerate(holders) if len(held) == 1]
    scores[:, confined] = 0.0
    return scores.T @ scores


def _binomial_fit(design, x: np.ndarray, clusters: np.ndarray) -> dict:
    """The primary logistic model (H1's binomial counts, H2's dropout) refitted on the raw scale, its
    outer product clustered by `clusters` (`meat_clusters`)."""
    from statsmodels.genmod import families
    from statsmodels.genmod.generalized_linear_model import GLM

    data = design.data
    if design.outcome == "attendance":
        successes = data["attended_after_window"].to_numpy(float)
        trials = successes + data["missed_after_window"].to_numpy(float)
    else:
        successes, trials = data["dropout_event"].to_numpy(float), np.ones(len(data))
    fit = GLM(np.column_stack([successes, trials - successes]), x, family=families.Binomial()).fit()
    estimate = np.asarray(fit.params)
    return {"estimate": estimate} | binomial_parts(x, successes, trials, clusters, estimate)


def _therapist_means(z: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each therapist's (`codes`, 0..G - 1) number of rows and mean of the rows `z`."""
    counts = np.bincount(codes).astype(float)
    sums = np.zeros((len(counts), z.shape[1]))
    np.add.at(sums, codes, z)
    return counts, sums / counts[:, None]


def therapist_cross_products(z: np.ndarray, codes: np.ndarray, ratio: float = 0.0
                             ) -> tuple[np.ndarray, np.ndarray]:
    """The within-therapist cross-products sum_g sum_i (z_i - zbar_g)(z_i - zbar_g)' of the rows `z` and
    the between-therapist ones sum_g n_g / (1 + n_g `ratio`) zbar_g zbar_g' (therapists `codes`); at
    ratio 0 together Z'Z."""
    counts, means = _therapist_means(z, codes)
    deviations = z - means[codes]
    return deviations.T @ deviations, (means * (counts / (1 + counts * ratio))[:, None]).T @ means


def _mixed_fit(design, x: np.ndarray, clusters: np.ndarray) -> dict:
    """The primary linear mixed model (H3) on the raw scale: the within- and between-therapist
    cross-products of the design and the outcome (`therapist_cross_products`, the between part at
    `WORKING_RATIO`), from which the coordinator computes the combined REML fit (`_mixed_solution`), and
    the outer product of X_g'V_g^-1 r_g clustered by `clusters` at the site's own REML fit, CR2-adjusted
    (`site_cr2_meat`; on the quasi-demeaned rows, on which GLS is least squares; not divided by the
    residual variance, which the coordinator takes from the combined fit)."""
    from alliance.stats.reml import random_intercept_reml

    data = design.data
    y = data[design.formula.split(" ~ ")[0]].to_numpy(float)
    codes = pd.factorize(data["therapist_id"], sort=True)[0]
    reml = random_intercept_reml(y, x, codes)
    y_star, x_star = reml.quasi_demeaned(y, x, codes)
    estimate = np.linalg.lstsq(x_star, y_star, rcond=None)[0]
    within, between = therapist_cross_products(np.column_stack([x, y]), codes, WORKING_RATIO)
    return {"within": within, "between": between,
            "meat": site_cr2_meat(x_star, y_star - x_star @ estimate, clusters)}


def grouping_columns(data: pd.DataFrame, covariates: Sequence[str]) -> list[str]:
    """The covariates whose values split the patients into groups that the sums can single out: the
    categorical ones, and the numeric ones with fewer than `FEW_VALUES` distinct values in `data` (a
    reviewer recovered the one patient of a two-valued numeric covariate from the information and the
    third derivatives, which give its moments to order three)."""
    return [c for c in covariates if not pd.api.types.is_numeric_dtype(data[c])
            or data[c].nunique() < FEW_VALUES]


def confined_within(x: np.ndarray, therapists: np.ndarray, k: int) -> bool:
    """Whether the within-therapist sums of the design `x` (its first column the intercept) would describe
    the patients of 1 to k - 1 therapists: a column that varies among the patients of that few therapists
    (a gender, or one level of a category, that varies at one therapist's alone gave a reviewer one
    patient's values less the mean of that therapist's others), or a combination of columns that varies
    at one therapist's alone (two numeric covariates equal but for one patient: dropping that therapist's
    rows lowers the rank of the within-therapist deviations). Combinations confined to 2 to k - 1
    therapists are not checked."""
    codes = pd.factorize(therapists, sort=True)[0]
    counts, means = _therapist_means(x, codes)
    deviations = (x - means[codes])[:, 1:]
    scale = np.abs(x[:, 1:]).max(axis=0, initial=0.0) + 1.0
    varies = np.zeros((len(counts), deviations.shape[1]))
    np.add.at(varies, codes, (np.abs(deviations) > 1e-9 * scale).astype(float))
    spread = (varies > 0).sum(axis=0)
    if ((spread > 0) & (spread < k)).any():
        return True
    rank = np.linalg.matrix_rank(deviations)
    return any(np.linalg.matrix_rank(deviations[codes != g]) < rank for g in range(len(counts)))


def patient_digests(design, features: pd.DataFrame) -> dict[str, list[str]]:
    """Each patient of a model's analysis sample (`design.data`) with a digest of what the sums use of
    their row, on the scales they use it (the outcome columns of `design.formula`, the predictor, the
    covariates' values in `features`, not z-scored over the sample, and the therapist), and their groups
    ("column=value" of each of `grouping_columns`, and of each two of them crossed): what the site keeps
    of the sums it sends
    (`alliance.network.bundle.remember_sent`), so that sums over almost the same patients, in all or in a
    group, or the same patients with a few changed values, are refused later (`small_change`). (Digests
    of the z-scored covariates changed for every patient when one was added, and so let two shares
    differing by one patient through.)"""
    data = design.data
    outcomes = [name.strip() for name in design.formula.split(" ~ ")[0].split("+")]
    raw = features.loc[data.index, list(design.covariates)]
    used = pd.concat([data[[*outcomes, design.predictor, "therapist_id"]], raw], axis=1)
    digests = pd.util.hash_pandas_object(used, index=False).astype(str)
    columns = grouping_columns(data, design.covariates)
    groups = [f"{column}=" + data[column].astype(str) for column in columns]
    groups += [groups[i] + "&" + groups[j] for i in range(len(columns)) for j in range(i + 1, len(columns))]
    rows = zip(digests, *groups, strict=True)
    return {patient: list(row) for patient, row in zip(data["patient_id"].astype(str), rows, strict=True)}


def small_change(now: dict[str, list[str]], before: dict[str, list[str]], least: int) -> bool:
    """Whether two samples' digests (`patient_digests`) differ by 1 to `least` - 1 patients (in one and
    not the other, or in both with another row) in all, or within a group, a patient counted in the
    groups of both rows: the difference of two sets of exact sums is the changed patients' sums, and a
    group's column of it theirs in that group (ten patients added, one of them the only new one of a
    discipline, gave that patient's row in the discipline's column)."""
    changed = (now.keys() ^ before.keys()) | {p for p in now.keys() & before.keys() if now[p] != before[p]}
    counts = Counter(label for p in changed
                     for label in {"", *now.get(p, [""])[1:], *before.get(p, [""])[1:]})
    return any(0 < count < least for count in counts.values())


def withheld_reason(data: pd.DataFrame, covariates: Sequence[str], k: int) -> str:
    """Why a primary model's sums (over the analysis sample `data`) may not leave the site, as a key of
    `WITHHELD_REASONS`, or "". Groups are the values of `grouping_columns`; each needs at least
    max(k, `MIN_GROUP`) patients (the third derivatives give a group about ten sums in two unknowns a
    patient, alliance and severity: a reviewer nearly solved a group of five), and so does each cell of
    two of them crossed (the information's entry of two indicators is a sum over the cell). The two
    therapists of a group of two are one cluster of the outer product instead (`meat_clusters`)."""
    if len(data) < k:
        return "few_patients"
    if data["therapist_id"].nunique() < k:
        return "few_therapists"
    groups = grouping_columns(data, covariates)
    least = max(k, MIN_GROUP)
    if any(data[c].value_counts().min() < least for c in groups):
        return "small_category"
    crossed = [count for i, first in enumerate(groups) for second in groups[i + 1:]
               for count in pd.crosstab(data[first], data[second]).to_numpy().ravel() if count]
    if crossed and min(crossed) < least:
        return "small_crossed_category"
    return ""


def collapsed_design(design, features: pd.DataFrame, covariates: list[str], make_design, k: int
                     ) -> tuple[object, pd.DataFrame, list[str]]:
    """A primary model's `design` (built by `make_design` from `features`), rebuilt with each category of
    fewer than max(k, `MIN_GROUP`) patients in its sample counted with the sample's largest category of
    that covariate (the smallest first, until none is small or one is left): the global recoding of
    statistical disclosure control (Hundepool et al., 2012). The sums then describe no category of too
    few patients, and the site sends them instead of withholding them ("small_category" withheld a site's
    satisfaction sums in 10% of 10-site cohorts); those patients are analysed without their own
    category's effect at that site, and the one-stage result says so. With the features it was built
    from and the covariates collapsed."""
    least = max(k, MIN_GROUP)
    recoded, merged = features, []
    for name in design.covariates:
        if pd.api.types.is_numeric_dtype(features[name]):
            continue
        counts = design.data[name].astype(str).value_counts().to_dict()
        mapping: dict[str, str] = {}
        while len(counts) > 1 and min(counts.values()) < least:
            small = min(counts, key=lambda level: (counts[level], level))
            large = max((level for level in counts if level != small),
                        key=lambda level: (counts[level], level))
            counts[large] += counts.pop(small)
            mapping = {old: large if new == small else new for old, new in mapping.items()} | {small: large}
        if mapping:
            if not merged:
                recoded = features.copy()
            rows = design.data.index
            recoded[name] = recoded[name].astype(object)
            recoded.loc[rows, name] = recoded.loc[rows, name].astype(str).replace(mapping)
            merged.append(name)
    if not merged:
        return design, features, []
    collapsed = make_design(recoded, covariates)
    if not collapsed.data.index.equals(design.data.index):  # recoding a label drops no row: a bug if so
        raise AssertionError("collapsing small categories changed the analysis sample")
    return collapsed, recoded, merged


def analysis_samples(features: pd.DataFrame, covariates: list[str]) -> dict[str, dict[str, list[str]]]:
    """Per primary outcome, its model's analysis sample as `patient_digests`, its categories as they are:
    a collapse (`collapsed_design`) is a linear map of the parameters that the coordinator can undo, so
    patients whose category was counted with another in earlier sums have not changed (a reviewer undid
    one between two shares, counted so, and read two new patients' sums)."""
    return {outcome: patient_digests(make(features, covariates), features)
            for outcome, make in _designs().items()}


def _designs() -> dict:
    """The primary models' design builders (deferred: the coordinator reads bundles without them)."""
    from alliance.models.adherence import attendance_design
    from alliance.models.dropout import dropout_design
    from alliance.models.satisfaction import satisfaction_design

    return {"attendance": attendance_design, "dropout": dropout_design, "satisfaction": satisfaction_design}


def site_aggregates(features: pd.DataFrame, covariates: list[str], statuses: pd.DataFrame, k: int, *,
                    enabled: bool = True, previous: dict[str, list[dict[str, list[str]]]] | None = None
                    ) -> dict:
    """Per primary outcome (attendance, dropout, satisfaction), what the site sends for the one-stage
    analysis: the parameters, for the logistic models the estimates, information and third derivatives,
    for the satisfaction model the within- and between-therapist cross-products (`_mixed_fit`), the
    clustered score outer product and the numbers of patients and therapists; or `withheld` with a
    reason's key (`WITHHELD_REASONS`): not `enabled` (`network.one_stage`, off by default), its own primary
    model not fitted, sums that would describe too few (`withheld_reason`), for the satisfaction model
    within-therapist sums confined to 1 to k - 1 therapists (`confined_within`), or an analysis sample
    that differs from that of any sums the site sent before (`previous`: per outcome, every sample sent,
    `analysis_samples`) by 1 to max(k, 10) - 1 patients added, removed or with another row, in all or in
    a group (`small_change`; the
    difference of two sets of exact sums is theirs: a reviewer read one patient's row from two shares of
    the satisfaction sums, and from two over the same patients, one with a corrected questionnaire).
    Combinations of three or more shares are not checked."""
    result = {}
    least = max(k, MIN_GROUP)
    for outcome, make_design in _designs().items():
        if not enabled:
            result[outcome] = {"status": WITHHELD, "reason": "not_enabled"}
            continue
        status = statuses[(statuses["outcome"] == outcome) & (statuses["analysis"] == "primary")]
        own = make_design(features, covariates)
        design, used, merged = collapsed_design(own, features, covariates, make_design, k)
        data = design.data
        if status.empty or status.iloc[0]["status"] not in ("fitted", "boundary"):
            reason = "not_fitted"
        else:
            reason = withheld_reason(data, design.covariates, k)
        if not reason:
            x, parameters, references = raw_design(design, used, covariates)
            if outcome == "satisfaction" and confined_within(x, data["therapist_id"].to_numpy(), k):
                reason = "few_varying_therapists"
        if not reason and previous:
            now = patient_digests(own, features)
            if any(small_change(now, sent, least) for sent in previous.get(outcome, [])):
                reason = "small_change"
        if reason:
            result[outcome] = {"status": WITHHELD, "reason": reason}
            continue
        clusters = meat_clusters(data, design.covariates)
        fit = _mixed_fit if outcome == "satisfaction" else _binomial_fit
        parts = fit(design, x, clusters)
        result[outcome] = {"status": SENT, "predictor": design.predictor, "parameters": parameters,
                           "references": references, "n_patients": len(data),
                           "n_therapists": int(data["therapist_id"].nunique()),
                           "n_clusters": len(np.unique(clusters)), "merged": merged,
                           **{name: np.asarray(value).tolist() for name, value in parts.items()}}
    return result


def _common_parameters(parts: Sequence[dict]) -> tuple[list[tuple], dict[str, str]]:
    """The common model's parameters: the sites' numeric terms and, per categorical covariate, every
    level of any site but the first of all (the common reference)."""
    parameters: list[tuple] = []
    levels: dict[str, set] = {}
    for part in parts:
        for column, reference in part["references"].items():  # a site of one level has only its reference
            levels.setdefault(column, set()).add(reference)
        for column, level in part["parameters"]:
            if column in part["references"]:
                levels.setdefault(column, set()).update([level, part["references"][column]])
            elif (column, None) not in parameters:
                parameters.append((column, None))
    references = {column: sorted(found)[0] for column, found in levels.items()}
    for column in sorted(levels):
        parameters += [(column, level) for level in sorted(levels[column])[1:]]
    return parameters, references


def site_map(part: dict, parameters: list[tuple], references: dict[str, str]) -> np.ndarray:
    """A_s: the site's parameters as combinations of the common ones. The site's intercept is the common
    intercept plus the common effect of each of its reference levels; its level l of a category is the
    common effect of l minus that of its reference (a common reference's effect is 0)."""
    index = {parameter: i for i, parameter in enumerate(parameters)}
    a = np.zeros((len(part["parameters"]), len(parameters)))
    for row, (column, level) in enumerate(part["parameters"]):
        if column == INTERCEPT:
            a[row, index[(INTERCEPT, None)]] = 1
            for name, reference in part["references"].items():
                if reference != references[name]:
                    a[row, index[(name, reference)]] += 1
        elif level is None:
            a[row, index[(column, None)]] = 1
        else:
            a[row, index[(column, level)]] = 1
            reference = part["references"][column]
            if reference != references[column]:
                a[row, index[(column, reference)]] -= 1
    return a


def site_score(site: tuple, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A site's expanded score at the common `beta` (its parameters: -I d - T[d, d] / 2, d = A beta - b)
    and its information there (I + T d)."""
    a, estimate, information, third = site
    d = a @ beta - estimate
    if third is None:
        return -information @ d, information
    return -information @ d - 0.5 * np.einsum("jkl,k,l->j", third, d, d), \
        information + np.einsum("jkl,l->jk", third, d)


def _solve(sites: list[tuple], beta: np.ndarray) -> np.ndarray | None:
    """The root of the summed expanded scores by Newton's method from `beta`; None when it does not
    settle in `NEWTON_STEPS` steps."""
    for _step in range(NEWTON_STEPS):
        parts = [site_score(site, beta) for site in sites]
        score = sum(site[0].T @ u for site, (u, _) in zip(sites, parts, strict=True))
        information = sum(site[0].T @ i @ site[0] for site, (_, i) in zip(sites, parts, strict=True))
        step = np.linalg.solve(information, score)
        beta = beta + step
        if np.abs(step).max() < NEWTON_TOLERANCE * (1 + np.abs(beta).max()):
            return beta
    return None


def _logistic_solution(parts: Sequence[dict], maps: list[np.ndarray]
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The logistic models' common estimate (the root of the sites' summed expanded scores, `_solve`, from
    their information-weighted mean), the bread and the clustered outer product moved to it; None where
    Newton's method does not settle."""
    sites = [(a, np.asarray(part["estimate"], float), np.asarray(part["information"], float),
              np.asarray(part["third"], float) if "third" in part else None)  # None: second order only
             for part, a in zip(parts, maps, strict=True)]
    start = np.linalg.solve(sum(a.T @ i @ a for a, _, i, _ in sites),
                            sum(a.T @ i @ b for a, b, i, _ in sites))
    beta = _solve(sites, start)
    if beta is None:
        return None
    scores = [site_score(site, beta) for site in sites]
    bread = np.linalg.inv(sum(a.T @ i @ a for (a, *_), (_, i) in zip(sites, scores, strict=True)))
    meat = sum(a.T @ site_meat(part, u) @ a
               for (a, *_), (u, _), part in zip(sites, scores, parts, strict=True))
    return beta, bread, meat


def _mixed_solution(parts: Sequence[dict], maps: list[np.ndarray], n: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The combined REML fit of the linear mixed model (H3) from the sites' cross-products: the common
    fixed effects, the bread (the inverse information) and the clustered outer product; None where the
    REML search does not settle. Each site's cross-products of the quasi-demeaned rows at lambda,
    W_s + sum_g n_g / (1 + n_g lambda) zbar_g zbar_g', are taken as W_s + B_s (1 + m_s lambda*) / (1 +
    m_s lambda), B_s its between part at lambda* = `WORKING_RATIO`, and its share of sum_g log(1 + n_g
    lambda) as G_s log(1 + m_s lambda), m_s = N_s / G_s its mean caseload: exact where a site's therapists
    have equal caseloads, or at lambda = lambda*, and an approximation otherwise, whose error grows with
    the caseloads' spread and |lambda - lambda*| (plan section 11, "H3 from aggregates"). The outer
    product is each site's, at its own REML fit, moved to the common estimate (`site_meat`) and divided by
    the combined residual variance squared."""
    from scipy.linalg import block_diag

    from alliance.stats.reml import reml_search

    p = maps[0].shape[1]
    sites = []
    for part, a in zip(parts, maps, strict=True):
        t = block_diag(a, np.ones((1, 1)))
        sites.append((np.asarray(part["within"], float), np.asarray(part["between"], float), t,
                      int(part["n_patients"]) / int(part["n_therapists"]), int(part["n_therapists"])))

    def site_products(site: tuple, ratio: float) -> np.ndarray:
        within, between, _t, caseload, _g = site
        return within + between * (1 + caseload * WORKING_RATIO) / (1 + caseload * ratio)

    ratio, _value, chol, converged = reml_search(
        lambda r: sum(s[2].T @ site_products(s, r) @ s[2] for s in sites),
        lambda r: sum(s[4] * np.log1p(s[3] * r) for s in sites), n, p)
    if not converged:
        return None
    products = sum(s[2].T @ site_products(s, ratio) @ s[2] for s in sites)
    beta = np.linalg.solve(products[:p, :p], products[:p, p])
    scale = chol[p, p] ** 2 / (n - p)  # the residual variance
    meat = np.zeros((p, p))
    for part, a, site in zip(parts, maps, sites, strict=True):
        own = site_products(site, ratio)
        score = own[:-1, -1] - own[:-1, :-1] @ (a @ beta)  # X*'(y* - X* A beta), the site's parameters
        meat += a.T @ site_meat(part, score) @ a / scale ** 2
    return beta, scale * np.linalg.inv(products[:p, :p]), meat


def confounded_terms(maps: Sequence[np.ndarray], parameters: list[tuple]) -> list[str]:
    """The common model's terms that the sites' designs do not tell apart, as "column level" (or
    "column"), empty where they identify every one. Each site's design is of full rank (its own model
    was fitted), so the combined design is rank-deficient exactly where the sites' maps A_s share a null
    vector: categories of which each site has one level (its intercept holds their effects) whose levels
    go together at every site, such as one discipline and one gender a site."""
    from scipy.linalg import null_space

    null = null_space(np.vstack(maps))
    if not null.size:
        return []
    return [f"{column} {level}" if level is not None else column
            for column, level in (parameters[i] for i in np.flatnonzero(np.abs(null).max(axis=1) > 1e-8))]


def few_patients_a_site(k_sites: int, mixed: bool, smallest: int) -> bool:
    """Whether a one-stage result from sums is approximate because a site analysed fewer than
    `MIN_SITE_PATIENTS` (the expansion about each site's estimate, or for H3 each site's mean caseload,
    is then not close enough to be read as the combined analysis); one site's logistic sums give its own
    estimate exactly."""
    return (k_sites > 1 or mixed) and smallest < MIN_SITE_PATIENTS


def one_stage(parts: Sequence[dict], min_clusters: int) -> dict:
    """The one-stage estimate of the alliance effect (per point) from the sites' aggregates (`parts`, the
    sent entries of one outcome, one per site): estimate, SE (clustered by therapist, CR1), 95% CI (normal
    from `min_clusters` therapists, else t(G - 1) as the plan's few-cluster rule, `few_clusters` True: the
    plan's small-sample corrected covariance needs each therapist's rows, so the SE stays CR1), the numbers
    of sites, patients and therapists and the smallest site's patients; `status` "approximate" where that
    site has fewer than `MIN_SITE_PATIENTS` (`few_patients_a_site`) or a site collapsed a small category
    (`collapsed_design`: its "merged" covariates);
    "not_converged" when Newton's method or the REML search does not settle; "not_estimable" where the
    sites' designs do not identify the common model (`confounded_terms`, in `confounded`)."""
    parameters, references = _common_parameters(parts)
    predictor = parts[0]["predictor"]
    maps = [site_map(part, parameters, references) for part in parts]
    n = sum(int(part["n_patients"]) for part in parts)
    therapists = sum(int(part["n_therapists"]) for part in parts)
    clusters = sum(int(part["n_clusters"]) for part in parts)
    smallest = min(int(part["n_patients"]) for part in parts)
    base = {"predictor": predictor, "k_sites": len(parts), "n_patients": n, "n_therapists": therapists,
            "n_clusters": clusters,
            "smallest_site": smallest, "confounded": ""}
    missing = {"estimate": np.nan, "std_error": np.nan, "ci_low": np.nan, "ci_high": np.nan,
               "few_clusters": False}
    confounded = confounded_terms(maps, parameters)
    if confounded:
        return base | missing | {"status": "not_estimable", "confounded": "; ".join(confounded)}
    mixed = set(parts[0]) >= MIXED_KEYS
    solution = _mixed_solution(parts, maps, n) if mixed else _logistic_solution(parts, maps)
    if solution is None:
        return base | missing | {"status": "not_converged"}
    beta, bread, meat = solution
    factor = clusters / (clusters - 1) * (n - 1) / (n - len(parameters)) if clusters > 1 else 1.0
    covariance = factor * bread @ meat @ bread
    at = parameters.index((predictor, None))
    estimate, se = float(beta[at]), float(np.sqrt(covariance[at, at]))
    few = clusters < min_clusters
    quantile = stats.t.ppf(0.975, clusters - 1) if few else stats.norm.ppf(0.975)
    approximate = few_patients_a_site(len(parts), mixed, smallest) or any(part["merged"] for part in parts)
    return base | {"status": "approximate" if approximate else "fitted",
                   "estimate": estimate, "std_error": se, "few_clusters": few,
                   "ci_low": estimate - quantile * se, "ci_high": estimate + quantile * se}
