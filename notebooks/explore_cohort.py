# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Exploring the cohort
# Starts where the pipeline stopped: reads `results/` (run `make run` first) through the `alliance`
# package. Set `ALLIANCE_RESULTS` to read another run's results folder.

# %%
import os
from pathlib import Path

import pandas as pd

from alliance.models.effects import BENCHMARKS
from alliance.privacy import suppress_counts

RESULTS = Path(os.environ.get("ALLIANCE_RESULTS", "results"))
MIN_CELL_SIZE = 10
features = pd.read_parquet(RESULTS / "features/patients.parquet")
sessions = pd.read_parquet(RESULTS / "scores/session_scores.parquet")
effects = pd.read_csv(RESULTS / "effects.csv")
print(f"{len(features)} patients, {features['therapist_id'].nunique()} therapists, "
      f"{len(sessions)} scheduled sessions")

# %% [markdown]
# Patients per discipline (counts under the minimum cell size are suppressed).

# %%
print(suppress_counts(features["discipline"].value_counts().sort_index(), MIN_CELL_SIZE))

# %% [markdown]
# Early alliance among patients who dropped out and who completed (treatment past the early window).

# %%
past_window = features[~features["ended_in_window"]]
print(past_window.groupby("dropout")["alliance_early"].describe().round(2))

# %% [markdown]
# The primary effects as correlations beside the meta-analytic benchmark.

# %%
benchmark = BENCHMARKS["alliance_outcome"]
print(f"Benchmark r = {benchmark['r']:.3f} [{benchmark['ci_low']:.3f}, {benchmark['ci_high']:.3f}]")
print(effects[["outcome", "predictor", "estimate", "r", "r_ci_low", "r_ci_high"]].round(3))
