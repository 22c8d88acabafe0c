"""How the early-warning analysis does against the generator's known dropout mechanism (issue 18's
targets; ANALYSIS_PLAN.md, section 10, "Validation").

Null: cohorts whose dropout does not depend on the alliance (`null_config`: the dropout effect of early
alliance and of the dimensions set to 0); the "alliance" model's AUC 95% CI should cover .5 in at least
90% of them. Oracle: cohorts of the configured generator; the out-of-sample AUC of the "alliance +
covariates" model beside the oracle AUC, the AUC of the generator's own risk of the same rows
(`alliance.simulation.synthetic.oracle_risk`), at the primary decision point. Run it as `make
check-early-warning` (COHORTS=100 by default); it writes every replication to
results/validation/early_warning_check_replications.csv and the summary to early_warning_check.csv and
.md.
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score

from alliance.instruments import load_instrument
from alliance.prediction.decision_points import decision_rows
from alliance.prediction.early_warning import early_warning_analysis
from alliance.scoring.scores import score_sessions
from alliance.simulation.checks import check_parser, cohorts, read_config, write_check
from alliance.simulation.synthetic import DIMENSIONS, generate_cohort, oracle_risk

COVERAGE_TARGET = 0.90  # issue 18: under the null the AUC CI covers .5 in at least 90% of cohorts ...
ORACLE_TARGET = 0.03  # ... and the out-of-sample AUC is within .03 of the oracle's
COVARIATES = ["baseline_severity", "discipline"]
DEFAULT = Path(__file__).resolve().parents[3] / "config.yaml"


def default_synthetic() -> dict:
    """The `synthetic` block of the repository's config.yaml."""
    return yaml.safe_load(DEFAULT.read_text())["synthetic"]


def null_config(synthetic: dict | None = None) -> dict:
    """The generator without any alliance effect on dropout (early alliance and dimensions)."""
    cfg = copy.deepcopy(synthetic or default_synthetic())
    cfg["effects"]["dropout_log_odds_per_sd"] = 0.0
    for dimension in DIMENSIONS:
        cfg["effects"][f"dropout_{dimension}_log_odds_per_sd"] = 0.0
    return cfg


def cohort_rows(seed: int, n_patients: int, n_therapists: int, *, config: dict | None = None,
                points: tuple[int, ...] | list[int] = (3,), early_window: int = 3, c: float = 2.0
                ) -> tuple[pd.DataFrame, np.ndarray]:
    """A cohort of the generator (`config`, default the repository's `synthetic` block) with its own
    `seed` and size, scored and turned into decision rows as the early_warning job does, with the
    oracle risk of each row."""
    cfg = copy.deepcopy(config or default_synthetic()) | {"n_patients": n_patients,
                                                          "n_therapists": n_therapists}
    patients, sessions, outcomes, _ = generate_cohort(cfg, early_window, np.random.default_rng(seed))
    typed = sessions.assign(attended=sessions["attended"].astype(bool))
    scores = score_sessions(typed, load_instrument("wai_sr"))
    features = patients.merge(outcomes[["patient_id", "dropout"]], on="patient_id").assign(
        dropout=lambda table: table["dropout"].astype(bool))
    rows, _ = decision_rows(scores, features, list(points), COVARIATES, c)
    return rows, oracle_risk(rows, patients, sessions, cfg, early_window)


def replication(seed: int, cfg: dict, settings: dict, *, n_patients: int, n_therapists: int) -> dict:
    """One cohort's AUCs at the primary decision point: each model's with its CI, and the oracle's."""
    rows, oracle = cohort_rows(seed, n_patients, n_therapists, config=cfg,
                               points=[settings["primary_session"]])
    analysis = early_warning_analysis(rows, settings, covariates=COVARIATES,
                                      instrument=load_instrument("wai_sr"), min_cell_size=10)
    out = {"seed": seed, "n": len(rows), "dropouts": int(rows["dropout"].sum()),
           "oracle_auc": float(roc_auc_score(rows["dropout"], oracle))}
    measures = analysis["measures"]
    for name in ("alliance", "alliance_covariates"):
        auc = measures[(measures["validation"] == "therapist_cv") & (measures["strategy"] == name)
                       & (measures["measure"] == "auc")]
        if auc.empty:
            out |= {f"{name}_auc": np.nan, f"{name}_ci_low": np.nan, f"{name}_ci_high": np.nan}
            continue
        row = auc.iloc[0]
        out |= {f"{name}_auc": row["estimate"], f"{name}_ci_low": row["ci_low"],
                f"{name}_ci_high": row["ci_high"]}
    out["actionable"] = bool(analysis["result"]["verdict"].get("actionable", False))
    return out


def replications(cfg: dict, settings: dict, *, count: int, seed: int, n_patients: int, n_therapists: int
                 ) -> pd.DataFrame:
    """`count` replications, seeds `seed`, `seed` + 1, ..."""
    return pd.DataFrame([replication(seed + i, cfg, settings, n_patients=n_patients,
                                     n_therapists=n_therapists) for i in range(count)])


def summarise(null: pd.DataFrame, planted: pd.DataFrame) -> pd.DataFrame:
    """Coverage of .5 under the null; the oracle gap under the generator."""
    covered = (null["alliance_ci_low"] < 0.5) & (null["alliance_ci_high"] > 0.5)
    gap = planted["alliance_covariates_auc"] - planted["oracle_auc"]
    return pd.DataFrame([
        {"condition": "no_effect", "replications": len(null), "covers_half": float(covered.mean()),
         "mean_auc": float(null["alliance_auc"].mean()), "mean_oracle_auc": float(null["oracle_auc"].mean()),
         "mean_gap": np.nan, "within_target": np.nan, "actionable": float(null["actionable"].mean())},
        {"condition": "generator", "replications": len(planted), "covers_half": np.nan,
         "mean_auc": float(planted["alliance_covariates_auc"].mean()),
         "mean_oracle_auc": float(planted["oracle_auc"].mean()), "mean_gap": float(gap.mean()),
         "within_target": float((gap.abs() <= ORACLE_TARGET).mean()),
         "actionable": float(planted["actionable"].mean())}])


def markdown(summary: pd.DataFrame, n_patients: int, oracle_patients: int) -> str:
    """The two targets in words."""
    rows = summary.set_index("condition")
    null, planted = rows.loc["no_effect"], rows.loc["generator"]
    return "\n".join([
        "# Early warning: null coverage and the oracle AUC", "",
        summary.to_markdown(index=False, floatfmt=".3f"), "",
        f"- Null ({n_patients} patients, no alliance effect on dropout): the alliance model's AUC 95% CI "
        f"covers .5 in {null['covers_half']:.0%} of {int(null['replications'])} cohorts "
        f"({'met' if null['covers_half'] >= COVERAGE_TARGET else 'not met'}: at least "
        f"{COVERAGE_TARGET:.0%}); declared actionable in {null['actionable']:.0%}.",
        f"- Generator ({oracle_patients} patients): out-of-sample AUC (alliance + covariates) "
        f"{planted['mean_auc']:.3f} against the oracle's {planted['mean_oracle_auc']:.3f} on average "
        f"(gap {planted['mean_gap']:+.3f}); within {ORACLE_TARGET} of it in {planted['within_target']:.0%} "
        "of cohorts."]) + "\n"


def main() -> None:
    parser = check_parser(__doc__, seed=3000, config=DEFAULT)
    parser.add_argument("--oracle-replications", type=cohorts, default=20)
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--oracle-patients", type=int, default=400)
    args = parser.parse_args()
    config = read_config(args.config)
    synthetic = config["synthetic"]
    early_window = config["features"]["early_window"]
    settings = config.get("early_warning", {}) | {"primary_session": early_window, "decision_points":
                                                  [early_window], "patient_list": False}
    therapists = max(8, round(args.patients * synthetic["n_therapists"] / synthetic["n_patients"]))
    oracle_therapists = max(8, round(args.oracle_patients * synthetic["n_therapists"]
                                     / synthetic["n_patients"]))
    null = replications(null_config(synthetic), settings, count=args.replications, seed=args.seed,
                        n_patients=args.patients, n_therapists=therapists)
    planted = replications(synthetic, settings, count=args.oracle_replications, seed=args.seed + 10_000,
                           n_patients=args.oracle_patients, n_therapists=oracle_therapists)
    summary = summarise(null, planted)
    write_check("early_warning_check", args.out,
                pd.concat([null.assign(condition="no_effect"), planted.assign(condition="generator")],
                          ignore_index=True), summary, markdown(summary, args.patients, args.oracle_patients))


if __name__ == "__main__":
    main()
