"""The report's cohort and alliance sections: the analysis flow, the inputs and the scores."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alliance.ingest.privacy import SECONDARY, suppress_counts
from alliance.instruments import load_instrument
from alliance.models.satisfaction import CEILING_SHARE
from alliance.report.format import (
    count_with_share,
    format_count,
    format_number,
    format_percent,
)
from alliance.report.words import HYPOTHESES, shown_count
from alliance.scoring.scores import ALLIANCE_PREFIX, TOTAL, score_descriptives


def flow_steps(flow: list[dict], min_cell_size: int) -> list[tuple[str, str]]:
    """A family's flow with small counts suppressed: the exclusion counts of each model as one table (with
    secondary suppression, since they sum to its cohort minus its analysed), the other steps one by one."""
    groups: dict[str, list[int]] = {}  # one table per model of the flow: the text before "excluded"
    for i, step in enumerate(flow):
        if "excluded" in step["step"]:
            groups.setdefault(step["step"].split("excluded")[0], []).append(i)
    shown = {}
    for rows in groups.values():
        hidden = suppress_counts(pd.Series([flow[i]["n"] for i in rows], dtype="int64"), min_cell_size)
        shown |= dict(zip(rows, hidden, strict=True))
    return [(step["step"], shown.get(i, shown_count(step["n"], min_cell_size)))
            for i, step in enumerate(flow)]


def cohort_section(
    session_scores: pd.DataFrame, features: pd.DataFrame, model_results: list[dict], *, scoring: dict,
    min_cell_size: int,
) -> dict:
    """Cohort flow, per-model exclusions, missing data and suppressed counts by discipline and site."""
    n_patients = len(features)
    attended = int(session_scores["attended"].sum())
    dropout_known = features["dropout"].notna()
    overview = [
        ("Patients", format_count(n_patients)),
        ("Therapists", format_count(features["therapist_id"].nunique())),
        ("Sites", format_count(features["site"].nunique())),
        ("Sessions scheduled", format_count(len(session_scores))),
        ("Sessions attended", count_with_share(attended, len(session_scores))),
        ("Dropouts (of patients with a recorded outcome)",
         shown_count(int(features.loc[dropout_known, "dropout"].astype(bool).sum()), min_cell_size,
                     int(dropout_known.sum()))),
        ("Dropout not recorded", shown_count(int((~dropout_known).sum()), min_cell_size)),
    ]
    groups = []
    for column, title in (("discipline", "Patients by discipline"), ("site", "Patients by site")):
        counts = features[column].astype("string").fillna("(missing)").value_counts().sort_index()
        shown = suppress_counts(counts, min_cell_size, total_shown=True)
        groups.append({"title": title, "rows": list(zip(shown.index, shown, strict=True)),
                       "total": format_count(n_patients)})
    flows = [{"family": result["family"], "hypothesis": HYPOTHESES.get(result["family"], ""),
              "steps": flow_steps(result["flow"], min_cell_size)}
             for result in model_results]
    sessions, patients = scoring["alliance"], scoring["satisfaction"]
    counts = [
        ("Attended sessions with an alliance questionnaire", sessions["sessions_with_answers"],
         sessions["sessions_attended"]),
        ("Attended sessions scored", sessions["sessions_scored"], sessions["sessions_attended"]),
        ("Scored sessions prorated (items missing)", sessions["sessions_prorated"],
         sessions["sessions_scored"]),
        ("Questionnaires unscorable (too many items missing)", sessions["sessions_unscorable"], None),
        ("Answers on missed sessions (ignored)", sessions["answers_on_missed_sessions_ignored"], None),
        ("Satisfaction scored from items", patients["scored_from_items"], patients["patients"]),
        ("Satisfaction pre-scored", patients["pre_scored"], None),
        ("Satisfaction prorated", patients["prorated"], None),
        ("Satisfaction missing", patients["missing"], patients["patients"]),
    ]
    missing = [(label, shown_count(n, min_cell_size, of)) for label, n, of in counts]
    return {"overview": overview, "groups": groups, "flows": flows, "missing": missing,
            "rule": f"Counts of 1 to {min_cell_size - 1} patients are shown as \"<{min_cell_size}\"; when a "
                    "single count of a table is suppressed, the next smallest count is also hidden "
                    f"(\"{SECONDARY}\") so that it cannot be recovered from the total. The same rule "
                    "applies to the exclusion counts of each model's flow (which sum to the cohort minus "
                    "the analysed) and to every other count of patients or sessions in this report."}


def input_tables(validation: dict) -> list[dict]:
    """Each input table: file name, rows, columns ignored (outside the contract) and optional ones absent."""
    return [{"table": table, "file": Path(info["file"]).name, "rows": format_count(info["rows"]),
             "ignored": ", ".join(info["ignored_columns"]) or "none",
             "absent": ", ".join(info["absent_optional_columns"]) or "none"}
            for table, info in validation["tables"].items()]


def alliance_section(session_scores: pd.DataFrame, scoring: dict, config: dict) -> dict:
    """Instrument, item keys per subscale and descriptives per subscale over scored sessions."""
    instrument = load_instrument(config["instruments"]["alliance"])
    described = score_descriptives(session_scores, instrument)
    rows = [{"score": score.removeprefix(ALLIANCE_PREFIX), "n": format_count(d["n"]),
             "mean": format_number(d["mean"]), "sd": format_number(d["sd"]),
             "ceiling": format_percent(d["ceiling_share"]), "skew": format_number(d["skew"])}
            for score, d in described.iterrows()]
    ceiling = described["ceiling_share"]
    return {
        "ceiling_effect": bool((ceiling > CEILING_SHARE).any()),
        "name": scoring["alliance"]["name"], "citation": scoring["alliance"]["citation"],
        "subscales": [(name, ", ".join(str(i) for i in items))
                      for name, items in scoring["alliance"]["subscales"].items()],
        "range": f"{format_number(instrument.minimum, 0)} to {format_number(instrument.maximum, 0)}",
        "descriptives": rows,
        "ceiling_text": f"{format_percent(ceiling.drop(TOTAL).min())} to "
                        f"{format_percent(ceiling.drop(TOTAL).max())} of scored sessions on a subscale "
                        f"and {format_percent(ceiling[TOTAL])} on the total",
    }
