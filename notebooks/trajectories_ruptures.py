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
# # Alliance trajectories and ruptures
# How alliance develops over sessions, by discipline, and how often it breaks down (ruptures) and
# recovers (repairs), under the run's criterion and under the alternative one. Reads a finished run
# (`ALLIANCE_RESULTS` to choose the folder).

# %%
import pandas as pd

from alliance.features.ruptures import LARSSON_2018, detect_ruptures, pattern_shares, rupture_patterns
from alliance.ingest.privacy import suppress_counts
from alliance.report.figures import alliance_trajectories, trajectory_points
from alliance.runtime.results import load_results

run = load_results()
k = run.min_cell_size
print(f"{len(run.features)} patients; ruptures detected by the run: {int(run.ruptures['rupture'].sum())}")

# %% [markdown]
# Mean alliance by session and discipline (points resting on fewer than k patients are dropped).

# %%
points = trajectory_points(run.session_scores, run.features, k)
print(points.pivot(index="session", columns="discipline", values="mean").round(2).to_string())
figure = alliance_trajectories(run.session_scores, run.features, k)

# %% [markdown]
# Within-patient change: the mean slope of alliance over sessions, and the share of patients whose
# alliance grew.

# %%
slopes = run.features["alliance_slope"].dropna()
print(f"mean slope {slopes.mean():.3f} points per session; {(slopes > 0).mean():.0%} of "
      f"{len(slopes)} patients grew")

# %% [markdown]
# Rupture patterns under the run's criterion and under the reliable-change criterion, beside Larsson et
# al. (2018).

# %%
ids = run.features["patient_id"]
alpha = 0.9  # a typical reliability of the total; the run uses its own sample's alpha
criteria = {
    "run": run.ruptures,
    "reliable change": detect_ruptures(run.session_scores, criterion="reliable_change", c=2.0,
                                       reliability=alpha, repair_window=3),
}
table = pd.DataFrame({name: pattern_shares(rupture_patterns(r, ids)).set_index("pattern")["share"]
                      for name, r in criteria.items()})
table["Larsson 2018"] = pd.Series(LARSSON_2018)
print(table.round(3).to_string())
counts = pattern_shares(rupture_patterns(run.ruptures, ids)).set_index("pattern")["n"]
print(suppress_counts(counts, k).to_string())

# %% [markdown]
# Dropout by rupture pattern (descriptive: longer treatments have more chances of a rupture, so the
# analysis plan models ruptures as they happen, H2d).

# %%
by_pattern = run.features.groupby("rupture_pattern")["dropout"].agg(["size", "mean"])
by_pattern = by_pattern[by_pattern["size"] >= k]
print(by_pattern.rename(columns={"size": "patients", "mean": "dropout rate"}).round(3).to_string())
