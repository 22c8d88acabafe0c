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
# # Model diagnostics
# Residuals, influence and the proportional-hazards assumption of the models of the analysis plan,
# refitted from a finished run's features with the package's own design functions (so the samples and
# formulas are exactly the workflow's). `ALLIANCE_RESULTS` chooses the results folder.

# %%
import numpy as np
import pandas as pd
import statsmodels.api as sm
import statsmodels.formula.api as smf
from lifelines import CoxPHFitter
from lifelines.statistics import proportional_hazard_test
from scipy import stats

from alliance.errors import NotEstimable
from alliance.ingest.privacy import suppress_counts
from alliance.models.common import fit_logit_glm
from alliance.models.levels import PRIMARY
from alliance.models.survival import session_risk_design
from alliance.runtime.results import load_results

run = load_results()
covariates = run.covariates
print(f"{len(run.features)} patients; covariates: {', '.join(covariates)}")

# %% [markdown]
# ## Dropout (H2): influence
# Cook's distance of each patient in the logistic model; the rule of thumb 4/n flags influential
# patients. The estimate is refitted without them to see whether they drive it.

# %%
def status_of(key: str) -> tuple[str, str]:
    """A planned model's status and reason in the run (`models/status.csv`): a diagnostic of a model the
    run could not fit says why instead of stopping on the library's error."""
    table = pd.read_csv(run.directory / "models" / "status.csv", keep_default_na=False).set_index("key")
    return (table.loc[key, "status"], table.loc[key, "reason"]) if key in table.index else ("missing", "")


spec = PRIMARY["dropout"]
design = spec.design(run.features, covariates)
h2 = status_of("H2")
if h2[0] not in ("fitted", "boundary"):
    print(f"H2 {h2[0]}: {h2[1]}; no influence diagnostics")
else:
    fit = smf.glm(design.formula, design.data, family=sm.families.Binomial()).fit()
    cooks = fit.get_influence().cooks_distance[0]
    flagged = cooks > 4 / len(cooks)
    term = "alliance_early_z"
    refit = smf.glm(design.formula, design.data[~flagged], family=sm.families.Binomial()).fit()
    shown = suppress_counts(pd.Series([int(flagged.sum()), int((~flagged).sum())]), run.min_cell_size)
    print(f"{shown[0]} of {len(cooks)} patients above 4/n (counts below {run.min_cell_size} suppressed); "
          f"max Cook's D {cooks.max():.3f}")
    print(f"alliance log-odds: all {fit.params[term]:.3f}, without them {refit.params[term]:.3f}")

# %% [markdown]
# Deviance residuals by decile of the linear predictor (a calibration check: the observed dropout rate
# should follow the predicted one).

# %%
if h2[0] in ("fitted", "boundary"):
    calibration = pd.DataFrame({"predicted": fit.fittedvalues, "observed": design.data["dropout_event"]})
    calibration["decile"] = pd.qcut(calibration["predicted"].rank(method="first"), 10, labels=False)
    print(calibration.groupby("decile")[["predicted", "observed"]].mean().round(3).to_string())

# %% [markdown]
# ## Satisfaction (H3): residuals of the mixed model
# The CSQ-8 total has a ceiling: look at the skew of the residuals and at the residuals of the patients
# at the maximum.

# %%
spec = PRIMARY["satisfaction"]
design = spec.design(run.features, covariates)
h3 = status_of("H3")
if h3[0] not in ("fitted", "boundary"):
    print(f"H3 {h3[0]}: {h3[1]}; no residuals")
else:
    lmm = spec.fit(design)
    residuals = design.data["satisfaction"] - lmm.fittedvalues
    print(f"residual SD {residuals.std():.2f}, skew {stats.skew(residuals):.2f}, "
          f"excess kurtosis {stats.kurtosis(residuals):.2f}")
    at_max = design.data["satisfaction"] == design.data["satisfaction"].max()
    print(f"{at_max.mean():.1%} of patients at the observed maximum; their mean residual "
          f"{residuals[at_max].mean():.2f} (positive: the model under-predicts them)")

# %% [markdown]
# ## Dropout over sessions (H2a, H2b): proportional hazards
# The time-varying Cox model assumes the alliance effect is constant over sessions. lifelines' test of
# the scaled Schoenfeld residuals does not handle delayed entry, so the check is made two ways: (1) in
# the discrete-time hazard model, an alliance x log(session) interaction (non-zero: the effect changes
# over time); (2) lifelines' test on the landmark Cox model of time after the early window on early
# alliance (one row per patient, no delayed entry).

# %%
risk = session_risk_design(run.features, run.sessions, covariates)
risk.data["log_session"] = np.log(risk.data["session"])
terms = "event ~ C(session_band) + alliance_prev_z:log_session + "
hazard = type(risk)(risk.outcome, risk.predictor, risk.data, risk.formula.replace("event ~ ", terms),
                    risk.covariates, risk.flow, [])
name = "alliance_prev_z:log_session"
try:
    interaction = fit_logit_glm(hazard)
    print(f"alliance x log(session): {interaction.params[name]:.3f} (SE {interaction.bse[name]:.3f}, "
          f"p = {interaction.pvalues[name]:.3f})")
except NotEstimable as why:  # e.g. no session at risk ended in dropout
    print(f"alliance x log(session): not estimable: {why.reason}")

landmark = run.features[~run.features["ended_in_window"] & run.features["alliance_early"].notna()
                        & run.features["dropout"].notna()]
frame = pd.DataFrame({"time": landmark["scheduled_after_window"].clip(lower=1),
                      "event": landmark["dropout"].astype(int),
                      "alliance_early_z": (landmark["alliance_early"] - landmark["alliance_early"].mean())
                      / landmark["alliance_early"].std()})
if frame["event"].nunique() < 2:  # no event, or only events: no hazard to model
    print("landmark Cox: not estimable: dropout after the early window takes a single value")
else:
    cox = CoxPHFitter().fit(frame, duration_col="time", event_col="event")
    test = proportional_hazard_test(cox, frame, time_transform="rank")
    print(f"landmark Cox log HR {cox.params_['alliance_early_z']:.3f}; Schoenfeld test "
          f"chi2 = {test.summary['test_statistic'].iloc[0]:.2f}, p = {test.summary['p'].iloc[0]:.3f} "
          f"({len(frame)} patients)")
