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
# # Exploring the cohort
# Starts where the pipeline stopped: reads a finished run (`make run` first) through the `alliance`
# package. Set `ALLIANCE_RESULTS` to read another run's results folder. Counts below the run's minimum
# cell size are suppressed here as in the report.

# %%
from alliance.ingest.privacy import suppress_counts
from alliance.runtime.results import load_results

run = load_results()
features, sessions, effects = run.features, run.session_scores, run.effects
print(f"{len(features)} patients, {features['therapist_id'].nunique()} therapists, "
      f"{len(sessions)} scheduled sessions; minimum cell size {run.min_cell_size}")

# %% [markdown]
# Patients per discipline and per age band.

# %%
for column in ("discipline", "age_band"):
    print(suppress_counts(features[column].value_counts().sort_index(), run.min_cell_size).to_string(), "\n")

# %% [markdown]
# Early alliance among patients who dropped out and who completed (treatment past the early window).

# %%
past_window = features[~features["ended_in_window"]]
groups = past_window.groupby("dropout")["alliance_early"]
summary = groups.describe().round(2).drop(columns="count").astype(object)
summary.loc[groups.size() < run.min_cell_size, :] = "suppressed"  # statistics of too few patients
summary.insert(0, "patients", suppress_counts(groups.size(), run.min_cell_size))
print(summary.to_string())

# %% [markdown]
# Alliance at the ceiling: share of scored sessions at the scale maximum, per subscale.

# %%
scored = sessions[sessions["alliance_total"].notna()]
for column in ("alliance_task", "alliance_bond", "alliance_goal", "alliance_total"):
    print(f"{column:15s} at 5: {(scored[column] == 5).mean():.1%}")

# %% [markdown]
# Each meta-analytic benchmark beside the statistic computed in its own metric (ANALYSIS_PLAN.md, section
# 6): the dropout d of early alliance (completers minus dropouts) and the bivariate r of early alliance with
# symptom improvement. The effects' r below are adjusted, partial or latent: they are not compared with a
# benchmark. A d resting on fewer than the minimum cell size of dropouts or completers is withheld, as in
# the report.

# %%
for family in ("dropout", "symptoms"):
    compared = run.models.get(family, {}).get("extra", {}).get("benchmark")
    if not compared or compared.get("estimate") is None:
        print(f"{family}: no benchmark statistic in these data")
        continue
    dropouts = compared.get("n_dropouts")
    if dropouts is not None and min(dropouts, compared["n"] - dropouts) < run.min_cell_size:
        print(f"{family}: withheld (fewer than {run.min_cell_size} dropouts or completers)")
        continue
    print(f"{compared['metric']}: {compared['estimate']:.3f} [{compared['ci_low']:.3f}, "
          f"{compared['ci_high']:.3f}], {compared['verdict']} {compared['benchmark_value']} "
          f"({compared['source']})")

# %% [markdown]
# Every effect of the run as a correlation (adjusted, partial or latent: for orientation, not for a
# benchmark).

# %%
print(effects[["analysis", "outcome", "predictor", "estimate", "r", "r_ci_low", "r_ci_high"]]
      .round(3).to_string())
