"""Alliance ruptures and repairs between consecutive scored sessions, and the patients' patterns.

A rupture is a drop of the alliance total from one scored session to the next that passes a threshold:

- `"sd"`: at least `c` within-patient SDs (ddof = 1) of the patient's scored totals; patients with fewer
  than 3 scored sessions cannot have one. Stiles et al. (2004) used c = 2, Strauss et al. c = 1.
- `"reliable_change"`: at least 1.96 * SE_diff, SE_diff = SD * sqrt(2 * (1 - reliability)) with SD the
  SD of all scored session totals of the cohort (Jacobson & Truax 1991).

A rupture is repaired when the total returns to at least the pre-rupture value (the score at the scored
session before the drop) within the next `repair_window` scored sessions. Counts depend heavily on the
criterion: report it with them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.io import ConfigError
from alliance.scores import TOTAL, is_scored, patient_codes

CRITERIA = ("sd", "reliable_change")
PATTERNS = ("no_rupture", "rupture_without_repair", "rupture_with_repair", "not_classifiable")
MIN_SESSIONS = 3
RELIABLE_Z = 1.96
# Shares of rupture patterns over treatments, Larsson et al. (2018), N = 605.
LARSSON_2018 = {"no_rupture": 0.745, "rupture_without_repair": 0.107, "rupture_with_repair": 0.147}


def _threshold(
    totals: pd.Series, by: pd.Series, criterion: str, c: float, reliability: float | None
) -> pd.Series:
    """The drop that counts as a rupture, per scored session."""
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
    criterion: str = "sd",
    c: float = 2.0,
    reliability: float | None = None,
    repair_window: int = 3,
) -> pd.DataFrame:
    """One row per scored, attended session, sorted by patient_id and session.

    Columns: patient_id, session, alliance_total, `drop` (previous scored total minus this one, NaN at
    the first), `threshold`, `rupture` (a positive drop of at least the threshold), `repaired` (at a
    rupture: the total reaches the pre-rupture value within the next `repair_window` scored sessions;
    False elsewhere) and `repair_session` (the first session where it does). `c` is used by the "sd"
    criterion, `reliability` only by "reliable_change".
    """
    _validate(criterion, c, reliability, repair_window)
    keep = is_scored(session_scores)
    s = (session_scores.loc[keep, ["patient_id", "session", TOTAL]]
         .sort_values(["patient_id", "session"], kind="stable").reset_index(drop=True))
    by, _ = patient_codes(s["patient_id"])
    totals = s[TOTAL].astype(float)
    before = totals.groupby(by).shift(1)
    drop = before - totals
    threshold = _threshold(totals, by, criterion, c, reliability)
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
