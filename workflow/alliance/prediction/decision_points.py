"""One row per patient in treatment at each decision point, with what is known at that session only.

A patient is *in treatment at session k* when their last scheduled session is k or later (the sessions
table lists a patient's sessions up to the last one; numbered with gaps, 1, 2, 5, 9, a patient is in
treatment at 3 as well) and k is before the planned end (k < sessions_planned): they could still leave
early. The outcome is the patient's dropout (`outcomes.dropout`);
for a patient in treatment at k it happens after session k. The predictors use the sessions 1..k only:
the alliance total at the last scored session, the mean and the change (last minus first) of the scored
totals, their number, and whether a rupture was detected at any of them (the `prior_diff` criterion of
`alliance.features.ruptures` applied to the sessions 1..k of every patient: its flag at a session uses
the patient's own earlier sessions and the other patients' sessions up to k, never a later one).
Covariates are the plan's (`models.covariates`) and the sessions remaining to the planned end (planned
minus k), known from the treatment plan. A patient in treatment at k without a scored session by k has no
alliance predictors: the row is left out and counted in the flow table. A patient without a recorded
dropout outcome (no row in the outcomes table, which validation reports) is not a row: the models cannot
learn from them, as the dropout models of the plan leave them out; the clinic list (`latest_rows`) counts
them as still in treatment.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.features.ruptures import detect_ruptures
from alliance.scoring.scores import TOTAL, is_scored

# In their order of entry into the early-warning models (`alliance.prediction.early_warning.entered`):
# the mean first, the most reliable summary and the predictor of the plan's H2.
ALLIANCE_PREDICTORS = ("alliance_mean", "alliance_last", "alliance_change", "rupture_so_far",
                       "alliance_n_scored")
REMAINING = "sessions_remaining"
FLOW_COLUMNS = ["session", "in_treatment", "no_alliance_score", "at_risk", "dropped_out"]


def rupture_sessions(session_scores: pd.DataFrame, c: float, upto: int) -> pd.DataFrame:
    """The scored sessions up to session `upto` at which the `prior_diff` criterion (threshold `c`) flags
    a rupture (patient_id, session), from the sessions 1..`upto` of every patient alone: the patient's
    own part of the threshold uses their earlier sessions only, and the pooled part the other patients'
    differences up to `upto` (on the whole table it would use their later sessions too)."""
    flagged = detect_ruptures(session_scores[session_scores["session"] <= upto], "prior_diff", c)
    return flagged.loc[flagged["rupture"].astype(bool), ["patient_id", "session"]]


def decision_rows(session_scores: pd.DataFrame, patients: pd.DataFrame, points: list[int],
                  covariates: list[str], rupture_c: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows of every decision point k in `points` and the flow table.

    Parameters
    ----------
    session_scores
        One row per scheduled session (patient_id, session, attended, alliance_total).
    patients
        One row per patient: patient_id, therapist_id, sessions_planned, dropout (bool), site when
        present and the `covariates` (any other column, such as a whole-treatment feature, is not used).
    rupture_c
        The threshold c of the `prior_diff` rupture criterion (config ruptures.c).

    Returns
    -------
    rows, flow
        `rows`: session (k), patient_id, therapist_id, site, dropout (0/1), the `ALLIANCE_PREDICTORS`,
        `sessions_remaining` and the covariates; `flow`: per k, the patients in treatment, those without
        an alliance score by k (left out), those at risk (analysed) and those of them who dropped out.
    """
    keys = ["patient_id", "session"]
    extra = [c for c in dict.fromkeys(("site", *covariates)) if c in patients.columns
             and c not in ("patient_id", "therapist_id", "sessions_planned", "dropout")]
    patients = patients.loc[patients["dropout"].notna(),
                            ["patient_id", "therapist_id", *extra, "sessions_planned", "dropout"]]
    scheduled = (session_scores.groupby("patient_id", sort=True)["session"].max().rename("last_session")
                 .reset_index().merge(patients[["patient_id", "sessions_planned"]], on="patient_id"))
    scored = session_scores.loc[is_scored(session_scores), [*keys, TOTAL]].sort_values(keys, kind="stable")
    rows, flow = [], []
    for k in points:
        present = scheduled.loc[(scheduled["last_session"] >= k) & (k < scheduled["sessions_planned"]),
                                "patient_id"]
        upto = scored[(scored["session"] <= k) & scored["patient_id"].isin(present)]
        by = upto.groupby("patient_id", sort=True)[TOTAL]
        first, last = by.first(), by.last()
        alliance = pd.DataFrame({"alliance_last": last, "alliance_mean": by.mean(),
                                 "alliance_change": last - first,
                                 "alliance_n_scored": by.size().astype(float)})
        ruptured = rupture_sessions(session_scores, rupture_c, k)["patient_id"]
        alliance["rupture_so_far"] = alliance.index.isin(ruptured).astype(float)
        at_k = (patients.merge(alliance.rename_axis("patient_id").reset_index(), on="patient_id")
                .sort_values("patient_id", kind="stable"))
        at_k = at_k.assign(session=k, dropout=at_k["dropout"].astype(int),
                           sessions_remaining=(at_k["sessions_planned"] - k).astype(float))
        rows.append(at_k)
        flow.append({"session": k, "in_treatment": len(present),
                     "no_alliance_score": len(present) - len(at_k), "at_risk": len(at_k),
                     "dropped_out": int(at_k["dropout"].sum())})
    columns = ["session", "patient_id", "therapist_id", *extra, "dropout", *ALLIANCE_PREDICTORS, REMAINING]
    table = pd.concat(rows, ignore_index=True)[columns] if rows else pd.DataFrame(columns=columns)
    return table, pd.DataFrame(flow, columns=FLOW_COLUMNS)


def suppressed_flow(flow: pd.DataFrame, min_cell_size: int) -> pd.DataFrame:
    """The flow table as written, with `stayed` (the analysed who did not drop out): a count of 1 to
    `min_cell_size` - 1 patients is left empty (0 is kept: it identifies no one), and so is the count in
    treatment where one of its two parts (without an alliance score, analysed) is, and the dropouts and
    the stayed where either is (the analysed minus one would give the other away), `fewer_than_k` naming
    the one that is small; `suppressed` says whether any count of the row was."""
    out = flow.copy()
    out["stayed"] = out["at_risk"] - out["dropped_out"]
    counts = out.columns.drop("session")
    small = (out[counts] > 0) & (out[counts] < min_cell_size)
    small["in_treatment"] |= small["no_alliance_score"] ^ small["at_risk"]  # secondary suppression
    # which of the two is the small group, as a sentence says it ("fewer than 10" or "more than 184")
    out["fewer_than_k"] = np.select([small["dropped_out"], small["stayed"]], ["dropped_out", "stayed"], "")
    small["dropped_out"] |= small["stayed"]  # 191 of 194 analysed told that 3 stayed
    small["stayed"] |= small["dropped_out"]  # and 56 of 60 that 4 dropped out
    out[counts] = out[counts].astype("Int64").mask(small)
    out["suppressed"] = small.any(axis=1)
    return out


def latest_rows(session_scores: pd.DataFrame, patients: pd.DataFrame, points: list[int],
                covariates: list[str], rupture_c: float) -> pd.DataFrame:
    """For each patient still in treatment (not recorded as dropped out, latest scheduled session at or
    after the first decision point and before the planned end): the predictors at their latest session
    (`latest_session`), with `session` the latest decision point at or before it, whose model gives the
    risk. A patient without a recorded outcome is still in treatment (their `dropout` is read as false:
    only the predictors are used)."""
    latest = session_scores.groupby("patient_id")["session"].max().rename("latest_session")
    ongoing = patients.merge(latest, left_on="patient_id", right_index=True)
    ongoing = ongoing.assign(dropout=ongoing["dropout"].fillna(False).astype(bool))
    ongoing = ongoing[~ongoing["dropout"]
                      & (ongoing["latest_session"] < ongoing["sessions_planned"])
                      & (ongoing["latest_session"] >= min(points))]
    rows = []
    for session, group in ongoing.groupby("latest_session"):
        # the ruptures' pooled part from every patient's sessions up to this one, as at a decision point
        table, _ = decision_rows(session_scores, group.drop(columns="latest_session"), [int(session)],
                                 covariates, rupture_c)
        rows.append(table.assign(latest_session=int(session)))
    if not rows:
        return pd.DataFrame(columns=["latest_session", "session", "patient_id", "therapist_id"])
    out = pd.concat(rows, ignore_index=True)
    point = np.array(sorted(points))
    return out.assign(session=point[np.searchsorted(point, out["latest_session"], side="right") - 1])
