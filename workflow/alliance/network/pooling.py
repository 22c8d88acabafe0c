"""Two-stage random-effects meta-analysis of the sites' bundles (`make pool`; ANALYSIS_PLAN.md, section 11).

Each effect is pooled over the sites that estimated it (statsmodels' `combine_effects`): tau^2 by Paule &
Mandel (1982), the method-of-moments estimator (statsmodels 0.15 offers Paule-Mandel and
DerSimonian-Laird, not REML; Paule-Mandel is the recommended alternative to REML, Veroniki et al. 2016,
and needs no likelihood), found as the root of the generalised Q by scipy's `brentq`, as metafor does
(`paule_mandel_tau2`: statsmodels' iteration, DerSimonian & Kacker 2007, sets tau^2 to 0 whenever a step
overshoots the root, which it did on a network's cohort with Q = 43.6 on 7 df); the pooled estimate
weighted by 1 / (SE^2 + tau^2); its 95% CI by Hartung-Knapp-Sidik-Jonkman, the weighted residual
variance on t(k - 1) (Hartung & Knapp 2001; Sidik & Jonkman 2002; IntHout et al. 2014), not below the
usual 1 / sum of the weights (the modification of Roever, Knapp & Friede 2015, which keeps near-identical
sites from giving a CI narrower than the fixed-scale one); the 95% prediction interval of the effect in
a new site mu +/- t(k - 2) sqrt(tau^2 + SE^2) (Higgins, Thompson & Spiegelhalter 2009, with the HKSJ SE as
Partlett & Riley 2017), undefined for fewer than 3 sites; Cochran's Q, and I^2 = tau^2 / (tau^2 + s^2) with
the Paule-Mandel tau^2 and s^2 the typical within-site variance (Higgins & Thompson 2002, as metafor
computes it for the model's tau^2: with DerSimonian-Laird's it is (Q - (k - 1)) / Q), with the Q-profile
95% CIs of tau^2 (hence tau) and I^2 (Viechtbauer 2007, `q_profile_tau2`). One site: its own estimate,
SE and 95% CI (`own_interval`), no heterogeneity.

The primary effects are pooled per point of the alliance instrument when every site used the same
instrument (key, range and scoring): "per SD" is per each site's own SD, which differs between sites, so
per-SD effects of sites with different spreads are not the same quantity. Other effects, and the primary
ones when the sites' instruments differ within a family, are pooled per SD as they are (the metric column
says which). A per-point effect is also given per SD of all the pooled sites' patients together
(`combined_sd`, from each site's n, mean and SD of the predictor): the scale of the one-stage analysis
of the combined data. Its SE holds that SD's sampling variance, as each site's per-SD SE holds its own
SD's (`per_combined_sd`); one site's is its own per-SD estimate, SE and CI.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats
from statsmodels.stats.meta_analysis import combine_effects

from alliance.errors import InputError
from alliance.i18n import N_, _
from alliance.network.aggregates import SENT, WITHHELD_REASONS, few_patients_a_site, one_stage
from alliance.network.bundle import (
    EFFECT_KEY,
    ESTIMATED,
    PRIMARY_OUTCOMES,
    SUPPRESSED,
    Bundle,
    interval_ratio,
)
from alliance.report.format import estimate_digits, format_ci, format_number, format_percent, p_text

METHOD = "Paule-Mandel tau^2; HKSJ 95% CI on t(k-1); 95% PI on t(k-2)"
ONE_SITE = "one site: its own estimate and 95% CI"
POOLED_COLUMNS = ["outcome", "model", "predictor", "analysis", "scale", "metric", "k_sites", "k_suppressed",
                  "k_not_estimated", "estimate", "std_error", "ci_low", "ci_high", "pi_low", "pi_high", "tau",
                  "tau_ci_low", "tau_ci_high", "tau2", "i2", "i2_ci_low", "i2_ci_high", "q", "q_p_value",
                  "combined_sd", "estimate_per_combined_sd", "std_error_per_combined_sd",
                  "ci_low_per_combined_sd", "ci_high_per_combined_sd", "method"]
SITE_COLUMNS = ["outcome", "model", "predictor", "analysis", "metric", "site", "status", "estimate",
                "std_error", "ci_low", "ci_high", "n_patients", "weight", "reason"]
PER_POINT, PER_SD = "per_point", "per_sd"
# The heterogeneity of one site or none: not estimable.
NO_HETEROGENEITY = dict.fromkeys(("tau", "tau2", "tau_ci_low", "tau_ci_high", "i2", "i2_ci_low", "i2_ci_high",
                                  "q", "q_p_value"), float("nan"))
BELOW_MINIMUM = "below the minimum cell size"
MISSING = "missing"  # a site whose bundle has neither the effect nor its model's status
SITE_STATUS = {ESTIMATED: "pooled", SUPPRESSED: BELOW_MINIMUM}
NOT_ESTIMATED = "not estimated"
# The coordinator's own reasons, by the site row's status (English in sites.csv, translated in the report;
# {k}: the site's minimum cell size).
COORDINATOR_REASONS = {BELOW_MINIMUM: N_("fewer than {k} patients"),
                       NOT_ESTIMATED: N_("no finite estimate and standard error in the bundle"),
                       MISSING: N_("not in this site's results")}


ONE_STAGE_COLUMNS = ["outcome", "predictor", "metric", "status", "reason", "k_sites", "n_patients",
                     "smallest_site", "n_therapists", "n_clusters", "estimate", "std_error", "ci_low",
                     "ci_high", "combined_sd", "estimate_per_combined_sd", "std_error_per_combined_sd",
                     "ci_low_per_combined_sd", "ci_high_per_combined_sd", "few_clusters", "sites_withheld",
                     "sites_merged", "confounded"]
NOT_COMPUTED = "not_computed"
# Why the coordinator computed no one-stage estimate (English in one_stage.csv, translated in the report).
ONE_STAGE_REASONS = {
    "instruments": N_("the sites used different alliance instruments, whose points are not one unit"),
    "none_sent": N_("no site sent this model's aggregates"),
    "covariates": N_("the sites' models adjusted for different covariates"),
    "early_window": N_("the sites used different early windows"),
    "not_converged": N_("the combined score equations did not settle on a solution"),
    # {terms}: the common model's terms that go together at every site (aggregates.confounded_terms)
    "not_estimable": N_("each site has one level of some categories, and their levels go together at every "
                        "site, so one model of all the sites' patients cannot tell the effects of {terms} "
                        "apart"),
    "approximate": N_("approximate: a site analysed fewer than 300 patients, and computed from sums this "
                      "analysis matches the analysis of the combined patients closely only at about 400 a "
                      "site (ANALYSIS_PLAN.md, section 11)"),  # 300: aggregates.MIN_SITE_PATIENTS
    # {sites}: each site with its covariates (aggregates.collapsed_design); 10: aggregates.MIN_GROUP
    "merged": N_("approximate: {sites} counted a category of fewer than 10 patients, or fewer than the "
                 "site's minimum cell size, with the largest of its covariate (its sums would describe those "
                 "patients otherwise), so they are analysed without their own category's effect there"),
}


class IncompatibleBundles(InputError):
    """Bundles that cannot be pooled (another plan, instrument family or a repeated site)."""


def generalised_q(estimates: np.ndarray, variances: np.ndarray, tau2: float) -> float:
    """The generalised Q at `tau2`: sum_i w_i (y_i - mu_w)^2 with w_i = 1 / (v_i + tau^2), which decreases
    in tau^2 (Cochran's Q at 0)."""
    w = 1 / (variances + tau2)
    return float(w @ (estimates - w @ estimates / w.sum()) ** 2)


def _q_root(estimates: np.ndarray, variances: np.ndarray, target: float) -> float:
    """The tau^2 >= 0 at which the generalised Q equals `target` (scipy's `brentq`), found from below: the
    generalised Q there is at least `target`; 0 when Q(0) <= `target`."""
    def excess(tau2: float) -> float:
        return generalised_q(estimates, variances, tau2) - target

    if excess(0.0) <= 0:
        return 0.0
    upper = max(float(np.var(estimates)), float(np.max(variances)), 1e-12)
    while excess(upper) > 0:  # Q at tau^2 = upper is below the target once upper exceeds the spread
        upper *= 2
    # to the last few floats of the root whatever its size (an absolute xtol of 1e-15 had left a small root
    # a billion floats wide, which the walk below then took one by one)
    tau2 = optimize.brentq(excess, 0.0, upper, xtol=np.finfo(float).tiny, rtol=4 * np.finfo(float).eps)
    while excess(tau2) < 0:  # the last bits of the root, from below
        tau2 = float(np.nextafter(tau2, 0.0))
    return tau2


def paule_mandel_tau2(estimates: np.ndarray, variances: np.ndarray) -> float:
    """Paule-Mandel's tau^2: the root of the generalised Q = k - 1 (`generalised_q`); 0 when Q(0) <= k - 1.
    At the value returned the generalised Q is at least k - 1 (the root from below), as statsmodels'
    iteration requires of its start.

    References
    ----------
    Paule, R. C., & Mandel, J. (1982). Consensus values and weighting factors. Journal of Research of the
    National Bureau of Standards, 87(5), 377-385. Viechtbauer, W. (2010). Conducting meta-analyses in R with
    the metafor package. Journal of Statistical Software, 36(3), 1-48 (the root by uniroot).
    """
    return _q_root(estimates, variances, len(estimates) - 1)


def q_profile_tau2(estimates: np.ndarray, variances: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The Q-profile confidence interval of tau^2: the tau^2 at which the generalised Q equals the upper
    and the lower (1 - level) / 2 quantiles of chi^2(k - 1); a bound is 0 where Q(0) is already below its
    quantile (both are 0 when Q(0) is below the lower quantile: the sites agree more than chance allows, and
    the interval holds no positive tau^2). It contains the Paule-Mandel estimate, the root at k - 1. No
    maintained Python library computes it (statsmodels gives tau^2 without an interval); metafor's
    `confint` does, and the tests hold this one to its published values.

    References
    ----------
    Viechtbauer, W. (2007). Confidence intervals for the amount of heterogeneity in meta-analysis.
    Statistics in Medicine, 26(1), 37-52.
    """
    df = len(estimates) - 1
    tail = (1 - level) / 2
    return (_q_root(estimates, variances, float(stats.chi2.ppf(1 - tail, df))),
            _q_root(estimates, variances, float(stats.chi2.ppf(tail, df))))


def typical_variance(variances: np.ndarray) -> float:
    """The "typical" within-site variance of Higgins & Thompson (2002), (k - 1) sum w / ((sum w)^2 -
    sum w^2) with w = 1 / v: I^2 = tau^2 / (tau^2 + this) (metafor's I^2 of a model's tau^2; with
    DerSimonian and Laird's tau^2 it is (Q - (k - 1)) / Q), which also turns the bounds of tau^2 into
    bounds of I^2 (as metafor's `confint`)."""
    w = 1 / np.asarray(variances, dtype=float)
    return float((len(w) - 1) * w.sum() / (w.sum() ** 2 - (w**2).sum()))


def pool_estimates(estimates, std_errors) -> dict:
    """Pool one effect over k sites (see the module docstring): estimate, SE (HKSJ), CI, PI, tau, tau^2,
    I^2, Q and its p-value, and the method in words."""
    y, se = np.asarray(estimates, dtype=float), np.asarray(std_errors, dtype=float)
    k = len(y)
    nan = float("nan")
    if k == 0:
        return {"k_sites": 0, "estimate": nan, "std_error": nan, "ci_low": nan, "ci_high": nan, "pi_low": nan,
                "pi_high": nan, **NO_HETEROGENEITY, "method": ""}
    if k == 1:
        z = float(stats.norm.ppf(0.975))
        return {"k_sites": 1, "estimate": float(y[0]), "std_error": float(se[0]),
                "ci_low": float(y[0] - z * se[0]), "ci_high": float(y[0] + z * se[0]), "pi_low": nan,
                "pi_high": nan, **NO_HETEROGENEITY, "method": ONE_SITE}
    tau2 = paule_mandel_tau2(y, se**2)
    with np.errstate(divide="ignore", invalid="ignore"):  # statsmodels' own I^2 when Q = 0 (not used)
        # started at the root, statsmodels' Paule-Mandel iteration stops there at once (|Q - (k - 1)| is
        # far below its tolerance) and combines the sites with that tau^2
        result = combine_effects(y, se**2, method_re="iterated", use_t=True, tau2_start=tau2)
    if float(result.tau2) != tau2:
        raise RuntimeError(f"statsmodels moved Paule-Mandel's tau^2 from {tau2!r} to {result.tau2!r}")
    mean = float(result.mean_effect_re)
    # HKSJ's variance, not below the usual 1 / sum(w) (Roever, Knapp & Friede 2015): with Paule-Mandel the
    # HKSJ scale is 1 whenever tau^2 > 0, and below 1 only when tau^2 is truncated at 0 (Q < k - 1).
    se_hksj = float(np.sqrt(max(result.var_hksj_re, result.var_eff_w_re)))
    crit = float(stats.t.ppf(0.975, k - 1))
    ci_low, ci_high = mean - crit * se_hksj, mean + crit * se_hksj
    q = max(float(result.q), 0.0)  # >= 0 but for rounding
    if k >= 3:
        half = float(stats.t.ppf(0.975, k - 2) * np.sqrt(tau2 + se_hksj**2))
        pi_low, pi_high = mean - half, mean + half
    else:
        pi_low = pi_high = nan
    tau2_low, tau2_high = q_profile_tau2(y, se**2)
    typical = typical_variance(se**2)
    return {"k_sites": k, "estimate": mean, "std_error": se_hksj, "ci_low": ci_low, "ci_high": ci_high,
            "pi_low": pi_low, "pi_high": pi_high, "tau": float(np.sqrt(tau2)), "tau2": tau2,
            "tau_ci_low": float(np.sqrt(tau2_low)), "tau_ci_high": float(np.sqrt(tau2_high)),
            "i2": tau2 / (tau2 + typical),  # inside its interval: the same map of a tau^2 inside tau^2's
            "i2_ci_low": tau2_low / (tau2_low + typical), "i2_ci_high": tau2_high / (tau2_high + typical),
            "q": q, "q_p_value": float(stats.chi2.sf(q, k - 1)), "method": METHOD}


def own_interval(result: dict, low, high) -> dict:
    """A pooled `result` of one site with that site's own 95% CI (`low`, `high`: the sites' bounds), which
    need not be symmetric about its estimate (a d's, a bootstrap's); a result of more sites as it is."""
    if result["k_sites"] != 1:
        return result
    return result | {"ci_low": float(np.asarray(low)[0]), "ci_high": float(np.asarray(high)[0])}


def symptom_measure(provenance: dict) -> str:
    """The symptom measure a site named (`report.symptom_measure.name`, in its bundle's settings), "" where
    it named none or its bundle predates the setting."""
    return str(provenance.get("settings", {}).get("symptom_measure", "") or "").strip()


def check_compatible(bundles: list[Bundle]) -> None:
    """Refuse (IncompatibleBundles, naming the bundles, what differs and what to do) bundles of another
    analysis plan, alliance instrument family, satisfaction instrument or named symptom measure (their
    effects are in points of each: a 1-7 satisfaction form's points pooled with the CSQ-8's, a reviewer's
    probe), two bundles of one site, or two of the same data under two site labels."""
    if not bundles:
        raise IncompatibleBundles("no bundles given: make pool BUNDLES=\"a.zip b.zip ...\"")
    problems = []
    for what, value, fix in (
            ("analysis plan (ANALYSIS_PLAN.md SHA-256)", lambda b: b.provenance["plan_sha256"][:12],
             "every site must run the same ANALYSIS_PLAN.md; agree on one version of the repository and "
             "re-run make share at the sites of the other plan."),
            ("alliance instrument family", lambda b: b.provenance["instrument"]["family"],
             "pool the bundles of each family separately (make pool with only those BUNDLES)."),
            # the satisfaction effects are in points of the satisfaction instrument, the symptom effects in
            # points of the symptom measure: points of one are not points of another
            ("satisfaction instrument",
             lambda b: b.provenance.get("settings", {}).get("satisfaction_instrument", ""),
             "satisfaction effects are in points of each site's instrument; pool the bundles of each "
             "satisfaction instrument separately."),
            ("symptom measure (report.symptom_measure)", lambda b: symptom_measure(b.provenance),
             "symptom effects are in points of each site's measure; pool the bundles of each measure "
             "separately (a site that names no measure is not compared).")):
        groups: dict[str, list[str]] = {}
        for bundle in bundles:
            if value(bundle):
                groups.setdefault(value(bundle), []).append(bundle.name)
        if len(groups) > 1:
            problems.append(f"different {what}: " + "; ".join(f"{key} in {', '.join(names)}"
                                                               for key, names in sorted(groups.items()))
                            + f": {fix}")
    sites = pd.Series([b.site for b in bundles])
    for site in sorted(sites[sites.duplicated()].unique()):
        problems.append(f"site '{site}' twice: " + ", ".join(b.name for b in bundles if b.site == site)
                        + ": give each site a label of its own (make share SITE=label), or leave the extra "
                        "bundle out.")
    data: dict[tuple, list[Bundle]] = {}  # one site's patients under two labels: the same aggregates
    for bundle in bundles:
        for signature in same_data_signatures(bundle):
            data.setdefault(signature, []).append(bundle)
    told = set()
    for same in data.values():
        names = tuple(dict.fromkeys(b.name for b in same))
        if len({b.site for b in same}) > 1 and names not in told:  # under one label, "site twice" says it
            told.add(names)
            problems.append("the same data twice (the same reliability of the same questionnaires, or the "
                            "same estimates, to ten digits: the same patients): " + ", ".join(names)
                            + ": one site's results under two labels; pool one of these bundles only.")
    if problems:
        raise IncompatibleBundles("These bundles cannot be pooled (nothing was written):\n- "
                                  + "\n- ".join(problems))


def same_data_signatures(bundle: Bundle) -> list[tuple]:
    """What two bundles of the same patients share to the last digit sent: the questionnaires'
    reliability (alpha and omega of each scale, which depend on the data alone, whatever the models'
    settings) and the estimated effects (estimate and SE of each). Either, when the bundle has it, marks
    the data; the bundle carries no fingerprint of the data to compare (`bundle.stays_at_site`)."""
    signatures = []
    reliability = bundle.reliability
    if not reliability.empty and {"alpha", "omega"} <= set(reliability.columns):
        numbers = reliability.dropna(subset=["alpha"])
        if not numbers.empty:
            signatures.append(("reliability", *map(tuple, numbers[["role", "instrument", "scale", "alpha",
                                                                   "omega"]].astype(str).to_numpy())))
    effects = bundle.effects[bundle.effects["status"] == ESTIMATED]
    if not effects.empty:
        signatures.append(("effects", *map(tuple, effects[[*EFFECT_KEY, "estimate", "std_error"]]
                                          .astype(str).to_numpy())))
    return signatures


def metric_for(bundles: list[Bundle]) -> str:
    """Per point when every site used the same alliance instrument (key, range, scoring), else per SD."""
    keys = {tuple(sorted((k, str(v)) for k, v in b.provenance["instrument"].items() if k != "name"))
            for b in bundles}
    return PER_POINT if len(keys) == 1 else PER_SD


def site_rows(bundle: Bundle, metric: str) -> pd.DataFrame:
    """A bundle's effect rows in the pooled metric (the primary ones per point where `metric` says so), each
    SE widened as the site's own CI is (`interval_ratio`)."""
    table = bundle.effects.copy()
    per_point = (table["analysis"] == "primary") & (metric == PER_POINT)
    sent = ["estimate", "std_error", "ci_low", "ci_high"]  # per SD of the site's own patients, as sent
    table[[f"{column}_per_sd" for column in sent]] = table[sent]
    ratio = interval_ratio(table["estimate"], table["std_error"], table["ci_low"], table["ci_high"])
    table["metric"] = np.where(per_point, PER_POINT, PER_SD)
    table["estimate"] = np.where(per_point, table["estimate_per_point"], table["estimate"])
    table["std_error"] = ratio * np.where(per_point, table["std_error_per_point"], table["std_error"])
    z = float(stats.norm.ppf(0.975))
    table["ci_low"] = np.where(per_point, table["estimate"] - z * table["std_error"], table["ci_low"])
    table["ci_high"] = np.where(per_point, table["estimate"] + z * table["std_error"], table["ci_high"])
    usable = (table["status"] == ESTIMATED) & np.isfinite(table["estimate"]) & (table["std_error"] > 0)
    table["status"] = [SITE_STATUS.get(s, s) if ok or s == SUPPRESSED else NOT_ESTIMATED
                       for s, ok in zip(table["status"], usable, strict=True)]
    table["reason"] = [COORDINATOR_REASONS[s].format(k=bundle.provenance["min_cell_size"])
                       if s in COORDINATOR_REASONS else "" for s in table["status"]]
    table["site"] = bundle.site
    return table


def combined_sd(effect: pd.DataFrame) -> float:
    """The SD of the predictor over the pooled sites' patients together, from each site's n, mean and SD:
    sqrt((sum (n_i - 1) s_i^2 + sum n_i (m_i - m)^2) / (N - 1)), m the n-weighted mean (the SD the one-stage
    analysis of the combined data standardises by)."""
    n = pd.to_numeric(effect["n_patients"], errors="coerce").to_numpy(float)
    mean, sd = effect["predictor_mean"].to_numpy(float), effect["predictor_sd"].to_numpy(float)
    if len(n) == 0 or not (np.isfinite(n) & np.isfinite(mean) & np.isfinite(sd)).all():
        return float("nan")
    grand = (n * mean).sum() / n.sum()
    return float(np.sqrt((((n - 1) * sd**2).sum() + (n * (mean - grand) ** 2).sum()) / (n.sum() - 1)))


def per_combined_sd(result: dict, effect: pd.DataFrame, *, own: bool = True) -> dict:
    """A per-point pooled `result` per SD of the pooled sites' patients together (`combined_sd`), with its
    SE and 95% CI on the pooled CI's own multiplier (t(k - 1) or z). The SE holds the SD's sampling
    variance as each site's per-SD SE holds its own (delta method: Var(b s) = s^2 Var(b) + b^2 Var(s)),
    Var(s) / s^2 = sum ((n_i - 1) / (N - 1))^2 s_i^4 v_i / s^4 from each site's v_i = Var(s_i) / s_i^2
    (the within-site part of s^2; the spread of the sites' means is taken as fixed). One site: its own
    per-SD estimate, SE and CI, of which the per-point result is the same effect (with `own` False, a result
    of its own, the one-stage analysis', is converted as for several sites)."""
    if len(effect) == 1 and own:
        row = effect.iloc[0]
        return {"combined_sd": float(row["predictor_sd"]),
                "estimate_per_combined_sd": float(row["estimate_per_sd"]),
                "std_error_per_combined_sd": float(row["std_error_per_sd"]),
                "ci_low_per_combined_sd": float(row["ci_low_per_sd"]),
                "ci_high_per_combined_sd": float(row["ci_high_per_sd"])}
    spread = combined_sd(effect)
    n = pd.to_numeric(effect["n_patients"], errors="coerce").to_numpy(float)
    sd, v = effect["predictor_sd"].to_numpy(float), effect["predictor_sd_relative_variance"].to_numpy(float)
    relative = float((((n - 1) / (n.sum() - 1)) ** 2 * sd**4 * v).sum() / spread**4)
    value = result["estimate"] * spread
    se = spread * np.sqrt(result["std_error"] ** 2 + result["estimate"] ** 2 * relative)
    multiplier = (result["ci_high"] - result["estimate"]) / result["std_error"]
    return {"combined_sd": spread, "estimate_per_combined_sd": value, "std_error_per_combined_sd": se,
            "ci_low_per_combined_sd": value - multiplier * se,
            "ci_high_per_combined_sd": value + multiplier * se}


def site_status(bundle: Bundle, key: dict) -> tuple[str, str]:
    """Why a site has no row for an effect (`key`: outcome, analysis and, where known, model): the status
    (refused, not_estimable, separation, ...) and reason of the planned model the effect comes from, the
    first of the statuses (in the plan's order) with its outcome, model and analysis, as the site's report
    ties an effect to its model (`alliance.models.plan.effect_status`); `MISSING` where that model was
    fitted (a discipline the site does not have) or the statuses do not name it. A later model with the
    same three (H5a's beside H2's moderation) once gave its reason to the moderation's missing slope."""
    statuses = bundle.statuses
    match = statuses[(statuses["outcome"] == key["outcome"])
                     & (statuses["model"] == key["model"] if "model" in key else True)
                     & (statuses["analysis"] == key["analysis"])]
    if len(match) and match.iloc[0]["status"] not in ("fitted", "boundary"):
        row = match.iloc[0]
        return row["status"], row["reason"] if isinstance(row["reason"], str) else ""
    return MISSING, COORDINATOR_REASONS[MISSING]


def pool_bundles(bundles: list[Bundle]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pooled effects (one row per effect of any site) and the sites' rows behind them (each with its
    status: pooled, below the minimum cell size, not estimated, the site's own status of a model without
    the effect (`site_status`) or missing, and its random-effects weight)."""
    check_compatible(bundles)
    metric = metric_for(bundles)
    rows = pd.concat([site_rows(b, metric) for b in bundles], ignore_index=True)
    keys = rows[[*EFFECT_KEY, "scale"]].drop_duplicates()
    pooled, sites = [], []
    for key in keys.to_dict(orient="records"):
        mask = np.logical_and.reduce([rows[c] == key[c] for c in EFFECT_KEY])
        effect = rows[mask].copy()
        for bundle in bundles:
            if bundle.site not in set(effect["site"]):
                status, reason = site_status(bundle, key)
                effect = pd.concat([effect, pd.DataFrame([key | {
                    "site": bundle.site, "status": status, "metric": effect["metric"].iloc[0],
                    "reason": reason}])], ignore_index=True)
        used = effect["status"] == "pooled"
        result = own_interval(pool_estimates(effect.loc[used, "estimate"], effect.loc[used, "std_error"]),
                              effect.loc[used, "ci_low"], effect.loc[used, "ci_high"])
        if effect["metric"].iloc[0] == PER_POINT and used.any():
            result |= per_combined_sd(result, effect[used])
        weights = 1 / (effect["std_error"] ** 2 + (result["tau2"] if np.isfinite(result["tau2"]) else 0.0))
        effect["weight"] = np.where(used, weights / weights[used].sum(), np.nan)
        pooled.append(key | {"metric": effect["metric"].iloc[0],
                             "k_suppressed": int((effect["status"] == BELOW_MINIMUM).sum()),
                             "k_not_estimated": int((~used & (effect["status"] != BELOW_MINIMUM)).sum())}
                      | result)
        sites.append(effect)
    if not sites:  # no site sent any effect (each has its statuses' reasons)
        return pd.DataFrame(columns=POOLED_COLUMNS), pd.DataFrame(columns=SITE_COLUMNS)
    sites_table = pd.concat(sites, ignore_index=True).sort_values([*EFFECT_KEY, "site"], kind="stable")
    return (pd.DataFrame(pooled, columns=POOLED_COLUMNS),
            sites_table.reindex(columns=SITE_COLUMNS).reset_index(drop=True))


# The Q-profile intervals of sites closer than chance: empty, shown as 0.
EMPTY_INTERVALS = N_("The sites agree more closely than chance alone would make them, so the Q-profile "
                     "intervals are empty (shown as 0); this does not show that the effect is the same at "
                     "every site.")


def tau_digits(row: dict) -> int:
    """The decimals of tau and its CI: APA's two, more where the upper bound is small (0.004 is not 0.00)."""
    return estimate_digits(max(row["tau"], row["tau_ci_high"]))


def heterogeneity_words(row: dict) -> str:
    """The heterogeneity of a pooled effect in words, in the active language (I^2 bands of the Cochrane
    Handbook, section 10.10.2)."""
    k = row["k_sites"]
    if k < 2:
        return _("One site or none: the variation between sites cannot be estimated.")
    i2 = row["i2"]
    digits = tau_digits(row)
    values = {"k": k, "i2": format_percent(i2, 0), "q": format_number(row["q"], 2), "df": k - 1,
              "tau": format_number(row["tau"], digits), "p": p_text(row["q_p_value"]),
              "i2_ci": format_ci(row["i2_ci_low"], row["i2_ci_high"], 0, percent=True),
              "tau_ci": format_ci(row["tau_ci_low"], row["tau_ci_high"], digits)}
    if row["q"] <= k - 1:  # tau^2 at 0: no variation beyond chance found, which few sites cannot rule out
        text = _("Across {k} sites no variation beyond chance was found (I\u00b2 = {i2}, 95% CI {i2_ci}; "
                 "tau = {tau}, 95% CI {tau_ci}; Q = {q} on {df} df, {p}); with {k} sites that does not "
                 "rule it out.").format(**values)
    else:
        band = (_("might not be important") if i2 < 0.3 else _("may be moderate") if i2 < 0.5
                else _("may be substantial") if i2 < 0.75 else _("is considerable"))
        text = _("Across {k} sites the heterogeneity {band} (I\u00b2 = {i2}, 95% CI {i2_ci}; tau = {tau}, "
                 "95% CI {tau_ci}; Q = {q} on {df} df, {p}).").format(band=band, **values)
    if row["tau_ci_high"] == 0:  # Q(0) below chi^2's lower quantile: the Q-profile interval is empty
        text += " " + _(EMPTY_INTERVALS)
    if k >= 3:
        digits = estimate_digits(row["estimate"])  # as the estimate: APA's 2 decimals, more if it is small
        text += " " + _("In a new site the effect is expected between {low} and {high} (95% prediction "
                        "interval).").format(low=format_number(row["pi_low"], digits),
                                             high=format_number(row["pi_high"], digits))
        if row["tau"] == 0:
            text += " " + _("With tau at 0, it holds only the pooled estimate's own uncertainty (on t with "
                            "{df} df), not differences between sites.").format(df=k - 2)
        elif k == 3:  # t(1)'s 97.5% point is 12.7: a reviewer's three sites read -6.97 to 7.98 log-odds
            text += " " + _("With three sites it rests on t with 1 degree of freedom (12.7 times its "
                            "standard error), so it says little about a new site.")
    else:
        text += " " + _("With two sites no prediction interval can be given (it needs at least three).")
    return text


# The benchmark statistics are pooled on a scale where their CIs are about symmetric: r on Fisher's z.
BENCHMARK_SCALES = {"alliance_outcome": (np.arctanh, np.tanh)}
BENCHMARK_COLUMNS = ["benchmark", "metric", "k_sites", "estimate", "ci_low", "ci_high", "pi_low", "pi_high",
                     "tau", "tau_ci_low", "tau_ci_high", "i2", "i2_ci_low", "i2_ci_high", "benchmark_value",
                     "benchmark_ci_low", "benchmark_ci_high", "source"]


def pool_benchmarks(bundles: list[Bundle]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sites' benchmark statistics (dropout d; alliance-outcome r on Fisher's z) pooled as the effects
    are, each site's SE taken from its 95% CI, (high - low) / (2 x 1.96) on the pooling scale (an
    approximation where the site's CI was on t(G - 1)); one site alone keeps its own CI; the pooled rows
    and the sites' rows."""
    frames = [b.benchmarks.assign(site=b.site) for b in bundles if len(b.benchmarks)]
    if not frames:
        return pd.DataFrame(columns=BENCHMARK_COLUMNS), pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True)
    z = float(stats.norm.ppf(0.975))
    pooled = []
    for benchmark, group in rows.groupby("benchmark", sort=True):
        forward, back = BENCHMARK_SCALES.get(benchmark, (np.asarray, np.asarray))
        usable = group[np.isfinite(group["estimate"]) & (group["ci_high"] > group["ci_low"])]
        low, high = (forward(usable[c].to_numpy(float)) for c in ("ci_low", "ci_high"))
        se = (high - low) / (2 * z)
        result = own_interval(pool_estimates(forward(usable["estimate"].to_numpy(float)), se), low, high)
        first = group.iloc[0]
        pooled.append({"benchmark": benchmark, "metric": first["metric"], "k_sites": result["k_sites"],
                       **{key: float(back(result[key])) for key in ("estimate", "ci_low", "ci_high", "pi_low",
                                                                    "pi_high")},
                       **{key: result[key] for key in ("tau", "tau_ci_low", "tau_ci_high", "i2", "i2_ci_low",
                                                       "i2_ci_high")},
                       **{key: first[key] for key in ("benchmark_value", "benchmark_ci_low",
                                                      "benchmark_ci_high", "source")}})
    return pd.DataFrame(pooled, columns=BENCHMARK_COLUMNS), rows


def network_min_clusters(bundles: list[Bundle]) -> int:
    """The largest of the sites' `models.min_clusters` (the plan's default, 50, for a bundle without it):
    the one-stage CI's few-cluster threshold."""
    return max(int(b.provenance.get("settings", {}).get("min_clusters", 50)) for b in bundles)


def withheld_sites(bundles: list[Bundle], outcome: str) -> list[tuple[str, str]]:
    """The sites that sent no one-stage sums for `outcome`, each with its reason's key
    (`WITHHELD_REASONS`)."""
    entries = [(b.site, b.aggregates.get(outcome, {"status": "withheld", "reason": "not_fitted"}))
               for b in bundles]
    return [(site, entry["reason"]) for site, entry in entries if entry["status"] != SENT]


def merged_sites(sent: dict[str, dict]) -> str:
    """The sites that collapsed a small category in their sums, each with the covariates ("a (discipline);
    b (discipline)"), from their sent entries (`aggregates.collapsed_design`)."""
    return "; ".join(f"{site} ({', '.join(entry['merged'])})"
                     for site, entry in sent.items() if entry["merged"])


def approximate_reasons(row: dict, merged: str, translate=str) -> list[str]:
    """Why a one-stage row is approximate, in English or through `translate` (the report's `_`): a site of
    too few patients (`aggregates.few_patients_a_site`; the satisfaction model is the mixed one), and the
    sites that collapsed a category (`merged_sites`)."""
    reasons = []
    if few_patients_a_site(int(row["k_sites"]), row["outcome"] == "satisfaction", int(row["smallest_site"])):
        reasons.append(translate(ONE_STAGE_REASONS["approximate"]))
    if merged:
        reasons.append(translate(ONE_STAGE_REASONS["merged"]).format(sites=merged))
    return reasons


def one_stage_table(bundles: list[Bundle]) -> pd.DataFrame:
    """Per primary outcome, the analysis of the sites' patients together computed from the aggregates they
    sent (`alliance.network.aggregates.one_stage`; per point, with the per-SD version of `per_combined_sd`
    over those sites' effect rows), or why there is none (`ONE_STAGE_REASONS`); `sites_withheld` names
    the sites that sent no aggregates, with their reasons (`WITHHELD_REASONS`)."""
    metric = metric_for(bundles)
    sites = pd.concat([site_rows(b, metric) for b in bundles], ignore_index=True)
    min_clusters = network_min_clusters(bundles)
    rows = []
    for outcome in PRIMARY_OUTCOMES:
        sent = {b.site: b.aggregates[outcome] for b in bundles
                if b.aggregates.get(outcome, {}).get("status") == SENT}
        withheld = "; ".join(f"{site}: {WITHHELD_REASONS[reason]}"
                             for site, reason in withheld_sites(bundles, outcome))
        covariates = {tuple(sorted({column for column, _ in entry["parameters"]} | set(entry["references"])))
                      for entry in sent.values()}
        windows = {b.provenance.get("settings", {}).get("early_window") for b in bundles if b.site in sent}
        reason = ("instruments" if metric != PER_POINT else "none_sent" if not sent
                  else "covariates" if len(covariates) > 1 else "early_window" if len(windows) > 1 else "")
        row = {"outcome": outcome, "metric": PER_POINT, "k_sites": len(sent), "sites_withheld": withheld}
        if reason:
            rows.append(row | {"status": NOT_COMPUTED, "reason": ONE_STAGE_REASONS[reason]})
            continue
        result = one_stage(list(sent.values()), min_clusters)
        merged = merged_sites(sent)
        reason = ("; ".join(approximate_reasons(row | result, merged)) if result["status"] == "approximate"
                  else ONE_STAGE_REASONS.get(result["status"], "").format(
                      terms=" and ".join(result["confounded"].split("; "))))
        row |= result | {"sites_merged": merged, "reason": reason}
        used = sites[(sites["outcome"] == outcome) & (sites["analysis"] == "primary")
                     & sites["site"].isin(list(sent)) & (sites["status"] == "pooled")]
        if result["status"] in ("fitted", "approximate") and len(used) == len(sent):
            row |= per_combined_sd(result, used, own=False)
        rows.append(row)
    return pd.DataFrame(rows, columns=ONE_STAGE_COLUMNS)
