"""Whether pooling across sites is right (issue 19's targets; ANALYSIS_PLAN.md, section 11, "Validation").

Each replication draws one multi-site cohort from the configured generator (its own seed), fits the three
primary models on the combined data (one stage) and on each site's patients alone, and pools the sites'
effects per instrument point as `make pool` does (`alliance.network.pooling.pool_estimates`, each site's
SE widened as its own CI is, `interval_ratio`), and computes the one-stage analysis from the sites'
aggregates as `make share` and `make pool` do (`alliance.network.aggregates`). Two conditions:

- `none`: no between-site variance (`site_effect_sd` 0). Target: |pooled - one-stage| < 0.10 x the
  one-stage SE; the share of replications meeting it and the typical ratio are reported per effect, for
  the two-stage pooled estimate and for the one-stage analysis from aggregates.
- `planted`: a between-site SD of the attendance and dropout effects (`site_effect_sd`, log-odds per SD
  of early alliance in the whole cohort). Target: the mean tau over replications recovers it; on the
  per-point scale the planted tau is site_effect_sd / SD(early alliance).

With `--caseloads unequal` (`make check-pooling CASELOADS=unequal`) each therapist keeps a random 10-100%
of their patients (`thin_caseloads`), so that caseloads run from 1 or 2 to about 20: H3's one-stage
analysis from aggregates is exact only at equal caseloads or at its working variance ratio.

Run it as `make check-pooling` (COHORTS=100 by default); it writes each replication and effect to
results/validation/pooling_check_replications.csv and the summary to pooling_check.csv and .md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.models import fit_family
from alliance.models.plan import BY_KEY, PRIMARY_KEYS
from alliance.network.aggregates import SENT, one_stage, site_aggregates
from alliance.network.bundle import per_point, predictor_scales
from alliance.network.pooling import interval_ratio, pool_estimates
from alliance.simulation.checks import check_parser, read_config, write_check
from alliance.simulation.synthetic import generate_cohort, generated_features

PRIMARY_FAMILIES = ("adherence", "dropout", "satisfaction")
SITES = 10
COHORT = {"n_patients": 4000, "n_therapists": 200, "n_sites": SITES}  # 400 patients, ~20 therapists a site
PLANTED_SD = 0.3  # between-site SD of the attendance and dropout effects (log-odds per SD)
AGREEMENT = 0.10  # |pooled - one-stage| < 0.10 x one-stage SE
PLANTED_EFFECTS = ("attendance", "dropout")


def primary_per_point(features: pd.DataFrame, covariates: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The primary effects of `features` per instrument point (`alliance.network.bundle.per_point`), one row
    per fitted primary model, and the primary models' statuses (as `results/models/status.csv`'s)."""
    rows, statuses = [], []
    for family in PRIMARY_FAMILIES:
        result = fit_family(family, features, covariates, levels=False, describe=False)
        rows += [row for row in result.effects if row["analysis"] == "primary"]
        statuses += [{"outcome": BY_KEY[status["key"]].outcome, "analysis": "primary",
                      "status": status["status"]}
                     for status in result.statuses if status["key"] in PRIMARY_KEYS]
    effects, statuses = pd.DataFrame(rows), pd.DataFrame(statuses)
    if effects.empty:
        return effects, statuses
    return per_point(effects, predictor_scales(features, covariates)), statuses


def thin_caseloads(features: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """The patients of each therapist kept with a probability of their own, uniform on 0.1-1.0."""
    therapists = sorted(features["therapist_id"].unique())
    keep = pd.Series(rng.uniform(0.1, 1.0, len(therapists)), index=therapists)
    return features[rng.uniform(size=len(features)) < keep[features["therapist_id"]].to_numpy()]


def replication(synthetic: dict, *, early_window: int, covariates: list[str], seed: int,
                min_cell_size: int = 10, min_clusters: int = 50, unequal: bool = False) -> pd.DataFrame:
    """One cohort: per primary effect, the one-stage and pooled estimates per point, their SEs, tau and the
    number of sites pooled; with `unequal`, its caseloads thinned (`thin_caseloads`, seed + 99)."""
    rng = np.random.default_rng(seed)
    patients, sessions, outcomes, _ = generate_cohort(synthetic, early_window, rng)
    features = generated_features(patients, sessions, outcomes, early_window)
    if unequal:
        features = thin_caseloads(features, np.random.default_rng(seed + 99))
    one = primary_per_point(features, covariates)[0].set_index("outcome")
    site_rows, aggregates = [], []
    for site, group in features.groupby("site", sort=True):
        effects, statuses = primary_per_point(group, covariates)
        site_rows.append(effects.assign(site=site))
        aggregates.append(site_aggregates(group, covariates, statuses, min_cell_size))
    site_rows = pd.concat(site_rows, ignore_index=True)
    rows = []
    for outcome, sites in site_rows.groupby("outcome", sort=True):
        ratio = interval_ratio(sites["estimate"], sites["std_error"], sites["ci_low"], sites["ci_high"])
        pooled = pool_estimates(sites["estimate_per_point"], ratio * sites["std_error_per_point"])
        per_sd = pool_estimates(sites["estimate"], ratio * sites["std_error"])
        sent = [site[outcome] for site in aggregates if site[outcome]["status"] == SENT]
        combined = one_stage(sent, min_clusters) if sent else {"estimate": np.nan, "std_error": np.nan}
        rows.append({"seed": seed, "outcome": outcome, "k_sites": pooled["k_sites"],
                     "one_stage": one.loc[outcome, "estimate_per_point"],
                     "one_stage_se": one.loc[outcome, "std_error_per_point"],
                     "pooled": pooled["estimate"], "pooled_se": pooled["std_error"], "tau": pooled["tau"],
                     "aggregated": combined["estimate"], "aggregated_se": combined["std_error"],
                     "k_aggregated": len(sent),
                     "tau_per_sd": per_sd["tau"], "alliance_sd": one.loc[outcome, "predictor_sd"]})
    table = pd.DataFrame(rows)
    table["ratio"] = (table["pooled"] - table["one_stage"]).abs() / table["one_stage_se"]
    table["ratio_aggregated"] = (table["aggregated"] - table["one_stage"]).abs() / table["one_stage_se"]
    return table


def replications(synthetic: dict, *, site_sd: float, early_window: int, covariates: list[str], count: int,
                 seed: int, cohort: dict | None = None, min_cell_size: int = 10, min_clusters: int = 50,
                 unequal: bool = False) -> pd.DataFrame:
    """`count` replications (seeds `seed`, `seed` + 1, ...) of multi-site cohorts (`cohort`, default
    `COHORT`) with between-site SD `site_sd`, their caseloads thinned where `unequal`."""
    cfg = synthetic | (cohort or COHORT) | {"site_effect_sd": site_sd}
    return pd.concat([replication(cfg, early_window=early_window, covariates=covariates, seed=seed + i,
                                  min_cell_size=min_cell_size, min_clusters=min_clusters, unequal=unequal)
                      for i in range(count)], ignore_index=True).assign(site_effect_sd=site_sd)


def summarise(none: pd.DataFrame, planted: pd.DataFrame) -> pd.DataFrame:
    """Per effect: agreement without site variance (share within the tolerance, median and 90th percentile
    of the ratio) and, with the planted SD, the mean tau against the planted one (per point and per SD)."""
    rows = []
    for outcome, group in none.groupby("outcome", sort=True):
        row = {"outcome": outcome, "replications": len(group),
               "agree_share": float((group["ratio"] < AGREEMENT).mean()),
               "ratio_median": float(group["ratio"].median()),
               "ratio_p90": float(group["ratio"].quantile(0.9)),
               "aggregated_agree_share": float((group["ratio_aggregated"] < AGREEMENT).mean()),
               "aggregated_ratio_median": float(group["ratio_aggregated"].median()),
               "aggregated_ratio_max": float(group["ratio_aggregated"].max()),
               "all_sent": int((group["k_aggregated"] == SITES).sum()),
               "aggregated_agree_all_sent": int(((group["k_aggregated"] == SITES)
                                                 & (group["ratio_aggregated"] < AGREEMENT)).sum()),
               "aggregated_se_ratio": float((group["aggregated_se"] / group["one_stage_se"]).mean()),
               "tau_none_mean": float(group["tau"].mean())}
        other = planted[planted["outcome"] == outcome]
        if outcome in PLANTED_EFFECTS and len(other):
            sd = float(other["site_effect_sd"].iloc[0])
            row |= {"planted_sd": sd, "planted_tau_per_point": float((sd / other["alliance_sd"]).mean()),
                    "tau_mean": float(other["tau"].mean()),
                    "tau_rms": float(np.sqrt((other["tau"] ** 2).mean())),
                    "tau_per_sd_mean": float(other["tau_per_sd"].mean())}
        rows.append(row)
    return pd.DataFrame(rows)


def markdown(summary: pd.DataFrame, unequal: bool = False) -> str:
    """The targets in words."""
    caseloads = (" (caseloads thinned: each therapist kept a random 10-100% of their patients)" if unequal
                 else "")
    lines = ["# Pooling across sites: two-stage against one-stage, and recovery of between-site variance"
             + caseloads, "",
             summary.to_markdown(index=False, floatfmt=".3f"), ""]
    for row in summary.to_dict(orient="records"):
        lines.append(f"- {row['outcome']}, no site variance: |pooled - one-stage| < {AGREEMENT:.2f} x "
                     f"one-stage SE in {row['agree_share']:.0%} of {row['replications']} cohorts (median "
                     f"ratio {row['ratio_median']:.3f}, 90th percentile {row['ratio_p90']:.3f}); the "
                     f"one-stage analysis from the sites' aggregates in {row['aggregated_agree_share']:.0%} "
                     f"(median {row['aggregated_ratio_median']:.3f}, largest "
                     f"{row['aggregated_ratio_max']:.3f}; its SE {row['aggregated_se_ratio']:.3f} of the "
                     f"one-stage SE on average), and in {row['aggregated_agree_all_sent']} of the "
                     f"{row['all_sent']} cohorts where every site sent its sums.")
        if np.isfinite(row.get("planted_sd", np.nan)):
            lines.append(f"- {row['outcome']}, planted between-site SD {row['planted_sd']:.2f} per SD "
                         f"({row['planted_tau_per_point']:.3f} per point): mean tau {row['tau_mean']:.3f} "
                         f"per point (root mean tau^2 {row['tau_rms']:.3f}), {row['tau_per_sd_mean']:.3f} "
                         "per SD.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = check_parser(__doc__, seed=3000)
    parser.add_argument("--caseloads", choices=["equal", "unequal"], default="equal",
                        help="unequal: each therapist keeps a random 10-100%% of their patients")
    args = parser.parse_args()
    config = read_config(args.config)
    common = {"early_window": config["features"]["early_window"],
              "min_cell_size": config["privacy"]["min_cell_size"],
              "min_clusters": config["models"]["min_clusters"],
              "covariates": config["models"]["covariates"], "count": args.replications, "seed": args.seed,
              "unequal": args.caseloads == "unequal"}
    none = replications(config["synthetic"], site_sd=0.0, **common)
    planted = replications(config["synthetic"], site_sd=PLANTED_SD, **common)
    summary = summarise(none, planted)
    write_check("pooling_check", args.out, pd.concat([none, planted], ignore_index=True), summary,
                markdown(summary, common["unequal"]))


if __name__ == "__main__":
    main()
