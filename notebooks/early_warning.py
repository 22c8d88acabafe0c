# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: alliance (project .venv)
#     language: python
#     name: alliance
# ---

# %% [markdown]
# # Early warning: other predictors, decision points and thresholds
# The run asked whether the alliance predicts who will drop out, well enough to act on (ANALYSIS_PLAN.md,
# section 10; `results/early_warning/`). Here an analyst re-runs the same analysis from a finished run
# with other settings: another predictor set, decision point, alert threshold or penalty, through the
# package's own functions (`alliance.prediction`). `ALLIANCE_RESULTS` chooses the results folder. Each
# re-run takes about a second at 400 patients with few bootstrap draws; the report's numbers use the
# config's draws (200).

# %%
import pandas as pd

from alliance.instruments import load_configured
from alliance.prediction.decision_points import ALLIANCE_PREDICTORS, decision_rows, suppressed_flow
from alliance.prediction.early_warning import early_warning_analysis
from alliance.runtime.results import load_results

run = load_results()
config = run.config or {}
settings = config.get("early_warning", {}) | {"bootstrap": 20, "patient_list": False}
settings.setdefault("decision_points", [2, 3, 4, 5, 6])
settings.setdefault("folds", 5)
settings.setdefault("threshold", "auto")
settings.setdefault("penalty", "cv")
settings.setdefault("max_parameters", "auto")
settings.setdefault("seed", 20261203)
early_window = config.get("features", {}).get("early_window", 3)
settings["primary_session"] = (early_window if settings.get("primary_session", "auto") == "auto"
                               else settings["primary_session"])
covariates = list(config.get("models", {}).get("covariates", ["baseline_severity", "discipline"]))
instrument = load_configured(config.get("instruments", {"alliance": "wai_sr", "satisfaction": "csq8"}))[
    "alliance"]
rupture_c = config.get("ruptures", {}).get("c", 2.0)
rows, flow = decision_rows(run.session_scores, run.features, settings["decision_points"], covariates,
                           rupture_c)
min_cell_size = config.get("privacy", {}).get("min_cell_size", 10)
print(f"At each decision point, the patients in treatment ({len(rows)} rows; counts below {min_cell_size} "
      "left empty, as the run writes them):")
print(suppressed_flow(flow, min_cell_size).to_string(index=False))

# %% [markdown]
# The run's own measures at the primary decision point, if it wrote them.

# %%
saved = run.directory / "early_warning" / "measures.csv"
if saved.exists():
    measures = pd.read_csv(saved)
    print(measures[(measures["session"] == settings["primary_session"])
                   & measures["measure"].isin(["auc", "calibration_slope", "net_benefit"])]
          .round(3).to_string(index=False))

# %% [markdown]
# Another alert threshold: a fixed risk instead of the observed dropout rate. A lower threshold alerts
# more patients (higher sensitivity, lower PPV); the decision curve says where the alerts stop being worth
# their false alarms.

# %%
def auc_and_benefit(rows: pd.DataFrame, changes: dict, alliance: tuple[str, ...] = ALLIANCE_PREDICTORS
                    ) -> pd.DataFrame:
    result = early_warning_analysis(rows, settings | changes, covariates=covariates, instrument=instrument,
                                    min_cell_size=min_cell_size, alliance=alliance, flow=flow)
    table = result["measures"]
    if table.empty:  # why, in words (e.g. "no patient in treatment at session 3 dropped out")
        return pd.DataFrame({"not estimable": sorted({s["reason"] for s in result["result"]["statuses"]})})
    keep = table["measure"].isin(["auc", "sensitivity", "ppv", "alerts_per_100", "net_benefit"])
    return (table[keep & (table["validation"] == "therapist_cv")]
            .pivot_table(index="strategy", columns="measure", values="estimate").round(3))


primary = rows[rows["session"] == settings["primary_session"]]
at_primary = {"decision_points": [settings["primary_session"]]}
print(auc_and_benefit(primary, at_primary | {"threshold": 0.30}).to_string())

# %% [markdown]
# How many predictors enter: the run lets in, in the plan's order, as many predictor parameters as the
# patients and dropouts at each decision point support (`max_parameters: auto`, Riley et al. 2020). A
# number lets in more or fewer; 20 lets in every candidate, to see what the extra parameters cost out of
# sample.

# %%
for allowed in ("auto", 20):
    print(f"max_parameters {allowed}:")
    print(auc_and_benefit(primary, at_primary | {"max_parameters": allowed}).to_string())

# %% [markdown]
# Other predictors: the last alliance total alone (what a cut-off rule uses, as a model), or the
# alliance predictors without the rupture flag; any column of the decision rows can be tried. A tuple's
# order is the order in which they enter; `max_parameters: 20` lets all of them in, so that the sets
# compared are the ones chosen (under `auto` a small sample would cut both to the same few).

# %%
for chosen in (("alliance_last",), tuple(p for p in ALLIANCE_PREDICTORS if p != "rupture_so_far")):
    print(chosen)
    print(auc_and_benefit(primary, at_primary | {"max_parameters": 20}, chosen).to_string())
