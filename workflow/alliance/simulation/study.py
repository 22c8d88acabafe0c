"""Simulation study of the estimators and power (ANALYSIS_PLAN.md, section 9).

A grid of conditions (numbers of patients and therapists, a multiplier of the generating effects) is
crossed with R replications. Each replication draws a cohort from the synthetic generator and analyses
it exactly as the workflow does (validation, scoring, features, every model family); each condition's
estimand is the same analysis of one population `truth_multiplier` times the cohort from the same
generator. Performance measures and their Monte Carlo SEs follow Morris, White & Crowther (2019).

Seeds: replication r of condition c draws from `SeedSequence([seed, stable_hash(c), 0, r])`, the truth
from `SeedSequence([seed, stable_hash(c), 1])`; `stable_hash` is SHA-256 based (never Python's `hash`),
so a condition keeps its draws when the grid changes.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping

import numpy as np
import pandas as pd

from alliance.errors import REPORTED
from alliance.features.build import build_features
from alliance.ingest.contract import validate_tables
from alliance.instruments import load_instrument
from alliance.models import FAMILIES, fit_family
from alliance.models.common import MIN_CLUSTERS
from alliance.models.effects import EFFECT_COLUMNS
from alliance.models.plan import BY_KEY
from alliance.scoring.scores import score_patients, score_sessions
from alliance.simulation.conditions import CONDITION_COLUMNS
from alliance.simulation.conditions import condition_grid as condition_grid  # re-exported for callers
from alliance.simulation.conditions import condition_id as condition_id
from alliance.simulation.conditions import format_scale as format_scale
from alliance.simulation.synthetic import generate_cohort

EFFECT_KEY = ["family", "outcome", "model", "predictor"]
STATUS_COLUMNS = ["status", "n_notes", "notes", "error"]
REPLICATION_COLUMNS = ["condition", "replication", "family", *EFFECT_COLUMNS, *STATUS_COLUMNS]
TRUTH_COLUMNS = [*CONDITION_COLUMNS, "population_patients", "population_therapists", "family",
                 *EFFECT_COLUMNS, "generating", *STATUS_COLUMNS]
PERFORMANCE_COLUMNS = [
    *CONDITION_COLUMNS, *EFFECT_KEY, "analysis", "scale", "generating", "estimand", "estimand_se",
    "truth_status", "n_reps", "n_failed", "n_nonconverged", "n_used", "mean_estimate", "bias",
    "bias_mcse", "relative_bias", "relative_bias_mcse", "empirical_sd", "empirical_sd_mcse", "mean_se",
    "se_ratio", "rmse", "rmse_mcse", "coverage", "coverage_mcse", "power", "power_mcse",
]
SAMPLE_SIZE_COLUMNS = [
    *EFFECT_KEY, "analysis", "scale", "effect_scale", "target_power", "reached", "condition",
    "patients", "therapists", "power", "power_mcse", "best_condition", "best_power", "note",
]
# The coefficient of synthetic.effects that generates an (outcome, predictor, scale) effect directly.
GENERATING = {
    ("attendance", "alliance_early", "log_odds"): "attendance_log_odds_per_sd",
    ("dropout", "alliance_early", "log_odds"): "dropout_log_odds_per_sd",
    ("satisfaction", "alliance_mean", "points"): "satisfaction_points_per_sd",
}
REPLICATION_STREAM, TRUTH_STREAM = 0, 1
EFFECT_SUFFIX = "_per_sd"  # the generator's alliance effects, multiplied by a condition's effect scale


# ---- Conditions and seeds ------------------------------------------------------------------------


def stable_hash(text: str) -> int:
    """A 64-bit integer from the SHA-256 digest of `text`: the same in every process and on every machine."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def replication_seed(seed: int, condition: str, replication: int) -> np.random.SeedSequence:
    """The seed of replication `replication` of `condition`."""
    return np.random.SeedSequence([int(seed), stable_hash(condition), REPLICATION_STREAM, int(replication)])


def truth_seed(seed: int, condition: str) -> np.random.SeedSequence:
    """The seed of the truth population of `condition` (a stream no replication uses)."""
    return np.random.SeedSequence([int(seed), stable_hash(condition), TRUTH_STREAM])


def _scale_effects(block: Mapping, scale: float) -> dict:
    """A copy of `block` with every number whose key ends in `_per_sd` multiplied by `scale`."""
    return {key: _scale_effects(value, scale) if isinstance(value, Mapping)
            else float(value) * scale if key.endswith(EFFECT_SUFFIX) and not isinstance(value, bool)
            else copy.deepcopy(value) for key, value in block.items()}


def condition_synthetic(synthetic: Mapping, condition: Mapping) -> dict:
    """The `synthetic` config block for one condition: its patients and therapists, and every alliance
    effect of the generator (the coefficients named `*_per_sd`: `synthetic.effects`, and the symptom
    effects where configured) multiplied by the condition's effect scale."""
    cfg = _scale_effects(synthetic, float(condition["effect_scale"]))
    cfg["n_patients"] = int(condition["patients"])
    cfg["n_therapists"] = int(condition["therapists"])
    return cfg


def generating_effect(outcome: str, predictor: str, scale: str, *, effects: Mapping) -> float:
    """The generating coefficient behind an effect row, NaN where no single coefficient generates it."""
    key = GENERATING.get((outcome, predictor, scale))
    return float(effects[key]) if key is not None and key in effects else float("nan")


# ---- One cohort analysed as the workflow does ----------------------------------------------------


def cohort_features(
    patients: pd.DataFrame, sessions: pd.DataFrame, outcomes: pd.DataFrame, *, early_window: int,
    ruptures: Mapping,
) -> dict[str, pd.DataFrame]:
    """The workflow's steps from the three contract tables to the feature tables: validation (typing),
    scoring (WAI-SR and CSQ-8, the generator's instruments), the alpha of the total where a
    reliable-change rupture criterion needs it, and `build_features`."""
    wai, csq = load_instrument("wai_sr"), load_instrument("csq8")
    raw = {"patients": patients, "sessions": sessions, "outcomes": outcomes}
    # generated tables pass the contract's checks by construction: typed only (the same typed tables)
    validated = validate_tables(raw, {name: f"simulated {name}" for name in raw}, wai, satisfaction=csq,
                                checks=False)
    session_scores = score_sessions(validated.sessions, wai, None)
    patient_scores = score_patients(validated.outcomes, csq)
    alpha = None
    if ruptures["criterion"] == "reliable_change" and ruptures.get("reliability") is None:
        # imported here: the psychometrics stack (semopy, pingouin) costs seconds per replication job
        from alliance.measurement.tables import instrument_tables, total_alpha

        reliability, _, _ = instrument_tables(
            validated.sessions, validated.outcomes, session_scores,
            instruments={"alliance": wai, "satisfaction": csq, "therapist": None})
        alpha = total_alpha(reliability)
    return build_features(validated.patients, validated.outcomes, session_scores,
                          patient_scores=patient_scores,
                          early_window=early_window, rupture_settings=dict(ruptures), total_alpha=alpha)


NONCONVERGED = ("not_converged", "separation")  # statuses counted as convergence failures


def analyse_cohort(
    patients: pd.DataFrame, sessions: pd.DataFrame, outcomes: pd.DataFrame, *, early_window: int,
    covariates: list[str], ruptures: Mapping, min_clusters: int = MIN_CLUSTERS,
) -> pd.DataFrame:
    """Every model family fitted to one cohort (`min_clusters`: the config's `models.min_clusters`, as the
    workflow's models take it): the effect rows of the fitted models with `family` and
    status `ok`, and for each planned model without estimates one row per predictor it would have had,
    with its status (`not_converged`, `separation`, `not_estimable`, ...) and reason in `error`; the
    family's notes beside. The status is the fit's own (`ModelResult.statuses`), never read from text.
    The families' descriptive parts (summaries, curves, predictions), which no effect row or status
    depends on, are not computed (`fit_family(describe=False)`)."""
    features = cohort_features(patients, sessions, outcomes, early_window=early_window, ruptures=ruptures)
    rows = []
    for family in FAMILIES:
        result = fit_family(family, features["patients"], list(covariates), sessions=features["sessions"],
                            early_window=early_window, min_clusters=min_clusters, describe=False)
        meta = {"family": family, "n_notes": len(result.notes), "notes": " | ".join(map(str, result.notes)),
                "error": ""}
        rows += [{**meta, **effect, "status": "ok"} for effect in result.effects]
        for status in result.statuses:
            if status["status"] in REPORTED:
                continue
            planned = BY_KEY[status["key"]]
            rows += [{**meta, "outcome": planned.outcome, "model": planned.model, "predictor": predictor,
                      "analysis": planned.analysis, "status": status["status"], "error": status["reason"]}
                     for predictor in planned.predictors]
    return pd.DataFrame(rows, columns=["family", *EFFECT_COLUMNS, *STATUS_COLUMNS])


def run_replication(
    synthetic: Mapping, condition: Mapping, replication: int, *, seed: int, early_window: int,
    covariates: list[str], ruptures: Mapping, min_clusters: int = MIN_CLUSTERS,
) -> pd.DataFrame:
    """One replication: a cohort of the condition's size from its own seed, analysed as the workflow
    does; columns `REPLICATION_COLUMNS`."""
    cfg = condition_synthetic(synthetic, condition)
    rng = np.random.default_rng(replication_seed(seed, condition["condition"], replication))
    patients, sessions, outcomes, _ = generate_cohort(cfg, early_window, rng)
    table = analyse_cohort(patients, sessions, outcomes, early_window=early_window,
                           covariates=covariates, ruptures=ruptures, min_clusters=min_clusters)
    table.insert(0, "replication", int(replication))
    table.insert(0, "condition", condition["condition"])
    return table[REPLICATION_COLUMNS]


def condition_truth(
    synthetic: Mapping, condition: Mapping, *, seed: int, truth_multiplier: int, early_window: int,
    covariates: list[str], ruptures: Mapping, min_clusters: int = MIN_CLUSTERS,
) -> pd.DataFrame:
    """The estimands of a condition: the same analysis of one population `truth_multiplier` times the
    condition's cohort, with the generating coefficient where one exists; columns `TRUTH_COLUMNS`."""
    cfg = condition_synthetic(synthetic, condition)
    rng = np.random.default_rng(truth_seed(seed, condition["condition"]))
    patients, sessions, outcomes, _ = generate_cohort(cfg, early_window, rng, scale=int(truth_multiplier))
    table = analyse_cohort(patients, sessions, outcomes, early_window=early_window,
                           covariates=covariates, ruptures=ruptures, min_clusters=min_clusters)
    table["generating"] = [
        generating_effect(row.outcome, row.predictor, row.scale, effects=cfg["effects"])
        if isinstance(row.outcome, str) else float("nan") for row in table.itertuples()]
    for column in CONDITION_COLUMNS:
        table[column] = condition[column]
    table["population_patients"] = cfg["n_patients"] * int(truth_multiplier)
    table["population_therapists"] = cfg["n_therapists"] * int(truth_multiplier)
    return table[TRUTH_COLUMNS]


# ---- Performance ---------------------------------------------------------------------------------


def _share(flags: np.ndarray) -> tuple[float, float]:
    """A proportion and its Monte Carlo SE, sqrt(p (1 - p) / n)."""
    n = len(flags)
    if n == 0:
        return float("nan"), float("nan")
    p = float(np.mean(flags))
    return p, float(np.sqrt(p * (1 - p) / n))


def performance_measures(
    *, estimate: np.ndarray, std_error: np.ndarray, ci_low: np.ndarray, ci_high: np.ndarray, estimand: float,
    relative: bool = True,
) -> dict[str, float]:
    """Bias, empirical SD, mean SE, RMSE, coverage and power of n estimates, with Monte Carlo SEs
    (Morris, White & Crowther 2019, table 6). Power is the share of CIs that exclude 0; coverage the
    share that contain `estimand`; `relative` gives the bias as a share of the estimand."""
    n = len(estimate)
    out = dict.fromkeys(["mean_estimate", "bias", "bias_mcse", "relative_bias", "relative_bias_mcse",
                         "empirical_sd", "empirical_sd_mcse", "mean_se", "se_ratio", "rmse",
                         "rmse_mcse", "coverage", "coverage_mcse", "power", "power_mcse"], float("nan"))
    if n == 0:
        return out
    mean = float(np.mean(estimate))
    sd = float(np.std(estimate, ddof=1)) if n > 1 else float("nan")
    out.update(mean_estimate=mean, empirical_sd=sd, mean_se=float(np.mean(std_error)))
    out["power"], out["power_mcse"] = _share((ci_low > 0) | (ci_high < 0))
    if n > 1:
        out["empirical_sd_mcse"] = sd / np.sqrt(2 * (n - 1))
        out["se_ratio"] = out["mean_se"] / sd if sd > 0 else float("nan")
    if not np.isfinite(estimand):
        return out
    error = estimate - estimand
    out["bias"] = mean - estimand
    mse = float(np.mean(error**2))
    out["rmse"] = float(np.sqrt(mse))
    if n > 1:
        out["bias_mcse"] = sd / np.sqrt(n)
        mse_mcse = float(np.sqrt(np.sum((error**2 - mse) ** 2) / (n * (n - 1))))
        out["rmse_mcse"] = mse_mcse / (2 * out["rmse"]) if out["rmse"] > 0 else float("nan")
    if relative and estimand != 0:
        out["relative_bias"] = out["bias"] / estimand
        out["relative_bias_mcse"] = out["bias_mcse"] / abs(estimand)
    out["coverage"], out["coverage_mcse"] = _share((ci_low <= estimand) & (estimand <= ci_high))
    return out


def summarise(replications: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Performance of every effect row in every condition against the condition's estimand.

    Rows follow the truth's conditions and effect rows (then any effect seen only in replications, for
    a family whose truth failed). `n_reps` counts the condition's replications; `n_failed` those without
    an estimate of this effect (its model's status was not fitted, or no row came back);
    `n_nonconverged` the part of those whose fit did not converge or separated. Relative
    bias is left empty in null conditions (effect scale 0).
    """
    conditions = truth.drop_duplicates("condition").set_index("condition")[CONDITION_COLUMNS[1:]]
    effects_truth = truth[truth["outcome"].notna()]
    reps = replications[replications["outcome"].notna()]
    keys = pd.concat([effects_truth[["condition", *EFFECT_KEY]], reps[["condition", *EFFECT_KEY]]])
    keys = keys[keys["condition"].isin(conditions.index)].drop_duplicates()
    keys["order"] = keys["condition"].map({c: i for i, c in enumerate(conditions.index)})
    keys = keys.sort_values("order", kind="stable").drop(columns="order")
    n_reps = replications.groupby("condition")["replication"].nunique()
    truth_rows = effects_truth.set_index(["condition", *EFFECT_KEY])
    groups = {key: group for key, group in reps.groupby(["condition", *EFFECT_KEY], sort=False)}
    rows = []
    for key in keys.itertuples(index=False, name=None):
        condition = conditions.loc[key[0]]
        group = groups.get(key, reps.iloc[:0])
        finite = np.isfinite(group["estimate"].astype(float)) & np.isfinite(group["std_error"].astype(float))
        usable = group[(group["status"] == "ok") & finite]  # a non-finite estimate or SE is a failure
        true = truth_rows.loc[key] if key in truth_rows.index else None
        source = true if true is not None else group.iloc[0]
        estimand = float(true["estimate"]) if true is not None and true["status"] != "failed" else np.nan
        measures = performance_measures(
            **{c: usable[c].to_numpy(dtype=float) for c in ("estimate", "std_error", "ci_low", "ci_high")},
            estimand=estimand, relative=condition["effect_scale"] != 0)
        total = int(n_reps.get(key[0], 0))
        rows.append({
            "condition": key[0], **condition.to_dict(), **dict(zip(EFFECT_KEY, key[1:], strict=True)),
            "analysis": source["analysis"], "scale": source["scale"],
            "generating": float(true["generating"]) if true is not None else np.nan,
            "estimand": estimand,
            "estimand_se": float(true["std_error"]) if true is not None else np.nan,
            "truth_status": true["status"] if true is not None else "missing",
            "n_reps": total, "n_failed": total - len(usable),
            "n_nonconverged": int(group["status"].isin(NONCONVERGED).sum()), "n_used": len(usable),
            **measures,
        })
    return pd.DataFrame(rows, columns=PERFORMANCE_COLUMNS)


def sample_size(performance: pd.DataFrame, target_power: float = 0.8) -> pd.DataFrame:
    """For every effect row and non-null effect scale, the smallest condition of the grid (fewest
    patients, then fewest therapists) whose power reaches `target_power`, or a note that none does."""
    data = performance[performance["effect_scale"] > 0]
    rows = []
    for _, group in data.groupby([*EFFECT_KEY, "effect_scale"], sort=False):
        group = group.sort_values(["patients", "therapists"], kind="stable")
        first = group.iloc[0]
        reached = group[group["power"] >= target_power]
        best = group.loc[group["power"].idxmax()] if group["power"].notna().any() else None
        row = {**{k: first[k] for k in EFFECT_KEY}, "analysis": first["analysis"], "scale": first["scale"],
               "effect_scale": first["effect_scale"], "target_power": target_power,
               "reached": not reached.empty, "condition": "", "patients": pd.NA,
               "therapists": pd.NA, "power": np.nan, "power_mcse": np.nan,
               "best_condition": best["condition"] if best is not None else "",
               "best_power": float(best["power"]) if best is not None else np.nan}
        if reached.empty:
            largest = group.iloc[-1]
            row["note"] = (
                f"No condition of the grid reaches {target_power:.0%} power (largest "
                f"{row['best_power']:.2f} at {row['best_condition']}); add larger cohorts "
                f"(simulation.patients, beyond {int(largest['patients'])}) or therapists.")
        else:
            hit = reached.iloc[0]
            row.update(condition=hit["condition"], patients=int(hit["patients"]),
                       therapists=int(hit["therapists"]), power=float(hit["power"]),
                       power_mcse=float(hit["power_mcse"]),
                       note=f"{int(hit['patients'])} patients and {int(hit['therapists'])} "
                            f"therapists give {float(hit['power']):.2f} power.")
        rows.append(row)
    table = pd.DataFrame(rows, columns=SAMPLE_SIZE_COLUMNS)
    return table.astype({"patients": "Int64", "therapists": "Int64"})
