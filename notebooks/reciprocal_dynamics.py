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
# # Which comes first: refitting the RI-CLPM (H4c)
# The run fitted the random-intercept cross-lagged panel model of alliance and symptoms over T waves from
# the first session with both scores (every session, or every k-th where the questionnaires are given so)
# with the lagged effects equal across waves (ANALYSIS_PLAN.md, H4c). Here an analyst refits it
# with another T or with effects free per session, from a finished run's session features, with the
# package's own estimator (`alliance.stats.riclpm.fit_riclpm`: full-information ML, therapist-cluster-robust
# CIs). `ALLIANCE_RESULTS` chooses the results folder. Each fit takes about a second at 400 patients and
# four sessions; more sessions cost more (the parameters grow with T squared).

# %%
import pandas as pd

from alliance.errors import NotEstimable
from alliance.models.dynamics import wave_sessions
from alliance.runtime.results import load_results
from alliance.stats.riclpm import fit_riclpm, wide_from_long

run = load_results()
attended = run.sessions[run.sessions["attended"].astype(bool)]
dynamics = run.models.get("dynamics", {})
first, step, used = (dynamics.get(key) for key in ("first_session", "session_step", "waves"))
if used:
    sessions = ", ".join(map(str, wave_sessions(first, step, used)))
    print(f"{attended['patient_id'].nunique()} patients; the run's H4c used sessions {sessions}")
else:
    print(f"{attended['patient_id'].nunique()} patients; the run had no H4c waves")
first, step = first or 1, step or 1

# %% [markdown]
# The panel: one row per patient, alliance totals `x1..xT` and symptom scores `y1..yT` (missing where a
# session was missed or not scored; full-information ML uses every score a patient has).

# %%
def panel(waves: int) -> tuple[pd.DataFrame, pd.Series]:
    """T = `waves` waves from the run's first session, as many sessions apart as the run's."""
    wide = wide_from_long(attended, patient="patient_id", session="session", x="alliance_total",
                          y="symptoms", waves=waves, first=first, step=step)
    therapists = run.features.set_index("patient_id")["therapist_id"].reindex(wide.index)
    return wide, therapists


def lagged(fit: dict) -> pd.DataFrame:
    """The lagged effects (a: alliance -> alliance, b: symptoms -> alliance, c: symptoms -> symptoms,
    d: alliance -> symptoms), one row per effect and, when free, per session."""
    table = pd.DataFrame(fit["lagged"])
    return table[["effect", "wave", "estimate", "se_cluster", "ci_low", "ci_high"]].round(3)


def refit(wide: pd.DataFrame, waves: int, **options) -> dict | None:
    """`fit_riclpm` on the panel, or None after saying why where these data cannot support it (too few
    therapists for cluster-robust SEs, too few patients, no convergence)."""
    try:
        return fit_riclpm(wide, waves, clusters=therapists.to_numpy(), **options)
    except NotEstimable as why:
        print(f"RI-CLPM ({waves} waves): not estimable: {why.reason}")
        return None


wide, therapists = panel(4)
equal = refit(wide, 4, constrained=True)
if equal is not None:
    print(f"n = {equal['n']}, chi2({equal['df']}) = {equal['chisq']:.2f}, CFI {equal['cfi']:.3f}")
    print(lagged(equal).to_string(index=False))

# %% [markdown]
# The same sessions with the lagged effects free per session: does the effect of the alliance on the next
# symptoms change over treatment? Compare the fit (a chi-square difference test of the equality
# constraints) and the per-session estimates.

# %%
free = refit(wide, 4, constrained=False) if equal is not None else None
if free is not None:
    difference = equal["chisq"] - free["chisq"]
    print(f"equality constraints: chi2({equal['df'] - free['df']}) = {difference:.2f}")
    print(lagged(free).to_string(index=False))

# %% [markdown]
# To try another T, call `panel(T)` and refit; `fit_riclpm(..., random_intercepts=False)` gives the
# traditional cross-lagged panel model, which mixes the patients' stable differences into the lagged
# effects (Hamaker et al. 2015) and is shown here only for comparison.
