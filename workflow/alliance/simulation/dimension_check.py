"""How often H5's planned contrast is declared, under a generator with a planted goal/task-specific
satisfaction effect and under one without dimension-specific effects (issue 16's targets; ANALYSIS_PLAN.md,
H5, "Validation").

Each replication draws a cohort from the configured generator (its own seed), builds the features as the
workflow does, and runs the relative importance (H5c) and the latent model (H5d) of the chosen outcomes. A
contrast is declared when its 95% CI excludes 0; a dimension-specific latent effect when H5d's test of
equal paths has q < .05 over the replication's outcomes (`latent_verdicts`, as in the workflow). The
summary also counts the cohorts in which any outcome declared one (issue 16's target, read per cohort).
Run it as `make check-dimensions` (COHORTS=100 by default); it writes the summary to
results/validation/dimension_check.csv and .md, and every replication's row (contrast, latent p and q)
to dimension_check_replications.csv.
"""

from __future__ import annotations

import pandas as pd

from alliance.errors import NotEstimable
from alliance.instruments import load_instrument
from alliance.models.dimensions import (
    DIMENSIONS,
    OUTCOMES,
    dimension_columns,
    dimension_designs,
    dimension_item_means,
    latent_analysis,
    latent_verdicts,
    relative_importance,
)
from alliance.scoring.scores import score_sessions
from alliance.simulation.checks import check_parser, read_config, write_check
from alliance.simulation.synthetic import generated_features, synthesize

CONTRAST = "goal_task_minus_bond"
GENERATORS = ("planted", "none")  # the configured dimension effects; all of them 0
COLUMNS = ["generator", "outcome", "replications", "declared_above", "declared_below", "declared",
           "mean_contrast", "latent_fitted", "latent_declared", "latent_mean_contrast"]
LATENT_TARGET = 0.07  # issue 16: no dimension-specific latent effect declared in more than 7% without one
ANY = "any outcome"  # the summary row of the cohorts in which any outcome declared


def generator_config(synthetic: dict, generator: str) -> dict:
    """The `synthetic` block as configured ("planted") or with every dimension-specific effect 0."""
    if generator == "planted":
        return synthetic
    effects = {key: 0.0 if any(f"_{d}_" in key for d in DIMENSIONS) else value
               for key, value in synthetic["effects"].items()}
    return synthetic | {"effects": effects}


def declared_contrasts(synthetic: dict, *, early_window: int, covariates: list[str], outcomes: list[str],
                       replications: int, seed: int, draws: int, latent_draws: int) -> pd.DataFrame:
    """One row per replication and outcome: the planned contrast and its 95% CI (`relative_importance`)
    and H5d's latent contrast, test of equal paths, q over the replication's `outcomes` and verdict
    (`latent_declared`; missing where the latent model cannot be fitted), the cohorts drawn with seeds
    `seed`, `seed` + 1, ... and the truth population left out; `draws` therapist bootstrap draws for H5c,
    `latent_draws` wild bootstrap draws for H5d."""
    wai = load_instrument("wai_sr")  # the generator's alliance instrument
    rows = []
    for replication in range(replications):
        cfg = synthetic | {"seed": seed + replication, "truth_multiplier": 1}
        patients, sessions, outcomes_table, _ = synthesize(cfg, early_window, covariates)
        features = generated_features(patients, sessions, outcomes_table, early_window)
        scored = sessions.assign(attended=sessions["attended"].astype(bool))
        item_means = dimension_item_means(scored, score_sessions(scored, wai), wai, early_window)
        cohort = []
        for name in outcomes:
            outcome = OUTCOMES[name]
            columns = dimension_columns(features, outcome.predictor)
            _, joint = dimension_designs(outcome, features, covariates, columns)
            result = relative_importance(outcome, joint, columns, draws=draws, seed=seed + replication)
            row = next(r for r in result["rows"] if r["term"] == CONTRAST)
            try:
                latent = latent_analysis(outcome, joint, columns, item_means[outcome.predictor], wai,
                                         draws=latent_draws, seed=seed + replication)
            except NotEstimable:
                verdict = {"latent_contrast": float("nan"), "latent_p": float("nan")}
            else:
                verdict = {"latent_contrast": latent["contrast"]["estimate"],
                           "latent_p": latent["equal_paths"]["p"]}
            cohort.append({"replication": replication + 1, "outcome": name, **row, **verdict})
        verdicts = latent_verdicts({r["outcome"]: r["latent_p"] for r in cohort if pd.notna(r["latent_p"])})
        unfitted = {"q": float("nan"), "declared": None}
        rows += [r | {f"latent_{k}": v for k, v in verdicts.get(r["outcome"], unfitted).items()}
                 for r in cohort]
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame, generator: str) -> pd.DataFrame:
    """Per outcome, the share of replications declaring the contrast (above 0, below 0, either), the
    share in which the latent model could be fitted and, of those, the share declaring a
    dimension-specific latent effect; with more than one outcome, a row `ANY` of the replications in
    which any outcome declared (a replication counts as fitted when any outcome's latent model was)."""
    above, below = table["ci_low"] > 0, table["ci_high"] < 0
    fitted = table["latent_declared"].notna()
    flags = pd.DataFrame({"outcome": table["outcome"], "declared_above": above, "declared_below": below,
                          "declared": above | below, "mean_contrast": table["estimate"],
                          "latent_fitted": fitted,
                          "latent_declared": table["latent_declared"].where(fitted).astype(float),
                          "latent_mean_contrast": table["latent_contrast"]})
    grouped = flags.groupby("outcome", sort=False)
    summary = grouped.mean().astype(float).reset_index()
    sizes = list(grouped.size())
    if table["outcome"].nunique() > 1:
        cohorts = flags.drop(columns="outcome").groupby(table["replication"].to_numpy())
        anywhere = cohorts[["declared_above", "declared_below", "declared", "latent_fitted"]].any()
        anywhere["latent_declared"] = cohorts["latent_declared"].max()  # 1 where any fitted outcome declared
        anywhere[["mean_contrast", "latent_mean_contrast"]] = float("nan")
        row = anywhere.astype(float).mean().to_frame().T.assign(outcome=ANY)
        summary = pd.concat([summary, row], ignore_index=True)
        sizes.append(len(anywhere))
    summary.insert(0, "generator", generator)
    summary.insert(2, "replications", sizes)
    return summary[COLUMNS]


def markdown(summary: pd.DataFrame) -> str:
    """The targets of issue 16 for the relative importance, in words."""
    planted = summary[(summary["generator"] == "planted") & (summary["outcome"] == "satisfaction")]
    lines = ["# H5: how often the planned contrast is declared", "",
             summary.to_markdown(index=False, floatfmt=".2f"), ""]
    if len(planted):
        share = float(planted["declared_above"].iloc[0])
        verdict = "met" if share >= 0.8 else "not met"
        lines.append(f"- Planted goal/task effect on satisfaction: the contrast's CI is above 0 in "
                     f"{share:.0%} of the replications ({verdict}: at least 80%).")
        latent = float(planted["latent_declared"].iloc[0])
        lines.append(f"- Planted goal/task effect on satisfaction: the latent model declares a "
                     f"dimension-specific effect in {latent:.0%} of the replications where it was fitted.")
    for _, row in summary[summary["generator"] == "none"].iterrows():
        verdict = "met" if row["latent_declared"] <= LATENT_TARGET else "not met"
        lines.append(f"- No dimension-specific effect, {row['outcome']}: the latent model declares one in "
                     f"{row['latent_declared']:.0%} of the {row['latent_fitted']:.0%} of replications where "
                     f"it was fitted ({verdict}: at most {LATENT_TARGET:.0%}).")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = check_parser(__doc__, seed=1000)
    parser.add_argument("--draws", type=int, default=200, help="therapist bootstrap draws per replication")
    parser.add_argument("--latent-draws", type=int, default=9999,
                        help="wild bootstrap draws per replication for the latent test of equal paths")
    parser.add_argument("--outcomes", nargs="+", default=list(OUTCOMES))
    args = parser.parse_args()
    config = read_config(args.config)
    tables = {generator: declared_contrasts(
        generator_config(config["synthetic"], generator), early_window=config["features"]["early_window"],
        covariates=config["models"]["covariates"], outcomes=args.outcomes, replications=args.replications,
        seed=args.seed, draws=args.draws, latent_draws=args.latent_draws) for generator in GENERATORS}
    summary = pd.concat([summarise(table, generator) for generator, table in tables.items()],
                        ignore_index=True)
    write_check("dimension_check", args.out,
                pd.concat([table.assign(generator=generator) for generator, table in tables.items()],
                          ignore_index=True), summary, markdown(summary))


if __name__ == "__main__":
    main()
