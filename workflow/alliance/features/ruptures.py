"""Alliance ruptures and repairs between consecutive scored sessions, and the patients' patterns.

A rupture is a drop of the alliance total from one scored session to the next that passes a threshold:

- `"prior_diff"` (default): at least `c` times the larger of (i) the SD (ddof = 1) of the patient's own
  earlier session-to-session differences, once there are at least `MIN_PRIOR_DIFFERENCES` of them, and
  (ii) the pooled SD of all other patients' session-to-session differences, detrended by removing
  their mean (the cohort's average change per scored session). Combining intra- and interindividual
  variability and taking the stricter follows Gumz et al. (2012); the pooled part protects patients with
  few earlier sessions. Only sessions before the drop enter the patient's own part and the patient never
  enters the pooled part, so a flag at a session does not depend on the patient's later sessions (no
  look-ahead; the pooled part is a cohort constant from the other patients' series). A part that cannot
  be computed is left out; without either, no rupture. Validated against the synthetic generator's
  planted ruptures with `score_detection` (c = 2: under 10% of rupture-free patients flagged).
- `"sd"`: at least `c` within-patient SDs (ddof = 1) of the patient's scored totals; patients with fewer
  than 3 scored sessions cannot have one. Stiles et al. (2004) used c = 2, Strauss et al. c = 1. The SD
  uses all of the patient's sessions, later ones included (look-ahead): kept for comparison with those
  studies, not for models that must use only earlier sessions.
- `"reliable_change"`: at least 1.96 * SE_diff, SE_diff = SD * sqrt(2 * (1 - reliability)) with SD the
  SD of all scored session totals of the cohort (Jacobson & Truax 1991).

A rupture is repaired when the total returns to at least the pre-rupture value (the score at the scored
session before the drop) within the next `repair_window` scored sessions. Counts depend heavily on the
criterion: report it with them. `score_detection` compares detected ruptures with planted ones.

References
----------
Gumz, A., Braehler, E., Geyer, M. & Erices, R. (2012). Crisis-repair sequences - considerations on the
classification and assessment of breaches in the therapeutic relationship. BMC Medical Research
Methodology, 12, 10. doi:10.1186/1471-2288-12-10
Jacobson, N. S. & Truax, P. (1991). Clinical significance: a statistical approach to defining meaningful
change in psychotherapy research. Journal of Consulting and Clinical Psychology, 59, 12-19.
Stiles, W. B. et al. (2004). Patterns of alliance development and the rupture-repair hypothesis: are
productive relationships U-shaped or V-shaped? Journal of Counseling Psychology, 51, 81-92.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.errors import ConfigError
from alliance.scoring.scores import TOTAL, is_scored, patient_codes

CRITERIA = ("prior_diff", "sd", "reliable_change")
PATTERNS = ("no_rupture", "rupture_without_repair", "rupture_with_repair", "not_classifiable")
MIN_SESSIONS = 3
# Earlier differences before the patient's own SD enters the prior_diff threshold (fewer: pooled SD only).
# 5 gives that SD 4 df; on the synthetic cohort (c = 2, 20 seeds) 3 instead moves sensitivity from .335 to
# .312 and the false-positive rate from .056 to .049, about the same trade-off.
MIN_PRIOR_DIFFERENCES = 5
RELIABLE_Z = 1.96
# Shares of rupture patterns over treatments, Larsson et al. (2018), N = 605.
LARSSON_2018 = {"no_rupture": 0.745, "rupture_without_repair": 0.107, "rupture_with_repair": 0.147}


def _earlier_sd(diff: pd.Series, by: pd.Series) -> pd.Series:
    """Per row: SD (ddof = 1) of the patient's differences at earlier rows, NaN with fewer than
    `MIN_PRIOR_DIFFERENCES` of them. Sums run over earlier rows only (prefix sums shifted by one row)."""
    seen = diff.notna().astype(float)
    x = diff.fillna(0.0)
    n, s1, s2 = ((v.groupby(by).cumsum().groupby(by).shift(1, fill_value=0.0)) for v in (seen, x, x * x))
    var = ((s2 - s1 * s1 / n) / (n - 1)).clip(lower=0.0)
    return np.sqrt(var).where(n >= MIN_PRIOR_DIFFERENCES)


def _pooled_sd_of_others(diff: pd.Series, by: pd.Series) -> pd.Series:
    """Per row: SD (ddof = 1) of the differences of all *other* patients around their mean (the cohort's
    mean change from one scored session to the next, removed as its trend). Their sums come from prefix
    and suffix sums over patients, so no value of the row's own patient enters them. NaN with fewer than
    two such differences."""
    sums = pd.DataFrame({"n": diff.notna().astype(float), "s1": diff.fillna(0.0)})
    sums["s2"] = sums["s1"] ** 2
    per_patient = sums.groupby(by).sum().to_numpy()
    before = np.vstack([np.zeros((1, 3)), np.cumsum(per_patient, axis=0)[:-1]])
    after = np.vstack([np.cumsum(per_patient[::-1], axis=0)[::-1][1:], np.zeros((1, 3))])
    n, s1, s2 = (before + after).T
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.clip(s2 - s1 * s1 / n, 0.0, None) / (n - 1))
    return pd.Series(np.where(n >= 2, sd, np.nan)[by.to_numpy()], index=diff.index)


def _threshold(
    totals: pd.Series, drop: pd.Series, by: pd.Series, criterion: str, c: float, reliability: float | None
) -> pd.Series:
    """The drop that counts as a rupture, per scored session (`drop`: previous scored total minus this)."""
    if criterion == "prior_diff":
        return c * np.fmax(_earlier_sd(drop, by), _pooled_sd_of_others(drop, by))
    if criterion == "sd":
        grouped = totals.groupby(by)
        n = grouped.transform("size")
        return (c * grouped.transform("std")).where(n >= MIN_SESSIONS)
    se_diff = totals.std() * np.sqrt(2 * (1 - reliability))
    return pd.Series(RELIABLE_Z * se_diff, index=totals.index)


def _validate(criterion: str, c: float, reliability: float | None, repair_window: int) -> None:
    if criterion not in CRITERIA:
        raise ConfigError(f"ruptures.criterion must be one of {CRITERIA}, not {criterion!r}")
    if not c > 0:
        raise ConfigError(f"ruptures.c must be > 0, not {c}")
    if repair_window < 1:
        raise ConfigError(f"ruptures.repair_window must be >= 1 scored session, not {repair_window}")
    if criterion == "reliable_change":
        if reliability is None:
            raise ConfigError("the reliable_change criterion needs ruptures.reliability (e.g. the "
                              "instrument's alpha in this sample); it is not set")
        if not 0 <= reliability < 1:
            raise ConfigError(f"reliability must lie in [0, 1), not {reliability}")


def detect_ruptures(
    session_scores: pd.DataFrame,
    criterion: str = "prior_diff",
    c: float = 2.0,
    *,
    reliability: float | None = None,
    repair_window: int = 3,
) -> pd.DataFrame:
    """One row per scored, attended session, sorted by patient_id and session.

    Columns: patient_id, session, alliance_total, `drop` (previous scored total minus this one, NaN at
    the first), `threshold`, `rupture` (a positive drop of at least the threshold), `repaired` (at a
    rupture: the total reaches the pre-rupture value within the next `repair_window` scored sessions;
    False elsewhere) and `repair_session` (the first session where it does). `c` is used by "prior_diff"
    and "sd", `reliability` only by "reliable_change" (see the module docstring for the criteria).
    """
    _validate(criterion, c, reliability, repair_window)
    keep = is_scored(session_scores)
    s = (session_scores.loc[keep, ["patient_id", "session", TOTAL]]
         .sort_values(["patient_id", "session"], kind="stable").reset_index(drop=True))
    by, _ = patient_codes(s["patient_id"])
    totals = s[TOTAL].astype(float)
    before = totals.groupby(by).shift(1)
    drop = before - totals
    threshold = _threshold(totals, drop, by, criterion, c, reliability)
    rupture = (drop > 0) & (drop >= threshold)
    offsets = range(1, repair_window + 1)
    later = np.column_stack([totals.groupby(by).shift(-k).to_numpy() for k in offsets])
    later_session = np.column_stack([s["session"].groupby(by).shift(-k).to_numpy() for k in offsets])
    reached = later >= before.to_numpy()[:, None]  # NaN (no such session) compares False
    repaired = rupture.to_numpy() & reached.any(axis=1)
    first = later_session[np.arange(len(s)), reached.argmax(axis=1)]
    return s.assign(
        drop=drop,
        threshold=threshold,
        rupture=rupture,
        repaired=repaired,
        repair_session=pd.Series(np.where(repaired, first, np.nan)).astype("Int64"),
    )


def score_detection(ruptures: pd.DataFrame, planted: pd.DataFrame) -> dict[str, int | float]:
    """Detected ruptures against planted ones (validation on synthetic data).

    Parameters
    ----------
    ruptures
        Output of `detect_ruptures`.
    planted
        Planted ruptures, one row each: patient_id, session (the fourth table of
        `alliance.simulation.synthetic.generate_cohort`; truth.json, planted_ruptures.sessions).

    Returns
    -------
    dict
        A planted rupture at session s is *observable* when the patient's first scored session at or after
        s (its target; s itself when scored) follows an earlier scored session. `sensitivity`: share of
        the observable ones flagged at their target (`n_observable`, `n_planted` all). `specificity`: share
        of the assessed drops (rows with a `drop`) that are no planted rupture's target and are not
        flagged. `false_positive_rate`: share of the `n_rupture_free` patients (at least one assessed
        drop, no planted rupture) with any flag; 1 minus it is the specificity over patients.
    """
    ids = {"patient_id": str}
    assessed = ruptures[ruptures["drop"].notna()].astype(ids)
    pairs = planted[["patient_id", "session"]].astype(ids).reset_index(drop=True).rename_axis("planted")
    pairs = pairs.reset_index().merge(ruptures[["patient_id", "session", "drop", "rupture"]].astype(ids),
                                      on="patient_id", suffixes=("", "_scored"))
    later = pairs[pairs["session_scored"] >= pairs["session"]]
    targets = later.loc[later.groupby("planted")["session_scored"].idxmin()]
    observable = targets[targets["drop"].notna()]
    hit = set(zip(observable["patient_id"], observable["session_scored"], strict=True))
    keys = zip(assessed["patient_id"], assessed["session"], strict=True)
    negative = assessed[[key not in hit for key in keys]]
    free = assessed[~assessed["patient_id"].isin(planted["patient_id"].astype(str))]
    flagged_free = free.groupby("patient_id")["rupture"].any()
    return {
        "n_planted": len(planted),
        "n_observable": len(observable),
        "sensitivity": float(observable["rupture"].astype(bool).mean()),
        "specificity": float(1 - negative["rupture"].mean()),
        "n_rupture_free": len(flagged_free),
        "false_positive_rate": float(flagged_free.mean()),
    }


def rupture_patterns(ruptures: pd.DataFrame, patients: pd.Series) -> pd.DataFrame:
    """One row per patient in `patients`: patient_id, n_ruptures, n_repaired, pattern.

    A patient with a repaired rupture is "rupture_with_repair", with ruptures none of which was repaired
    "rupture_without_repair" (Larsson et al. 2018); without a rupture "no_rupture" given at least 3 scored
    sessions (the rows of `ruptures`), "not_classifiable" otherwise.
    """
    counts = ruptures.groupby("patient_id").agg(
        n_scored=("rupture", "size"), n_ruptures=("rupture", "sum"), n_repaired=("repaired", "sum"))
    out = (pd.DataFrame({"patient_id": patients.to_numpy()})
           .merge(counts, left_on="patient_id", right_index=True, how="left"))
    out[["n_scored", "n_ruptures", "n_repaired"]] = (
        out[["n_scored", "n_ruptures", "n_repaired"]].fillna(0).astype("int64"))
    out["pattern"] = np.select(
        [out["n_repaired"] > 0, out["n_ruptures"] > 0, out["n_scored"] >= MIN_SESSIONS],
        ["rupture_with_repair", "rupture_without_repair", "no_rupture"], default="not_classifiable")
    return out[["patient_id", "n_ruptures", "n_repaired", "pattern"]]


def pattern_shares(patterns: pd.DataFrame) -> pd.DataFrame:
    """Per pattern: n, share over the classifiable patients and the Larsson et al. (2018) share.

    The "not_classifiable" row has its count only (share and reference missing).
    """
    n = patterns["pattern"].value_counts().reindex(list(PATTERNS), fill_value=0)
    classifiable = n.drop("not_classifiable").sum()
    share = (n / classifiable if classifiable else n * np.nan).where(n.index != "not_classifiable")
    return pd.DataFrame({
        "pattern": list(PATTERNS),
        "n": n.to_numpy(dtype="int64"),
        "share": share.to_numpy(dtype=float),
        "larsson_2018": [LARSSON_2018.get(p, np.nan) for p in PATTERNS],
    })
