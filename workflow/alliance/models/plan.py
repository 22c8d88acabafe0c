"""Every model of the analysis plan (ANALYSIS_PLAN.md, section 5), by key, and the status table of a run.

Each family's fit records a status per key (`ModelResult.statuses`, set where the fit happens);
`status_table` joins them with this list, so `results/models/status.csv` has one row per planned model,
fitted or not, and `effect_status` finds the status of an effect row (by outcome, model and analysis).
A row's `reason` is the English of its reason; `reason_message` the same as data (the JSON text of an
`alliance.i18n.Message`, empty without a reason), from which the report writes it in its language; so are
its `flags` and `flags_message`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from alliance.i18n import N_, message_text
from alliance.models import (
    adherence,
    dimension_sem,
    dimensions,
    dropout,
    dynamics,
    satisfaction,
    survival,
    symptoms,
)

STATUS_COLUMNS = ["key", "hypothesis", "family", "analysis", "outcome", "model", "title", "status", "reason",
                  "flags", "reason_message", "flags_message"]
KM_MODEL = "kaplan_meier_logrank"


@dataclass(frozen=True)
class Planned:
    """One model of the analysis plan: its key, hypothesis, family, role, outcome, model and title."""

    key: str
    hypothesis: str
    family: str
    analysis: str
    outcome: str
    model: str
    title: str
    predictors: tuple[str, ...] = ()  # the predictors of its effect rows (none for a test)


def _levels(hypothesis: str, family: str, outcome: str, model: str, predictor: str) -> list[Planned]:
    return [Planned(f"{hypothesis}-split", hypothesis, family, "secondary", outcome, model,
                    N_("therapist-level and patient-level alliance (split)"),
                    (f"{predictor}_therapist", f"{predictor}_patient")),
            Planned(f"{hypothesis}-moderation", hypothesis, family, "exploratory", outcome, model,
                    N_("alliance slope by discipline (moderation)"))]


SESSION_PARTS = ("alliance_prev_within", "alliance_between")


def _dimensions(outcome: str, spec: dimensions.Outcome) -> list[Planned]:
    """H5 (exploratory) for one outcome: each dimension alone, the three jointly, their relative
    importance, the latent dimensions."""
    titles = {"H5a": N_("each alliance dimension alone (bond, goal, task)"),
              "H5b": N_("the three alliance dimensions jointly"),
              "H5c": N_("relative importance of the three alliance dimensions"),
              "H5d": N_("the three alliance dimensions as latent variables")}
    models = {"H5c": dimensions.DOMINANCE_MODEL, "H5d": dimension_sem.MODEL}
    return [Planned(f"{part}-{outcome}", "H5", dimensions.FAMILY, "exploratory", outcome,
                    models.get(part, spec.spec.model), title)
            for part, title in titles.items()]


PLANNED: list[Planned] = [
    Planned("H1", "H1", "adherence", "primary", "attendance", adherence.MODEL,
            N_("attendance after the early window on early alliance"), ("alliance_early",)),
    Planned("H1-gee", "H1", "adherence", "sensitivity", "attendance", adherence.GEE_MODEL,
            N_("GEE check of the primary attendance model"), ("alliance_early",)),
    *_levels("H1", "adherence", "attendance", adherence.MODEL, "alliance_early"),
    Planned("H1a", "H1a", "adherence", "secondary", "session attendance", adherence.SESSION_MODEL,
            N_("attending each session on the previous alliance (within and between patients)"),
            SESSION_PARTS),
    Planned("H1b", "H1b", "adherence", "secondary", "home practice", adherence.HOME_MODEL,
            N_("home practice on the previous alliance (within and between patients)"), SESSION_PARTS),
    Planned("H2", "H2", "dropout", "primary", "dropout", dropout.MODEL,
            N_("dropout after the early window on early alliance"), ("alliance_early",)),
    *_levels("H2", "dropout", "dropout", dropout.MODEL, "alliance_early"),
    Planned("H2a", "H2a", "dropout", "secondary", "dropout", survival.DISCRETE_MODEL,
            N_("discrete-time hazard of dropout on the previous alliance"), ("alliance_prev",)),
    Planned("H2a-split", "H2a", "dropout", "secondary", "dropout", survival.DISCRETE_SPLIT_MODEL,
            N_("discrete-time hazard of dropout on the previous alliance (within and between patients, no "
               "look-ahead)"), survival.SPLIT_PARTS),
    Planned("H2b", "H2b", "dropout", "secondary", "dropout", survival.COX_MODEL,
            N_("Cox model of dropout with time-varying alliance"), ("alliance_prev",)),
    Planned("H2b-split", "H2b", "dropout", "secondary", "dropout", survival.COX_SPLIT_MODEL,
            N_("Cox model of dropout with time-varying alliance (within and between patients, no "
               "look-ahead)"),
            survival.SPLIT_PARTS),
    Planned("H2c", "H2c", "dropout", "exploratory", "dropout", KM_MODEL,
            N_("retention by early-alliance tertile (Kaplan-Meier, log-rank)")),
    Planned("H2d", "H2d", "dropout", "exploratory", "dropout", survival.RUPTURE_MODEL,
            N_("dropout hazard after a rupture"), ("rupture_before",)),
    Planned("H3", "H3", "satisfaction", "primary", "satisfaction", satisfaction.MODEL,
            N_("satisfaction on mean alliance"), ("alliance_mean",)),
    Planned("H3-ordinal", "H3", "satisfaction", "sensitivity", "satisfaction", satisfaction.ORDINAL_MODEL,
            N_("proportional-odds model of satisfaction (ceiling)"), ("alliance_mean",)),
    *_levels("H3", "satisfaction", "satisfaction", satisfaction.MODEL, "alliance_mean"),
    Planned("H4", "H4", "symptoms", "secondary", "symptom_improvement", symptoms.PATIENT_MODEL,
            N_("symptom improvement on early alliance"), ("alliance_early",)),
    Planned("H4a", "H4a", "symptoms", "secondary", "symptoms_next", symptoms.DYNAMIC_MODEL,
            N_("next symptoms on alliance (within and between patients)"),
            ("alliance_within", "alliance_between")),
    Planned("H4b", "H4b", "symptoms", "exploratory", "alliance_next", symptoms.DYNAMIC_MODEL,
            N_("next alliance on symptom change (within and between patients)"),
            ("symptom_improvement_within", "symptom_improvement_between")),
    Planned("H4c", "H4c", dynamics.FAMILY, "secondary", "symptoms_and_alliance", dynamics.MODEL,
            N_("reciprocal within-patient dynamics of alliance and symptoms (RI-CLPM)")),
    *(planned for outcome, spec in dimensions.OUTCOMES.items() for planned in _dimensions(outcome, spec)),
]
BY_KEY = {planned.key: planned for planned in PLANNED}
PRIMARY_KEYS = [planned.key for planned in PLANNED if planned.analysis == "primary"]


SENSITIVITY_OF = {"attendance": ("H1", "adherence"), "dropout": ("H2", "dropout"),
                  "satisfaction": ("H3", "satisfaction")}
PRIMARY_REFERENCE = "complete cases (primary)"  # the sensitivity table's copy of the primary row


def status_table(results: list[dict], sensitivity: pd.DataFrame | None = None,
                 sensitivity_summary: dict | None = None) -> pd.DataFrame:
    """One row per planned model (in the plan's order) with the status and reason its family recorded,
    then one per sensitivity analysis of a primary effect (its rows in `sensitivity` are fitted; the
    `failures` of `sensitivity_summary` carry their own status and reason). A planned model no family
    recorded, one recorded twice, or an unknown key is a bug (ValueError)."""
    recorded: dict[str, dict] = {}
    for result in results:
        for status in result["statuses"]:
            if status["key"] not in BY_KEY or status["key"] in recorded:
                raise ValueError(f"status of '{status['key']}' unknown to the plan or recorded twice")
            recorded[status["key"]] = status
    missing = [key for key in BY_KEY if key not in recorded]
    if missing:
        raise ValueError(f"no status recorded for the planned models {', '.join(missing)}")
    rows = [{**{k: getattr(planned, k) for k in STATUS_COLUMNS[:7]},
             **{k: recorded[planned.key][k] for k in ("status", "reason", "flags")},
             "reason_message": message_text(recorded[planned.key].get("reason_message")),
             "flags_message": message_text(recorded[planned.key].get("flags_message"))}
            for planned in PLANNED]
    flags = (sensitivity_summary or {}).get("flags", {})  # by "<variant> / <outcome>", as the fits set them
    messages = (sensitivity_summary or {}).get("flags_message", {})
    done = [] if sensitivity is None else [
        {"outcome": row["outcome"], "model": row["model"], "variant": row["variant"], "status": "fitted",
         "reason": "", "flags": flags.get(f"{row['variant']} / {row['outcome']}", ""),
         "flags_message": messages.get(f"{row['variant']} / {row['outcome']}")}
        for _, row in sensitivity.iterrows() if row["variant"] != PRIMARY_REFERENCE]
    failed = [] if sensitivity_summary is None else sensitivity_summary.get("failures", [])
    for item in [*done, *failed]:
        hypothesis, family = SENSITIVITY_OF[item["outcome"]]
        rows.append({"key": f"{hypothesis}: {item['variant']}", "hypothesis": hypothesis, "family": family,
                     "analysis": "sensitivity", "outcome": item["outcome"], "model": item["model"],
                     "title": f"sensitivity analysis: {item['variant']}", "status": item["status"],
                     "reason": item["reason"], "flags": item.get("flags", ""),
                     "reason_message": message_text(item.get("reason_message")),
                     "flags_message": message_text(item.get("flags_message"))})
    table = pd.DataFrame(rows, columns=STATUS_COLUMNS)
    order = {key: i for i, key in enumerate(BY_KEY)}
    rank = table["hypothesis"].map({p.hypothesis: order[p.key] for p in reversed(PLANNED)})
    return table.assign(_rank=rank).sort_values("_rank", kind="stable").drop(columns="_rank").reset_index(
        drop=True)


def effect_status(status: pd.DataFrame, row: pd.Series | dict) -> pd.Series | None:
    """The status row of the planned model an effect row comes from (same outcome, model and analysis:
    the per-discipline rows are their moderation model's), or None when no planned model matches."""
    match = status[(status["outcome"] == row["outcome"]) & (status["model"] == row["model"])
                   & (status["analysis"] == row["analysis"])]
    return None if match.empty else match.iloc[0]

